"""Live connections: the one place that knows sockets, public topics and each user's room.

A connection is anything with `send(text)` and `close(code, reason)`. Anyone's connection gets
public topics (the online count, leaderboards); a signed-in user's connections also form that
user's room, and only they get that user's personal events. Who is online is kept in Redis, so
every process that shares the Redis counts the same people.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

import redis
import redis.asyncio as aioredis

log = logging.getLogger("parlor.hub")

ONLINE_KEY = "online"  # sorted set: username -> when their presence lapses (unix ms)
ONLINE_TTL_S = 15  # a user whose process died drops off the count within this
HEARTBEAT_EVERY_S = 5  # how often a process renews the presence of its connected users


class Connection(Protocol):
    def send(self, text: str) -> None: ...


class Hub:
    """Local connections and their rooms; pushes fragments to them; counts users online."""

    def __init__(self, redis: aioredis.Redis, render_online: Callable[[int], str]):
        self._redis = redis
        self._render_online = render_online
        self._public: set[Connection] = set()
        self._rooms: dict[str, set[Connection]] = {}
        self._user_of: dict[Connection, str] = {}
        self._last_heartbeat = 0.0
        self.online_count = 0  # as last counted; pages render it without asking Redis

    @property
    def connection_count(self) -> int:
        return len(self._public)

    async def join(self, connection: Connection, user: str | None) -> None:
        """Add a connection to the public topics and, for a signed-in user, to their room."""
        self._public.add(connection)
        if user is None:
            return
        room = self._rooms.setdefault(user, set())
        room.add(connection)
        self._user_of[connection] = user
        if len(room) == 1:
            await self._mark_online(user, True)

    async def leave(self, connection: Connection) -> None:
        """Remove a connection everywhere; a user's last connection here takes them offline."""
        self._public.discard(connection)
        user = self._user_of.pop(connection, None)
        if user is None:
            return
        room = self._rooms.get(user)
        if room is not None:
            room.discard(connection)
            if not room:
                del self._rooms[user]
                # Another process holding a connection of theirs puts them back at its heartbeat.
                await self._mark_online(user, False)

    async def _mark_online(self, user: str, online: bool) -> None:
        try:
            if online:
                await self._redis.zadd(ONLINE_KEY, {user: _lapse_ms()})
            else:
                await self._redis.zrem(ONLINE_KEY, user)
        except (redis.RedisError, OSError) as e:
            # The socket still works; the next heartbeat puts presence right.
            self._last_heartbeat = 0.0
            log.warning("presence of %s not updated: %s", user, e)

    def send_public(self, fragment: str) -> int:
        """Push a fragment to every local connection; returns how many it went to."""
        for connection in list(self._public):
            connection.send(fragment)
        return len(self._public)

    def send_to_user(self, user: str, fragment: str) -> int:
        """Push a fragment to every local connection of one user."""
        room = self._rooms.get(user, ())
        for connection in list(room):
            connection.send(fragment)
        return len(room)

    async def tick(self) -> None:
        """Once a second: renew presence, count users online, push the count if it changed."""
        try:
            now = time.time()
            async with self._redis.pipeline(transaction=False) as pipe:
                if self._rooms and now - self._last_heartbeat >= HEARTBEAT_EVERY_S:
                    pipe.zadd(ONLINE_KEY, {user: _lapse_ms() for user in self._rooms})
                    self._last_heartbeat = now
                pipe.zremrangebyscore(ONLINE_KEY, "-inf", int(now * 1000))
                pipe.zcard(ONLINE_KEY)
                results = await pipe.execute()
        except (redis.RedisError, OSError) as e:
            log.warning("presence tick skipped: %s", e)
            return
        count = results[-1]
        if count != self.online_count:
            self.online_count = count
            if self._public:
                self.send_public(self._render_online(count))  # rendered once, sent to all


def _lapse_ms() -> int:
    return int((time.time() + ONLINE_TTL_S) * 1000)
