"""Every account, newest first or by a name's prefix: what the admins' account list reads
(the scripts that make and remove an account keep the two sorted sets, usernames.py names them)."""
from __future__ import annotations

from datetime import datetime, timezone

import redis.asyncio as aioredis

from parlor.accounts.usernames import ACCOUNTS_BY_AGE_KEY, ACCOUNTS_BY_NAME_KEY, USERNAME_RE, user_key

MAX_PREFIX_MATCHES = 1000  # accounts a prefix search sorts by age at most; type more of the name for the rest
INDEX_BATCH = 500  # accounts indexed per round trip at start


def made_at(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


class Directory:
    """Pages of account names with when each was made."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis

    async def newest(self, offset: int, count: int) -> tuple[list[tuple[str, datetime]], int]:
        """The accounts from offset on, newest first, and how many there are."""
        async with self._redis.pipeline(transaction=False) as read:
            read.zrevrange(ACCOUNTS_BY_AGE_KEY, offset, offset + count - 1, withscores=True)
            read.zcard(ACCOUNTS_BY_AGE_KEY)
            rows, total = await read.execute()
        return [(name, made_at(ms)) for name, ms in rows], total

    async def with_prefix(self, prefix: str, offset: int, count: int) -> tuple[list[tuple[str, datetime]], int, bool]:
        """The accounts whose name starts with prefix, newest first, from offset on; how many
        matched (at most MAX_PREFIX_MATCHES), and whether there were more."""
        names = await self._redis.zrangebylex(ACCOUNTS_BY_NAME_KEY, f"[{prefix}", f"[{prefix}\xff",
                                              start=0, num=MAX_PREFIX_MATCHES + 1)
        more = len(names) > MAX_PREFIX_MATCHES
        names = names[:MAX_PREFIX_MATCHES]
        ages = await self._redis.zmscore(ACCOUNTS_BY_AGE_KEY, names) if names else []
        # Newest first, as ZREVRANGE orders them: equal times by name, the last first.
        rows = sorted(((name, ms or 0) for name, ms in zip(names, ages)), key=lambda row: (row[1], row[0]), reverse=True)
        return [(name, made_at(ms)) for name, ms in rows[offset:offset + count]], len(rows), more

    async def index_all(self) -> int:
        """List every account made before the list was kept; how many were added. Safe to run at
        every start, by every process (ZADD NX)."""
        added, batch = 0, []
        async for key in self._redis.scan_iter(match=user_key("*"), count=1000):
            name = key.split(":", 1)[1]
            if USERNAME_RE.fullmatch(name):
                batch.append(name)
            if len(batch) >= INDEX_BATCH:
                added += await self._index(batch)
                batch = []
        return added + (await self._index(batch) if batch else 0)

    async def _index(self, names: list[str]) -> int:
        async with self._redis.pipeline(transaction=False) as read:
            for name in names:
                read.hget(user_key(name), "created_at")
            created = await read.execute()
        async with self._redis.pipeline(transaction=False) as write:
            for name, seconds in zip(names, created):
                if seconds is None:  # deleted meanwhile
                    continue
                write.zadd(ACCOUNTS_BY_AGE_KEY, {name: int(seconds or 0) * 1000}, nx=True)
                write.zadd(ACCOUNTS_BY_NAME_KEY, {name: 0}, nx=True)
            added = await write.execute()
        return sum(added[::2])
