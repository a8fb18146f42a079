"""Blocking and rate limits: what refuses an action before anything of it is stored.

A rate limit is a token bucket kept as one timestamp per key (GCRA), in Redis, so every process
counts together: `count` actions at once, then one more every `seconds / count`. The key expires
when its bucket is full again, so idle users cost nothing. A chat send checks the blocks and its
limits (messages, a new conversation, a picture) in one script: one round trip, and either every
bucket is charged or none is.

Blocks are two sets per user: `blocks:<user>` (whom they blocked) and `blocked-by:<user>` (who
blocked them, so a page can hide the presence of everyone who blocked its viewer in one read).

A suspended account (parlor/accounts/suspensions.py keeps `suspended`, user -> until when) neither sends
nor is sent anything: the same script refuses both.
"""
from __future__ import annotations

import ipaddress
import math

import redis.asyncio as aioredis

from parlor.infra.batching import Batcher
from parlor.infra.config import NO_LIMIT, Rate
from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused

MAX_BLOCKS = 1000  # people one user may block; a longer list is not read by anyone
IPV6_GROUP_BITS = 64  # one IPv6 subscriber gets a /64 at least: its addresses count as one
UNDELIVERABLE = "Your message could not be delivered."  # the same words whatever the reason
SUSPENDED_KEY = "suspended"  # sorted set: suspended user -> the ms their suspension ends at

def blocks_key(user: str) -> str:
    return f"blocks:{user}"  # set: the people `user` blocked


def blocked_by_key(user: str) -> str:
    return f"blocked-by:{user}"  # set: the people who blocked `user`


def bucket_key(limit: str, who: str) -> str:
    return f"rate:{limit}:{who}"


