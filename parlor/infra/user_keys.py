"""The Redis keys of a user that are only found by looking (one per pair, per address, per
peer): when an account is deleted, each store names the patterns of its own such keys, and one
SCAN finds them all, however many stores ask."""
from __future__ import annotations

import fnmatch

import redis.asyncio as aioredis

SCAN_BATCH = 1000  # keys Redis looks at per SCAN call (never blocks it for long)


class KeysNaming:
    """The keys whose names hold `user`'s name, read by one SCAN at the first question."""

    def __init__(self, redis: aioredis.Redis, user: str):
        self._redis = redis
        self._user = user
        self._found: list[str] | None = None

    async def delete_matching(self, *patterns: str) -> None:
        """Delete the user's keys that match any of these glob patterns."""
        if self._found is None:
            self._found = [key async for key in self._redis.scan_iter(match=f"*{self._user}*", count=SCAN_BATCH)]
        matching = [key for key in self._found if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)]
        if matching:
            await self._redis.delete(*matching)
