"""Who is online, across every process that shares the Redis.

Each process keeps, per user it holds connections of, a heartbeat in `presence:<user>` (a sorted
set: process id -> when that process's claim lapses, unix ms) and a count of those connections in
`conns:<user>` (a hash: process id -> count). `online` (user -> latest lapse) is what pages count.
A process renews its claims every few seconds; a process that dies stops renewing, so its users
drop off within PRESENCE_TTL_S. Going online or offline is published on PRESENCE_CHANNEL as
"<user>\\n1" or "<user>\\n0", once, by whichever process saw the change.
"""
from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.safety import blocked_by_key

ONLINE_KEY = "online"
PRESENCE_CHANNEL = "parlor:presence"
PRESENCE_TTL_S = 15  # a killed process's users go offline within this (plus one sweep)
RENEW_CHUNK = 500  # users renewed per script call, so Redis is never blocked for long
LEAVE_CHUNK = 500  # leaves sent in one pipeline at shutdown


def presence_key(user: str) -> str:
    return f"presence:{user}"


def conns_key(user: str) -> str:
    return f"conns:{user}"


def _ms(seconds_from_now: float = 0.0) -> int:
    return int((time.time() + seconds_from_now) * 1000)


class Presence:
    """This process's claims on users being online, and the shared count."""

    def __init__(self, redis: aioredis.Redis, max_connections: int):
        self._redis = redis
        self.process = uuid.uuid4().hex[:12]
        self.max_connections = max_connections
        self._scripts = register_scripts(redis, __package__, "presence_join", "presence_leave", "presence_renew",
                                         "presence_sweep")

    async def join(self, user: str) -> bool:
        """Count one more connection of `user`; False (nothing counted) when they have the most
        connections allowed, on all processes together."""
        result = await self._scripts.presence_join(
            keys=[presence_key(user), conns_key(user), ONLINE_KEY],
            args=[self.process, _ms(PRESENCE_TTL_S), _ms(), self.max_connections, user, PRESENCE_CHANNEL,
                  PRESENCE_TTL_S * 4])
        return result != -1

    async def leave(self, user: str, linger: bool = False) -> None:
        await self._scripts.presence_leave(keys=[presence_key(user), conns_key(user), ONLINE_KEY],
                                           args=[self.process, _ms(), user, PRESENCE_CHANNEL, 1 if linger else 0])

    async def leave_many(self, leaving: list[tuple[str, bool]]) -> None:
        """Many (user, linger) leaves, as a shutting-down process drops its connections:
        LEAVE_CHUNK to a round trip (and to one fsync of Redis's log), not one each."""
        for start in range(0, len(leaving), LEAVE_CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for user, linger in leaving[start:start + LEAVE_CHUNK]:
                    await self._scripts.presence_leave(
                        keys=[presence_key(user), conns_key(user), ONLINE_KEY],
                        args=[self.process, _ms(), user, PRESENCE_CHANNEL, 1 if linger else 0], client=pipe)
                await pipe.execute()

    async def renew(self, users: list[str]) -> set[str]:
        """Renew this process's claims on its users being online; returns those whose claim had
        lapsed (a stall longer than PRESENCE_TTL_S)."""
        lapsed: set[str] = set()
        for start in range(0, len(users), RENEW_CHUNK):
            chunk = users[start:start + RENEW_CHUNK]
            keys = [ONLINE_KEY]
            args = [self.process, _ms(PRESENCE_TTL_S), PRESENCE_TTL_S * 4, _ms(), PRESENCE_CHANNEL]
            for user in chunk:
                keys += [presence_key(user), conns_key(user)]
                args.append(user)
            lapsed.update(await self._scripts.presence_renew(keys=keys, args=args))
        return lapsed

    async def sweep(self) -> int:
        """Take lapsed users offline; returns how many are online."""
        return await self._scripts.presence_sweep(keys=[ONLINE_KEY], args=[_ms(), PRESENCE_CHANNEL])

    async def online(self, users: list[str], viewer: str | None = None) -> set[str]:
        """Which of these users are online (on any process); with a viewer, those who blocked
        the viewer never are."""
        if not users:
            return set()
        if viewer is None:
            lapses, hidden = await self._redis.zmscore(ONLINE_KEY, users), ()
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zmscore(ONLINE_KEY, users)
                pipe.smembers(blocked_by_key(viewer))
                lapses, hidden = await pipe.execute()
        now_ms = _ms()
        return {user for user, lapse in zip(users, lapses, strict=True)
                if lapse is not None and lapse > now_ms and user not in hidden}

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its claims and its place in the online count go."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(presence_key(user), conns_key(user))
            pipe.zrem(ONLINE_KEY, user)
            await pipe.execute()
