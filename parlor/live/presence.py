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


# KEYS: presence, conns, online. ARGV: process, lapse_ms, now_ms, limit, user, channel, ttl_s.
# Returns -1 over the limit, 1 if the user just came online, else 0.
_JOIN = """
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])) do
  redis.call('ZREM', KEYS[1], p)
  redis.call('HDEL', KEYS[2], p)
end
local total = 0
for _, n in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(n) end
if total >= tonumber(ARGV[4]) then return -1 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
local before = redis.call('ZSCORE', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[3], 'GT', ARGV[2], ARGV[5])
if (not before) or tonumber(before) <= tonumber(ARGV[3]) then
  redis.call('PUBLISH', ARGV[6], ARGV[5] .. '\\n1')
  return 1
end
return 0
"""

# KEYS: presence, conns, online. ARGV: process, now_ms, user, channel, linger (1: let the claim
# lapse by itself, for a long poll that comes straight back). Returns 1 if the user went offline.
_LEAVE = """
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) > 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[5] == '1' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf') > 0 then return 0 end
if redis.call('ZREM', KEYS[3], ARGV[3]) == 1 then
  redis.call('PUBLISH', ARGV[4], ARGV[3] .. '\\n0')
  return 1
end
return 0
"""

# KEYS: online, then presence and conns of each user. ARGV: process, lapse_ms, ttl_s, now_ms,
# channel, then each user. Counts are join's and leave's alone; a user this puts back online
# (their claim had lapsed during a stall) is announced. Returns the users whose claim by this
# process had lapsed (no event notices were sent to it for them meanwhile).
_RENEW = """
local lapsed = {}
for i = 6, #ARGV do
  local k = 2 * (i - 6) + 2
  local claim = redis.call('ZSCORE', KEYS[k], ARGV[1])
  if (not claim) or tonumber(claim) < tonumber(ARGV[4]) then lapsed[#lapsed + 1] = ARGV[i] end
  redis.call('ZADD', KEYS[k], ARGV[2], ARGV[1])
  redis.call('EXPIRE', KEYS[k], ARGV[3])
  redis.call('EXPIRE', KEYS[k + 1], ARGV[3])
  local before = redis.call('ZSCORE', KEYS[1], ARGV[i])
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[i])
  if (not before) or tonumber(before) <= tonumber(ARGV[4]) then
    redis.call('PUBLISH', ARGV[5], ARGV[i] .. '\\n1')
  end
end
return lapsed
"""

# KEYS: online. ARGV: now_ms, channel. Users whose every claim lapsed go offline; returns the count.
_SWEEP = """
for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 200)) do
  redis.call('ZREM', KEYS[1], u)
  redis.call('PUBLISH', ARGV[2], u .. '\\n0')
end
return redis.call('ZCARD', KEYS[1])
"""


def _ms(seconds_from_now: float = 0.0) -> int:
    return int((time.time() + seconds_from_now) * 1000)


class Presence:
    """This process's claims on users being online, and the shared count."""

    def __init__(self, redis: aioredis.Redis, max_connections: int):
        self._redis = redis
        self.process = uuid.uuid4().hex[:12]
        self.max_connections = max_connections
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)
        self._renew = redis.register_script(_RENEW)
        self._sweep = redis.register_script(_SWEEP)

    async def join(self, user: str) -> bool:
        """Count one more connection of `user`; False (nothing counted) when they have the most
        connections allowed, on all processes together."""
        result = await self._join(
            keys=[presence_key(user), conns_key(user), ONLINE_KEY],
            args=[self.process, _ms(PRESENCE_TTL_S), _ms(), self.max_connections, user, PRESENCE_CHANNEL,
                  PRESENCE_TTL_S * 4])
        return result != -1

    async def leave(self, user: str, linger: bool = False) -> None:
        await self._leave(keys=[presence_key(user), conns_key(user), ONLINE_KEY],
                          args=[self.process, _ms(), user, PRESENCE_CHANNEL, 1 if linger else 0])

    async def leave_many(self, leaving: list[tuple[str, bool]]) -> None:
        """Many (user, linger) leaves, as a shutting-down process drops its connections:
        LEAVE_CHUNK to a round trip (and to one fsync of Redis's log), not one each."""
        for start in range(0, len(leaving), LEAVE_CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for user, linger in leaving[start:start + LEAVE_CHUNK]:
                    await self._leave(keys=[presence_key(user), conns_key(user), ONLINE_KEY],
                                      args=[self.process, _ms(), user, PRESENCE_CHANNEL, 1 if linger else 0],
                                      client=pipe)
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
            lapsed.update(await self._renew(keys=keys, args=args))
        return lapsed

    async def sweep(self) -> int:
        """Take lapsed users offline; returns how many are online."""
        return await self._sweep(keys=[ONLINE_KEY], args=[_ms(), PRESENCE_CHANNEL])

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