def address_group(address: str) -> str:
    """The address that counts for per-address limits and guest entries: an IPv4 address as it
    is, an IPv6 address as its /64 (one subscriber can rotate through a /64 at will, and would
    otherwise be a new address every time)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_GROUP_BITS}", strict=False))
    return str(ip)


def wait_words(seconds: int) -> str:
    """A wait as people say it: "3 seconds", "1 minute", "12 minutes"."""
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


# What each limit says to the person over it (the wait is filled in).
LIMIT_MESSAGES = {
    "messages": "You are sending messages too fast. Wait {wait} and send it again.",
    "conversations": "You have started too many new conversations. Try again in {wait}.",
    "images": "You are sending too many pictures. Wait {wait} and send it again.",
    "signups": "Too many accounts were made from your address. Try again in {wait}.",
    "logins": "Too many password tries from your address. Try again in {wait}.",
    "guesses": "Too many guesses at once. Wait {wait} and guess again.",
    "games": "You are starting games too fast. Wait {wait} and start one again.",
    "game_addresses": "Too many games were started from your address. Try again in {wait}.",
    "reports": "You have sent many reports in a short time. Try again in {wait}.",
    "guest_names": "Too many names were refused from your address. Try again in {wait}.",
    "exports": "You have downloaded your data several times already. Try again in {wait}.",
    "searches": "You are searching all your conversations too often. Try again in {wait}.",
}
SEND_LIMITS = {3: "messages", 4: "conversations", 5: "images"}  # lua/check_sends.lua's codes
GAME_LIMITS = {1: "game_addresses", 2: "games"}  # lua/check_game.lua's codes


def over_limit(limit: str, wait_ms: int) -> Refused:
    """The refusal of an action over `limit`, saying how long to wait (at least a second)."""
    seconds = max(1, math.ceil(wait_ms / 1000))
    return Refused("too_many", LIMIT_MESSAGES[limit].format(wait=wait_words(seconds)), seconds)


LIMITS = ("messages", "conversations", "images", "signups", "logins", "guesses", "games", "game_addresses",
          "reports", "guest_names", "exports", "searches")
# counted per user (the rest: per address, game, entry)
USER_LIMITS = ("messages", "conversations", "images", "reports", "exports", "searches")


class Safety:
    """Blocks between users and the rate limits of every action that has one."""

    def __init__(self, redis: aioredis.Redis, limits: dict[str, Rate]):
        self._redis = redis
        self.limits = limits  # by the names in LIMITS (Config.rate_limits)
        self._scripts = register_scripts(redis, __package__, "check_sends", "check_game", "hit", "room", "block",
                                         "forget_blocks")
        # What many sends ask at once goes in one round trip (see parlor/infra/batching.py).
        self._send_checks: Batcher[tuple, list[int]] = Batcher(self._check_batch)

    @classmethod
    def unlimited(cls, redis: aioredis.Redis) -> "Safety":
        """Blocks, and no rate limit: for the console and tools that act as no visitor does."""
        return cls(redis, dict.fromkeys(LIMITS, NO_LIMIT))

    def _rate_args(self, limit: str) -> list[int]:
        rate = self.limits[limit]
        return [rate.count, rate.seconds * 1000]

    # -- rate limits -----------------------------------------------------------------------

    async def check_send(self, me: str, peer: str, picture: bool, conversations_key: str, message: bool = True,
                         account_keys: tuple[str, str | None] | None = None) -> None:
        """Refuse a message from `me` to `peer` if either account is gone (`account_keys`: the
        keys of both accounts, the peer's None for ELIZA; None: not asked), if either blocked the other, or
        if it is over `me`'s limits (messages; a new conversation, which `conversations_key` not
        listing `peer` means; pictures); otherwise count it. One round trip, shared with the sends
        checked at the same time. message=False: a conversation made without a message, checked
        and counted as its first message would be, but for the message itself."""
        code, wait_ms = await self._send_checks.submit((me, peer, picture, conversations_key, account_keys or (), message))
        if code == 1:  # the peer blocked me, or is gone: said the same way as any failure, so it stays private
            raise Refused("forbidden", UNDELIVERABLE)
        if code == 2:
            raise Refused("forbidden", f"You blocked {peer}. Unblock them to send a message.")
        if code == 6:
            raise Refused("forbidden", f"{peer} is suspended: nothing can be sent to them until the suspension ends.")
        if code == 7:
            raise Refused("forbidden", "Your account is suspended.")
        if code in SEND_LIMITS:
            raise over_limit(SEND_LIMITS[code], wait_ms)

    async def _check_batch(self, sends: list[tuple]) -> list[list[int]]:
        keys, args = [], [*self._rate_args("messages"), *self._rate_args("conversations"), *self._rate_args("images")]
        for me, peer, picture, conversations_key, accounts, message in sends:
            asked = [key for key in accounts if key is not None]  # mine first
            keys += [blocks_key(peer), blocks_key(me), conversations_key, bucket_key("messages", me),
                     bucket_key("conversations", me), bucket_key("images", me), SUSPENDED_KEY,
                     *(asked + [conversations_key] * 2)[:2]]  # unasked: any key, never read
            args += [me, peer, 1 if picture else 0, 1 if message else 0, len(asked)]
        return await self._scripts.check_sends(keys=keys, args=args)

    async def check_game_start(self, address: str, visitor: str | None) -> None:
        """Refuse a game start over the limit of its address (address_group) or of its visitor
        (a session's player or a user; None: no session yet, so a new one), else count it in
        both. Unlimited game starts cost Redis memory (a session and a game each) and flood the
        boards with games."""
        if self.limits["game_addresses"].unlimited and (visitor is None or self.limits["games"].unlimited):
            return
        code, wait_ms = await self._scripts.check_game(
            keys=[bucket_key("game_addresses", address), bucket_key("games", visitor or "-")],
            args=[*self._rate_args("game_addresses"), *self._rate_args("games"), 1 if visitor else 0])
        if code in GAME_LIMITS:
            raise over_limit(GAME_LIMITS[code], wait_ms)

    async def hit(self, limit: str, who: str) -> None:
        """Count one action of `who` against a limit, or raise Refused (too_many) when over it."""
        if self.limits[limit].unlimited:
            return
        wait_ms = await self._scripts.hit(keys=[bucket_key(limit, who)], args=self._rate_args(limit))
        if wait_ms:  # 0: counted
            raise over_limit(limit, wait_ms)

    async def room(self, limit: str, who: str) -> None:
        """Refused (too_many) when one more action of `who` would be over a limit; nothing is
        counted (for a limit that counts only refusals: Safety.hit counts those)."""
        if self.limits[limit].unlimited:
            return
        wait_ms = await self._scripts.room(keys=[bucket_key(limit, who)], args=self._rate_args(limit))
        if wait_ms > 0:
            raise over_limit(limit, wait_ms)

    # -- blocks ----------------------------------------------------------------------------

    async def block(self, me: str, peer: str) -> None:
        """`me` blocks `peer` (already blocked: nothing changes)."""
        result = await self._scripts.block(keys=[blocks_key(me), blocked_by_key(peer)], args=[me, peer, MAX_BLOCKS])
        if result == -1:
            raise Refused("conflict",
                          f"You have blocked {MAX_BLOCKS} people, the most there can be. Unblock someone first.")

    async def unblock(self, me: str, peer: str) -> bool:
        """`me` unblocks `peer`; False if they had not blocked them."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(blocks_key(me), peer)
            pipe.srem(blocked_by_key(peer), me)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def blocked(self, me: str) -> list[str]:
        """The people `me` blocked, sorted."""
        return sorted(await self._redis.smembers(blocks_key(me)))

    async def has_blocked(self, me: str, peer: str) -> bool:
        return bool(await self._redis.sismember(blocks_key(me), peer))

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """Remove `user` from every block, either way, and drop their rate buckets (their account
        is gone: a later account with the same name is someone else)."""
        await self._scripts.forget_blocks(keys=[blocks_key(user), blocked_by_key(user)],
                           args=[user, blocks_key(""), blocked_by_key("")])
        await self._redis.delete(*(bucket_key(limit, user) for limit in USER_LIMITS))
