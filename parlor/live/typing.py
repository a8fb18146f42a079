"""Typing notices: "who is typing to whom", published at most every TYPING_EVERY_MS a typist and
never between two people when either blocked the other (one script, parlor/live/lua/typing.lua);
the hub shows them on the peer's open pages. Only the throttle is stored, for that long."""
from __future__ import annotations

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.safety import blocks_key

TYPING_CHANNEL = "parlor:typing"  # "<who>\n<to whom>"; never stored
TYPING_EVERY_MS = 2500  # a typist's notices are forwarded at most this often (the page sends every 3 s)


def typing_key(who: str, to: str) -> str:
    return f"typing:{who}:{to}"  # set for TYPING_EVERY_MS after each notice forwarded


class TypingNotices:
    """Publishes typing notices for every process, throttled in Redis."""

    def __init__(self, redis: aioredis.Redis):
        self._scripts = register_scripts(redis, __package__, "typing")

    async def notify(self, who: str, to: str) -> None:
        """Tell `to`'s open pages that `who` is typing (at most every TYPING_EVERY_MS), unless
        either of them blocked the other."""
        await self._scripts.typing(keys=[typing_key(who, to), blocks_key(who), blocks_key(to)],
                                   args=[who, to, TYPING_EVERY_MS, TYPING_CHANNEL])

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: so are its throttles, either way."""
        await keys.delete_matching(typing_key(user, "*"), typing_key("*", user))
