"""Server-side sessions in Redis: every visitor, guest or signed in, has one."""
from __future__ import annotations

import secrets
import time

import redis.asyncio as aioredis

SESSION_TTL_S = 30 * 24 * 3600  # a month without a visit ends a session
SESSION_ID_BYTES = 32  # 256 random bits: not guessable


def session_key(session_id: str) -> str:
    return f"session:{session_id}"


class Sessions:
    """Create, load, rotate and end sessions; a session is a small Redis hash with a TTL."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis

    async def load(self, session_id: str) -> dict[str, str] | None:
        """The session's data, its lifetime renewed; None if it does not exist (or expired)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(session_key(session_id))
            pipe.expire(session_key(session_id), SESSION_TTL_S)
            data, _ = await pipe.execute()
        return data or None

    async def create(self, **data: str) -> tuple[str, dict[str, str]]:
        """A new guest session; `player` is the id its games are bound to, kept across login."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        fields = {"player": secrets.token_urlsafe(12), "created_at": str(int(time.time())), **data}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key(session_id), mapping=fields)
            pipe.expire(session_key(session_id), SESSION_TTL_S)
            await pipe.execute()
        return session_id, fields

    async def rotate(self, old_id: str | None, **changes: str) -> tuple[str, dict[str, str]]:
        """Replace a session by one with a new id (stops fixation), keeping its data plus changes."""
        old = (await self._redis.hgetall(session_key(old_id))) if old_id else {}
        new_id, data = await self.create(**{**old, **changes})
        if old_id:
            await self._redis.delete(session_key(old_id))
        return new_id, data

    async def end(self, session_id: str) -> None:
        await self._redis.delete(session_key(session_id))
