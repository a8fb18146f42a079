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
from parlor.refusals import Refused

MAX_BLOCKS = 1000  # people one user may block; a longer list is not read by anyone
IPV6_GROUP_BITS = 64  # one IPv6 subscriber gets a /64 at least: its addresses count as one
UNDELIVERABLE = "Your message could not be delivered."  # the same words whatever the reason
SUSPENDED_KEY = "suspended"  # sorted set: suspended user -> the ms their suspension ends at

# Shared by every script that charges a bucket: `now` from Redis's own clock (one clock for all
# processes), `bucket` answers whether one more action fits, `charge` records it.
GCRA_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- The bucket's next theoretical arrival time if one more action fits (nil: no limit), else false
-- and the milliseconds until it would.
local function bucket(key, count, period_ms)
  count, period_ms = tonumber(count), tonumber(period_ms)
  if count <= 0 then return nil, 0 end
  local interval = math.ceil(period_ms / count)
  local tat = math.max(tonumber(redis.call('GET', key) or 0), now) + interval
  local wait = tat - interval * count - now
  if wait > 0 then return false, wait end
  return tat, 0
end
local function charge(key, tat)
  if tat then redis.call('SET', key, string.format('%d', tat), 'PX', string.format('%d', tat - now)) end
end
"""

# Several sends checked in order, each as if alone. KEYS, per send: blocks:<peer>, blocks:<me>,
# conversations:<me>, then the buckets of messages, conversations and images of <me>, then the
# suspended accounts. ARGV:
# count and period (ms) of the limits on messages, conversations and images, then per send: me,
# peer, has a picture (1/0), is a message (1/0: 0 for a conversation made without one, which the
# message limit does not count). Returns per send {code, ms to wait}: see SEND_LIMITS.
_CHECK_SENDS = GCRA_LUA + """
local message_count, message_ms, conversation_count, conversation_ms, image_count, image_ms =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local function suspended(accounts, who)
  local ends = redis.call('ZSCORE', accounts, who)
  return ends and tonumber(ends) > now
end
local function check(peer_blocks, my_blocks, my_conversations, message_bucket, conversation_bucket,
                     image_bucket, suspended_accounts, me, peer, picture, is_message)
  if suspended(suspended_accounts, me) then return {7, 0} end
  if suspended(suspended_accounts, peer) then return {6, 0} end
  if redis.call('SISMEMBER', peer_blocks, me) == 1 then return {1, 0} end
  if redis.call('SISMEMBER', my_blocks, peer) == 1 then return {2, 0} end
  local messages, wait = nil, 0
  if is_message == '1' then
    messages, wait = bucket(message_bucket, message_count, message_ms)
    if messages == false then return {3, wait} end
  end
  local conversations = nil
  if tonumber(conversation_count) > 0 and not redis.call('ZSCORE', my_conversations, peer) then
    conversations, wait = bucket(conversation_bucket, conversation_count, conversation_ms)
    if conversations == false then return {4, wait} end
  end
  local images = nil
  if picture == '1' then
    images, wait = bucket(image_bucket, image_count, image_ms)
    if images == false then return {5, wait} end
  end
  charge(message_bucket, messages)
  charge(conversation_bucket, conversations)
  charge(image_bucket, images)
  return {0, 0}
end
local verdicts = {}
for n = 0, #KEYS / 7 - 1 do
  local k, a = 7 * n, 6 + 4 * n
  verdicts[n + 1] = check(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6],
                          KEYS[k + 7], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
return verdicts
"""

# A game start: the address's bucket and the visitor's (KEYS[2], only when ARGV[5] is 1), both
# charged or neither. ARGV: count and period (ms) of the address limit, then of the visitor's.
# Returns {code, ms to wait}: 0 started, 1 the address is over its limit, 2 the visitor.
_CHECK_GAME = GCRA_LUA + """
local address, wait = bucket(KEYS[1], ARGV[1], ARGV[2])
if address == false then return {1, wait} end
local visitor = nil
if ARGV[5] == '1' then
  visitor, wait = bucket(KEYS[2], ARGV[3], ARGV[4])
  if visitor == false then return {2, wait} end
end
charge(KEYS[1], address)
charge(KEYS[2], visitor)
return {0, 0}
"""

# One bucket. KEYS: the bucket. ARGV: count, period (ms). Returns the ms to wait (0: charged).
_HIT = GCRA_LUA + """
local tat, wait = bucket(KEYS[1], ARGV[1], ARGV[2])
if tat == false then return wait end
charge(KEYS[1], tat)
return 0
"""

# KEYS: blocks:<me>, blocked-by:<peer>. ARGV: me, peer, most blocks. 1 blocked, 0 already, -1 full.
_BLOCK = """
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then return 0 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""

# KEYS: blocks:<user>, blocked-by:<user>. ARGV: user, the key prefixes of both sets. Removes
# the user from every block in either direction (their account is gone).
_FORGET = """
for _, peer in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('SREM', ARGV[3] .. peer, ARGV[1]) end
for _, peer in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('SREM', ARGV[2] .. peer, ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[2])
return 0
"""


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
}
SEND_LIMITS = {3: "messages", 4: "conversations", 5: "images"}  # _CHECK_SENDS's codes
GAME_LIMITS = {1: "game_addresses", 2: "games"}  # _CHECK_GAME's codes


