"""This process's one pub/sub subscription: notices from any process (events for users it holds,
presence, typing, sign-outs, board changes) reach the local handler of their channel."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import redis
import redis.asyncio as aioredis

log = logging.getLogger("parlor.listener")

LISTEN_POLL_S = 1.0  # how long one wait for a pub/sub message lasts before waiting again
PUBSUB_QUIET_S = 10.0  # after this long without a message, ping the subscription ...
PUBSUB_PING_TIMEOUT_S = 5.0  # ... and give up on it (and on caches it feeds) without an answer
RESUBSCRIBE_DELAY_S = 0.5  # pause before subscribing again after losing Redis


class Subscribed:
    """Whether notices arrive now: a cache that notices keep fresh may hold anything only while
    this is True. The Listener sets it; caches read it."""

    def __init__(self):
        self.now = False


class Listener:
    """Subscribes once, and again after losing Redis; hands each notice to its channel's handler.

    While the subscription is down, notices can be missed, so on every (re)subscribe
    `on_resubscribe` runs first: caches that rely on notices must forget what they hold.
    """

    def __init__(self, redis: aioredis.Redis, handlers: dict[str, Callable[[str], Awaitable[None]]],
                 on_resubscribe: Callable[[], None], subscribed: Subscribed | None = None):
        self._redis = redis
        self._handlers = handlers
        self._on_resubscribe = on_resubscribe
        self._task: asyncio.Task | None = None
        self.state = subscribed or Subscribed()

    @property
    def subscribed(self) -> bool:
        """Whether notices arrive now (see Subscribed)."""
        return self.state.now

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
                self.state.now = True
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError, TimeoutError) as e:
                log.warning("pub/sub lost (%s); subscribing again", e)
            finally:
                self.state.now = False
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
