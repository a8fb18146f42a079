"""Server-side sessions in Redis: every visitor, guest or signed in, has one.

Every end of a session (logout, a login replacing it, a password change, leaving) publishes a
sign-out notice on SIGN_OUT_CHANNEL naming exactly the sessions that ended, which every process
hears: it closes their live connections and may forget what it cached about them. Expiry makes
no sound in Redis; it is published when found: by a process holding a live connection of that
session (Hub.check_sessions, every few seconds), or when the user next signs in
(lua/index_session.lua). A cache of session data must therefore also keep no entry past the
session's own TTL.
"""
from __future__ import annotations

import secrets
import time

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming

SESSION_TTL_S = 30 * 24 * 3600  # a month without a visit ends a signed-in session
# Anyone can make guest sessions by the thousand (a script needs no account): one that never
# signed in ends after half a day without a visit, so they cannot pile up in Redis.
GUEST_SESSION_TTL_S = 12 * 3600
SESSION_ID_BYTES = 32  # 256 random bits: not guessable
# A visit extends a session's lifetime (and sends its cookie again) at most this often, not on
# every request: a request writes nothing to Redis. A session then ends between its TTL less this
# and its TTL after the last visit.
RENEW_AFTER_S = 3600
# A process remembers a session's data this long, so that requests do not each ask Redis. Its
# end's sign-out notice clears it at once; the lifetime bounds only a notice that was missed.
SESSION_CACHE_S = 10.0
SESSION_CACHE_MAX = 10_000  # sessions remembered at most (then forgotten all at once)
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


class Sessions:
    """Create, load, rotate and end sessions; a session is a small Redis hash with a TTL (a month
    signed in, GUEST_SESSION_TTL_S for a guest)."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._scripts = register_scripts(redis, __package__, "index_session", "end_session", "end_user_sessions")
        self._known: dict[str, tuple[dict[str, str], float]] = {}  # id -> (data, good until)

    async def load(self, session_id: str) -> dict[str, str] | None:
        """The session's data (a copy); None if it does not exist (or expired)."""
        now = time.monotonic()
        known = self._known.get(session_id)
        if known is not None and known[1] > now:
            return dict(known[0])
        data = await self._redis.hgetall(session_key(session_id))
        if not data:
            return None
        if len(self._known) >= SESSION_CACHE_MAX:
            self._known.clear()
        self._known[session_id] = (data, now + SESSION_CACHE_S)
        return dict(data)

    def on_sign_out(self, notice: str) -> None:
        """Sessions ended on some process (a sign-out notice): forget them here; `*` (the account
        is gone) forgets every session of its user."""
        user, keys = notice.split("\n", 1)
        if keys == "*":
            for session_id in [i for i, (data, _) in self._known.items() if data.get("user") == user]:
                del self._known[session_id]
            return
        prefix = session_key("")
        for key in keys.split(","):
            if key.startswith(prefix):
                self._known.pop(key[len(prefix):], None)

    def forget(self) -> None:
        """Forget every session (sign-out notices may have been missed)."""
        self._known.clear()

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
            await self._scripts.index_session(keys=[user_sessions_key(fields["user"])],
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
        """Whether the session's lifetime should be extended (and its cookie sent again)."""
        renewed = data.get("renewed_at") or data.get("created_at") or "0"
        return not renewed.isdigit() or time.time() - int(renewed) > RENEW_AFTER_S

    async def renewed(self, session_id: str, data: dict[str, str]) -> None:
        """Extend the session's lifetime from now: a month signed in, GUEST_SESSION_TTL_S for a guest."""
        now = str(int(time.time()))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key(session_id), "renewed_at", now)
            pipe.expire(session_key(session_id), SESSION_TTL_S if data.get("user") else GUEST_SESSION_TTL_S)
            await pipe.execute()
        known = self._known.get(session_id)
        if known is not None:
            known[0]["renewed_at"] = now

    async def end(self, session_id: str) -> None:
        """End one session; every process hears its sign-out."""
        self._known.pop(session_id, None)
        await self._scripts.end_session(keys=[session_key(session_id)],
                                        args=[user_sessions_key(""), session_id, SIGN_OUT_CHANNEL])

    async def end_all(self, user: str, keep: str | None = None) -> list[str]:
        """End every signed-in session of `user` except `keep` (every process hears their
        sign-out); returns the ids ended."""
        ended = await self._scripts.end_user_sessions(keys=[user_sessions_key(user)],
                                                      args=[session_key(""), keep or "", user, SIGN_OUT_CHANNEL])
        for session_id in ended:
            self._known.pop(session_id, None)
        return ended

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone (its sessions ended first): so is the index of them."""
        await self._redis.delete(user_sessions_key(user))
