"""Server-side sessions in Redis: every visitor, guest or signed in, has one.

Every end of a session (logout, a login replacing it, a password change, leaving) publishes a
sign-out notice on SIGN_OUT_CHANNEL naming exactly the sessions that ended, which every process
hears: it closes their live connections and may forget what it cached about them. Expiry makes
no sound in Redis; it is published when found: by a process holding a live connection of that
session (Hub.check_sessions, every few seconds), or when the user next signs in (_INDEX). A cache
of session data must therefore also keep no entry past the session's own TTL.
"""
from __future__ import annotations

import secrets
import time

import redis.asyncio as aioredis

SESSION_TTL_S = 30 * 24 * 3600  # a month without a visit ends a signed-in session
# Anyone can make guest sessions by the thousand (a script needs no account): one that never
# signed in ends after half a day without a visit, so they cannot pile up in Redis.
GUEST_SESSION_TTL_S = 12 * 3600
SESSION_ID_BYTES = 32  # 256 random bits: not guessable
RENEW_AFTER_S = 24 * 3600  # the cookie is sent again (its lifetime renewed) about once a day
# "<user, or empty for a guest>\n<the Redis keys of what ended, comma-separated, or *>". A key is
# a session's (session:<id>) or an API token's; * is every connection of the user (they left).
SIGN_OUT_CHANNEL = "parlor:sign-out"


def session_key(session_id: str) -> str:
    return f"session:{session_id}"


def user_sessions_key(user: str) -> str:
    return f"user-sessions:{user}"  # set: the ids of the user's signed-in sessions


def sign_out_notice(user: str | None, keys: list[str] | None) -> str:
    """The message on SIGN_OUT_CHANNEL that these keys (None: all of `user`'s) ended."""
    return f"{user or ''}\n{'*' if keys is None else ','.join(keys)}"


# Index a signed-in session under its user, dropping ids whose session has expired (so the set
# stays as small as the sessions that are alive; their sign-out is published, as expiry found).
# KEYS: index. ARGV: session key prefix, new id, user, channel.
_INDEX = """
local gone = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    redis.call('SREM', KEYS[1], id)
    gone[#gone + 1] = ARGV[1] .. id
  end
end
redis.call('SADD', KEYS[1], ARGV[2])
if #gone > 0 then redis.call('PUBLISH', ARGV[4], ARGV[3] .. '\\n' .. table.concat(gone, ',')) end
return 0
"""

# A session's data, its lifetime renewed: a month if it is signed in, else GUEST_SESSION_TTL_S.
# KEYS: session. ARGV: signed-in ttl, guest ttl (s). Returns the hash as a flat list.
_LOAD = """
local data = redis.call('HGETALL', KEYS[1])
if #data == 0 then return data end
if redis.call('HEXISTS', KEYS[1], 'user') == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return data
"""

# End one session, take it out of its user's index, and publish its sign-out (even if it had
# expired already: a notice too many costs nothing). KEYS: session. ARGV: index prefix, id, channel.
_END = """
local user = redis.call('HGET', KEYS[1], 'user')
redis.call('DEL', KEYS[1])
if user then redis.call('SREM', ARGV[1] .. user, ARGV[2]) end
redis.call('PUBLISH', ARGV[3], (user or '') .. '\\n' .. KEYS[1])
return 0
"""

# End every session of a user but one, and publish their sign-out. KEYS: index. ARGV: session
# key prefix, the id to keep ('' for none), user, channel. Returns the ids ended.
_END_ALL = """
local ended, keys = {}, {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] then
    redis.call('DEL', ARGV[1] .. id)
    redis.call('SREM', KEYS[1], id)
    ended[#ended + 1] = id
    keys[#keys + 1] = ARGV[1] .. id
  end
end
if #keys > 0 then redis.call('PUBLISH', ARGV[4], ARGV[3] .. '\\n' .. table.concat(keys, ',')) end
return ended
"""


class Sessions:
    """Create, load, rotate and end sessions; a session is a small Redis hash with a TTL (a month
    signed in, GUEST_SESSION_TTL_S for a guest)."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._index = redis.register_script(_INDEX)
        self._load = redis.register_script(_LOAD)
        self._end = redis.register_script(_END)
        self._end_all = redis.register_script(_END_ALL)

    async def load(self, session_id: str) -> dict[str, str] | None:
        """The session's data, its lifetime renewed; None if it does not exist (or expired)."""
        flat = await self._load(keys=[session_key(session_id)], args=[SESSION_TTL_S, GUEST_SESSION_TTL_S])
        return dict(zip(flat[::2], flat[1::2])) or None

    async def create(self, **data: str) -> tuple[str, dict[str, str]]:
        """A new guest session; `player` is the id its games are bound to, kept across login."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        now = str(int(time.time()))
        fields = {"player": secrets.token_urlsafe(12), "created_at": now, **data, "renewed_at": now}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key(session_id), mapping=fields)
            pipe.expire(session_key(session_id), SESSION_TTL_S if fields.get("user") else GUEST_SESSION_TTL_S)
            await pipe.execute()
        if fields.get("user"):  # so that a password change or leaving can end all of them
            await self._index(keys=[user_sessions_key(fields["user"])],
                              args=[session_key(""), session_id, fields["user"], SIGN_OUT_CHANNEL])
        return session_id, fields

    async def rotate(self, old_id: str | None, **changes: str) -> tuple[str, dict[str, str]]:
        """Replace a session by one with a new id (stops fixation), keeping its data plus changes."""
        old = (await self._redis.hgetall(session_key(old_id))) if old_id else {}
        new_id, data = await self.create(**{**old, **changes})
        if old_id:
            await self.end(old_id)
        return new_id, data

    @staticmethod
    def needs_renewal(data: dict[str, str]) -> bool:
        """Whether the visitor's cookie should be sent again to extend its lifetime."""
        renewed = data.get("renewed_at") or data.get("created_at") or "0"
        return not renewed.isdigit() or time.time() - int(renewed) > RENEW_AFTER_S

    async def renewed(self, session_id: str) -> None:
        await self._redis.hset(session_key(session_id), "renewed_at", str(int(time.time())))

    async def end(self, session_id: str) -> None:
        """End one session; every process hears its sign-out."""
        await self._end(keys=[session_key(session_id)], args=[user_sessions_key(""), session_id, SIGN_OUT_CHANNEL])

    async def end_all(self, user: str, keep: str | None = None) -> list[str]:
        """End every signed-in session of `user` except `keep` (every process hears their
        sign-out); returns the ids ended."""
        return await self._end_all(keys=[user_sessions_key(user)],
                                   args=[session_key(""), keep or "", user, SIGN_OUT_CHANNEL])
