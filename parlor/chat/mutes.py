"""Muted conversations: a person's pages neither notify nor sound for a muted peer's messages
(which still arrive and count as unread). A Redis set per person, and its reverse, so that an
account that leaves is taken out of everyone's."""
from __future__ import annotations

from typing import Awaitable, Callable

import redis.asyncio as aioredis

from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused

MAX_MUTES = 10_000  # peers one person mutes at most: a set per person stays small


def mutes_key(user: str) -> str:
    return f"muted:{user}"  # set: the peers `user` muted


def muted_by_key(user: str) -> str:
    return f"muted-by:{user}"  # set: those who muted `user`


class Mutes:
    """Who muted whom. `on_change(user, muted)` is told each change, with everyone `user` mutes
    now (the live wing tells their open pages)."""

    def __init__(self, redis: aioredis.Redis, on_change: Callable[[str, set[str]], Awaitable[None]]):
        self._redis = redis
        self._on_change = on_change

    async def set(self, me: str, peer: str, muted: bool) -> None:
        """`me` mutes `peer`, or unmutes them."""
        if muted and await self._redis.scard(mutes_key(me)) >= MAX_MUTES:
            raise Refused("conflict", f"You have muted {MAX_MUTES} people, the most there can be. Unmute someone first.")
        async with self._redis.pipeline(transaction=True) as pipe:
            if muted:
                pipe.sadd(mutes_key(me), peer)
                pipe.sadd(muted_by_key(peer), me)
            else:
                pipe.srem(mutes_key(me), peer)
                pipe.srem(muted_by_key(peer), me)
            pipe.smembers(mutes_key(me))
            *_, now = await pipe.execute()
        await self._on_change(me, now)

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its mutes, and everyone's mute of it."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.smembers(mutes_key(user))
            pipe.smembers(muted_by_key(user))
            muted, muted_by = await pipe.execute()
        async with self._redis.pipeline(transaction=True) as pipe:
            for peer in muted:
                pipe.srem(muted_by_key(peer), user)
            for other in muted_by:
                pipe.srem(mutes_key(other), user)
            pipe.delete(mutes_key(user), muted_by_key(user))
            await pipe.execute()
