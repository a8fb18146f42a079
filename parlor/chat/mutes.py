"""Muted conversations: a muted peer's messages still arrive and count as unread in the list, but
are left out of the person's unread total (the Chat badge and the tab's title), and their pages
neither notify nor sound for them. A mute lasts an hour, a day, or until unmuted. A Redis sorted
set per person (peer -> the ms the mute ends), and its reverse, so that an account that leaves is
taken out of everyone's."""
from __future__ import annotations

import time
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from parlor.chat.unread import unread_key
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused

MAX_MUTES = 10_000  # peers one person mutes at most: a sorted set per person stays small
UNTIL_UNMUTED_MS = 253_402_300_799_999  # the end of year 9999: "until unmuted" is a time like the others
# How long each choice mutes for, in seconds (None: until unmuted).
DURATIONS_S: dict[str, int | None] = {"hour": 3600, "day": 86400, "always": None}


def muted_key(user: str) -> str:
    return f"muted-until:{user}"  # sorted set: peer `user` muted -> the ms the mute ends


def muted_by_key(user: str) -> str:
    return f"muted-by:{user}"  # set: those who muted `user` (perhaps no longer: a mute ends by itself)


def now_ms() -> int:
    return int(time.time() * 1000)


class Mutes:
    """Who muted whom, until when. `on_change(user, muted)` is told each change, with whom `user`
    mutes now and until when (the live wing tells their open pages, with their unread total)."""

    def __init__(self, redis: aioredis.Redis, on_change: Callable[[str, dict[str, int]], Awaitable[None]]):
        self._redis = redis
        self._on_change = on_change

    async def set(self, me: str, peer: str, duration: str | None) -> None:
        """`me` mutes `peer` for a duration of DURATIONS_S (None: unmutes them)."""
        if duration is not None and duration not in DURATIONS_S:
            raise Refused("invalid", "Mute for an hour, a day, or until you unmute.")
        now = now_ms()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(muted_key(me), "-inf", now)  # mutes that ended
            pipe.zcard(muted_key(me))
            pipe.zscore(muted_key(me), peer)
            _, count, already = await pipe.execute()
        if duration is not None and already is None and count >= MAX_MUTES:
            raise Refused("conflict", f"You have muted {MAX_MUTES} people, the most there can be. Unmute someone first.")
        seconds = DURATIONS_S.get(duration) if duration else None
        async with self._redis.pipeline(transaction=True) as pipe:
            if duration is not None:
                pipe.zadd(muted_key(me), {peer: UNTIL_UNMUTED_MS if seconds is None else now + seconds * 1000})
                pipe.sadd(muted_by_key(peer), me)
            else:
                pipe.zrem(muted_key(me), peer)
                pipe.srem(muted_by_key(peer), me)
            await pipe.execute()
        await self._on_change(me, await self.muted(me))

    async def muted(self, user: str) -> dict[str, int]:
        """Whom `user` mutes now, and until when (ms; UNTIL_UNMUTED_MS: until they unmute)."""
        return (await page_state(self._redis, user))[1]

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its mutes, and everyone's mute of it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrange(muted_key(user), 0, -1)
            pipe.smembers(muted_by_key(user))
            muted, muted_by = await pipe.execute()
        async with self._redis.pipeline(transaction=True) as pipe:
            for peer in muted:
                pipe.srem(muted_by_key(peer), user)
            for other in muted_by:
                pipe.zrem(muted_key(other), user)
            pipe.delete(muted_key(user), muted_by_key(user))
            await pipe.execute()


async def page_state(redis: aioredis.Redis, user: str) -> tuple[int, dict[str, int]]:
    """What every page of `user`'s shows of chat, in one Redis call: their unread total (muted
    conversations left out), and whom they mute now, until when (ms; their pages notify nothing
    of those)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(unread_key(user))
        pipe.zrangebyscore(muted_key(user), f"({now_ms()}", "+inf", withscores=True)
        unread, muted = await pipe.execute()
    muted = {peer: int(until) for peer, until in muted}
    return sum(int(count) for peer, count in unread.items() if peer not in muted), muted