def over_limit(limit: str, wait_ms: int) -> Refused:
    """The refusal of an action over `limit`, saying how long to wait (at least a second)."""
    seconds = max(1, math.ceil(wait_ms / 1000))
    return Refused("too_many", LIMIT_MESSAGES[limit].format(wait=wait_words(seconds)), seconds)


LIMITS = ("messages", "conversations", "images", "signups", "logins", "guesses", "games", "game_addresses",
          "reports")


class Safety:
    """Blocks between users and the rate limits of every action that has one."""

    def __init__(self, redis: aioredis.Redis, limits: dict[str, Rate]):
        self._redis = redis
        self.limits = limits  # by the names in LIMITS (Config.rate_limits)
        self._check_sends = redis.register_script(_CHECK_SENDS)
        self._check_game = redis.register_script(_CHECK_GAME)
        # What many sends ask at once goes in one round trip (see parlor/infra/batching.py).
        self._send_checks: Batcher[tuple[str, str, bool, str, bool], list[int]] = Batcher(self._check_batch)
        self._hit = redis.register_script(_HIT)
        self._block = redis.register_script(_BLOCK)
        self._forget = redis.register_script(_FORGET)

    @classmethod
    def unlimited(cls, redis: aioredis.Redis) -> "Safety":
        """Blocks, and no rate limit: for the console and tools that act as no visitor does."""
        return cls(redis, dict.fromkeys(LIMITS, NO_LIMIT))

    def _rate_args(self, limit: str) -> list[int]:
        rate = self.limits[limit]
        return [rate.count, rate.seconds * 1000]

    # -- rate limits -----------------------------------------------------------------------

    async def check_send(self, me: str, peer: str, picture: bool, conversations_key: str,
                         message: bool = True) -> None:
        """Refuse a message from `me` to `peer` if either blocked the other, or if it is over
        `me`'s limits (messages; a new conversation, which `conversations_key` not listing `peer`
        means; pictures); otherwise count it. One round trip, shared with the sends checked at
        the same time. message=False: a conversation made without a message, checked and counted
        as its first message would be, but for the message itself."""
        code, wait_ms = await self._send_checks.submit((me, peer, picture, conversations_key, message))
        if code == 1:  # the peer blocked me: said the same way as any failure, so it stays private
            raise Refused("forbidden", UNDELIVERABLE)
        if code == 2:
            raise Refused("forbidden", f"You blocked {peer}. Unblock them to send a message.")
        if code == 6:
            raise Refused("forbidden", f"{peer} is suspended: nothing can be sent to them until the suspension ends.")
        if code == 7:
            raise Refused("forbidden", "Your account is suspended.")
        if code in SEND_LIMITS:
            raise over_limit(SEND_LIMITS[code], wait_ms)

    async def _check_batch(self, sends: list[tuple[str, str, bool, str, bool]]) -> list[list[int]]:
        keys, args = [], [*self._rate_args("messages"), *self._rate_args("conversations"), *self._rate_args("images")]
        for me, peer, picture, conversations_key, message in sends:
            keys += [blocks_key(peer), blocks_key(me), conversations_key, bucket_key("messages", me),
                     bucket_key("conversations", me), bucket_key("images", me), SUSPENDED_KEY]
            args += [me, peer, 1 if picture else 0, 1 if message else 0]
        return await self._check_sends(keys=keys, args=args)
    async def check_game_start(self, address: str, visitor: str | None) -> None:
        """Refuse a game start over the limit of its address (address_group) or of its visitor
        (a session's player or a user; None: no session yet, so a new one), else count it in
        both. Unlimited game starts cost Redis memory (a session and a game each) and flood the
        boards with games."""
        if self.limits["game_addresses"].unlimited and (visitor is None or self.limits["games"].unlimited):
            return
        code, wait_ms = await self._check_game(
            keys=[bucket_key("game_addresses", address), bucket_key("games", visitor or "-")],
            args=[*self._rate_args("game_addresses"), *self._rate_args("games"), 1 if visitor else 0])
        if code in GAME_LIMITS:
            raise over_limit(GAME_LIMITS[code], wait_ms)

    async def hit(self, limit: str, who: str) -> None:
        """Count one action of `who` against a limit, or raise Refused (too_many) when over it."""
        if self.limits[limit].unlimited:
            return
        wait_ms = await self._hit(keys=[bucket_key(limit, who)], args=self._rate_args(limit))
        if wait_ms:  # 0: counted
            raise over_limit(limit, wait_ms)

    # -- blocks ----------------------------------------------------------------------------

    async def block(self, me: str, peer: str) -> None:
        """`me` blocks `peer` (already blocked: nothing changes)."""
        result = await self._block(keys=[blocks_key(me), blocked_by_key(peer)], args=[me, peer, MAX_BLOCKS])
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

    async def forget(self, user: str) -> None:
        """Remove `user` from every block, either way (their account is gone: a later account
        with the same name is someone else)."""
        await self._forget(keys=[blocks_key(user), blocked_by_key(user)],
                           args=[user, blocks_key(""), blocked_by_key("")])
