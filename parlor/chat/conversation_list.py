"""The conversation list: who each person talks to, newest first (a Redis sorted set per user),
and a line of the list as pages show it."""
from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from parlor.chat.pair_file import Message
from parlor.safety import blocks_key


@dataclass(frozen=True)
class Summary:
    """A line of the conversation list."""

    peer: str
    last: Message | None
    unread: int


def conversations_key(user: str) -> str:
    return f"conversations:{user}"  # sorted set: peer -> last message time (ms)


async def conversation_peers(redis: aioredis.Redis, user: str, limit: int) -> list[str]:
    """The people `user` has conversations with, newest first, except those `user` blocked (who
    are shown neither the conversation nor `user`'s presence)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrevrange(conversations_key(user), 0, limit - 1)
        pipe.smembers(blocks_key(user))
        peers, blocked = await pipe.execute()
    return [peer for peer in peers if peer not in blocked] if blocked else peers
