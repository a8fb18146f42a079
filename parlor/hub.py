"""Live connections: the one place that knows sockets, public topics and each user's room.

A connection is anything with `send(text)` and `close(code, reason)`. Anyone's connection gets
public topics (the online count, leaderboards); a signed-in user's connections also form that
user's room, and only they get that user's personal events. Who is online is kept in Redis, so
every process that shares the Redis counts the same people.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Protocol

import redis
import redis.asyncio as aioredis

log = logging.getLogger("parlor.hub")

ONLINE_KEY = "online"  # sorted set: username -> when their presence lapses (unix ms)
ONLINE_TTL_S = 15  # a user whose process died drops off the count within this
HEARTBEAT_EVERY_S = 5  # how often a process renews the presence of its connected users
LISTEN_POLL_S = 1.0  # how long one wait for a pub/sub message lasts before waiting again
PUBSUB_QUIET_S = 10.0  # after this long without a message, ping the subscription ...
PUBSUB_PING_TIMEOUT_S = 5.0  # ... and give up on it (and on caches it feeds) without an answer
RESUBSCRIBE_DELAY_S = 0.5  # pause before subscribing again after losing Redis


class Connection(Protocol):
    def send(self, text: str) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Hub:
    """Local connections and their rooms; pushes fragments to them; counts users online."""

    def __init__(self, redis: aioredis.Redis, render_online: Callable[[int], str]):
        self._redis = redis
        self._render_online = render_online
        self._public: set[Connection] = set()
        self._rooms: dict[str, set[Connection]] = {}
        self._user_of: dict[Connection, str] = {}
        self._topics: dict[str, set[Connection]] = {}
        self._topics_of: dict[Connection, set[str]] = {}
        self._last_heartbeat = 0.0
        self.online_count = 0  # as last counted; pages render it without asking Redis

    async def join(self, connection: Connection, user: str | None, topics: tuple[str, ...] = ()) -> None:
        """Add a connection to the public feed, the topics its page shows and, for a signed-in
        user, to their room."""
        self._public.add(connection)
        for topic in topics:
            self._topics.setdefault(topic, set()).add(connection)
        if topics:
            self._topics_of[connection] = set(topics)
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
        for topic in self._topics_of.pop(connection, ()):
            subscribers = self._topics.get(topic)
            if subscribers is not None:
                subscribers.discard(connection)
                if not subscribers:
                    del self._topics[topic]
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

    def close_all(self, code: int, reason: str) -> None:
        """Close every local connection (on shutdown: 1012, so clients reconnect elsewhere)."""
        for connection in list(self._public):
            connection.close(code, reason)

    def has_user(self, user: str) -> bool:
        """Whether this process holds a connection of that user."""
        return user in self._rooms

    async def online(self, users: list[str]) -> set[str]:
        """Which of these users are online (on any process)."""
        if not users:
            return set()
        lapses = await self._redis.zmscore(ONLINE_KEY, users)
        now_ms = time.time() * 1000
        return {user for user, lapse in zip(users, lapses, strict=True) if lapse is not None and lapse > now_ms}

    def has_topic(self, topic: str) -> bool:
        return topic in self._topics

    def send_topic(self, topic: str, fragment: str) -> int:
        """Push a fragment to every local connection whose page shows this topic."""
        subscribers = self._topics.get(topic, ())
        for connection in list(subscribers):
            connection.send(fragment)
        return len(subscribers)

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


class Listener:
    """This process's one pub/sub subscription: notices from any process reach local handlers.

    While the subscription is down, notices can be missed, so on every (re)subscribe
    `on_resubscribe` runs first: caches that rely on notices must forget what they hold.
    """

    def __init__(self, redis: aioredis.Redis, handlers: dict[str, Callable[[str], Awaitable[None]]],
                 on_resubscribe: Callable[[], None]):
        self._redis = redis
        self._handlers = handlers
        self._on_resubscribe = on_resubscribe
        self._task: asyncio.Task | None = None
        self.subscribed = False  # caches may trust notices only while this is True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(*self._handlers)
                await self._confirmed(pubsub)
                self._on_resubscribe()  # notices may have been missed while we were away
                self.subscribed = True
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError, TimeoutError) as e:
                log.warning("pub/sub lost (%s); subscribing again", e)
            finally:
                self.subscribed = False
                try:
                    await pubsub.aclose()
                except (redis.RedisError, OSError):
                    pass
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def _confirmed(self, pubsub) -> None:
        """Wait until Redis confirms every subscription: only then can notices be trusted."""
        waiting = set(self._handlers)
        deadline = time.monotonic() + PUBSUB_PING_TIMEOUT_S
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError("Redis did not confirm the subscription")
            message = await pubsub.get_message(timeout=LISTEN_POLL_S)
            if message and message["type"] == "subscribe":
                waiting.discard(message["channel"])

    async def _listen(self, pubsub) -> None:
        """Hand notices to their handlers; ping when quiet, so a dead connection is noticed."""
        last_heard = time.monotonic()
        pinged_at = None
        while True:
            # An explicit timeout: the client's socket_timeout would end a quiet subscription.
            message = await pubsub.get_message(timeout=LISTEN_POLL_S)
            now = time.monotonic()
            if message is not None:
                last_heard, pinged_at = now, None
                if message["type"] == "message":
                    await self._dispatch(message["channel"], message["data"])
            elif pinged_at is not None and now - pinged_at > PUBSUB_PING_TIMEOUT_S:
                raise TimeoutError("no answer to a pub/sub ping")
            elif pinged_at is None and now - last_heard > PUBSUB_QUIET_S:
                await pubsub.ping()
                pinged_at = now

    async def _dispatch(self, channel: str, data: str) -> None:
        try:
            await self._handlers[channel](data)
        except (redis.RedisError, OSError) as e:
            log.warning("handling a notice on %s failed: %s", channel, e)
            self._on_resubscribe()  # whatever it was caching may now be stale
        except Exception:
            log.exception("handling a notice on %s failed", channel)
