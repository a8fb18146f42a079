"""Suspensions: an admin stops an account for a time, or until lifted, with a reason.

Suspending ends everything the account has open, on every process, through the one way sessions
end (parlor/accounts/sessions.py): its sessions end (each publishes its sign-out), its API token is revoked
(which publishes its own), and Hub.sign_out closes whatever else it holds. While suspended it
cannot log in (Accounts.log_in says until when and why), it sends and receives nothing (the send
check, parlor/safety.py), its board entries are hidden (their games kept) and its peers see it as
suspended. Lifting, by an admin or when its time is up, restores all of that but its sessions.

Keys: `suspension:<user>` (hash: until_ms, 0 for until lifted; reason; by; at_ms) and
`suspended` (sorted set: user -> the ms it ends at, UNTIL_LIFTED for none), which the send check
reads and the sweep walks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused
from parlor.safety import SUSPENDED_KEY

UNTIL_LIFTED = 2 ** 52  # the end (ms) of a suspension until lifted: after any real time, exact in a double
MAX_REASON_CHARS = 500  # a sentence or two that the suspended person reads on the login page
# The lengths an admin chooses from (seconds -> words); 0 is until lifted.
LENGTHS = {3600: "1 hour", 86400: "1 day", 7 * 86400: "1 week", 30 * 86400: "30 days", 0: "until lifted"}


def suspension_key(user: str) -> str:
    return f"suspension:{user}"


@dataclass(frozen=True)
class Suspension:
    user: str
    until_ms: int  # 0: until lifted
    reason: str
    by: str
    at_ms: int

    def active(self, now_ms: int | None = None) -> bool:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return self.until_ms == 0 or self.until_ms > now_ms

    @property
    def until(self) -> datetime | None:
        return datetime.fromtimestamp(self.until_ms / 1000, timezone.utc) if self.until_ms else None

    @property
    def until_text(self) -> str:
        """"until 12 Mar 2026 14:05 UTC", or "until an admin lifts it"."""
        if not self.until_ms:
            return "until an admin lifts it"
        return "until " + self.until.strftime("%-d %b %Y %H:%M UTC")


def check_suspension_form(length: str, reason: str) -> tuple[int, str]:
    """The length (s, 0: until lifted) and reason of the suspend form, or Refused (invalid)."""
    if not (length.isascii() and length.isdigit() and int(length) in LENGTHS):
        raise Refused("invalid", "Choose how long the suspension lasts from the list.")
    reason = " ".join(reason.split())
    if not reason:
        raise Refused("invalid", "Give a reason: the suspended person reads it when they try to log in.")
    if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        raise Refused("invalid", f"A reason is at most {MAX_REASON_CHARS} printable characters.")
    return int(length), reason


async def active_suspension(redis: aioredis.Redis, user: str) -> Suspension | None:
    """The user's suspension if it holds now (one whose time is up but not yet swept does not)."""
    data = await redis.hgetall(suspension_key(user))
    if not data:
        return None
    suspension = _suspension(user, data)
    return suspension if suspension.active() else None


def _suspension(user: str, data: dict[str, str]) -> Suspension:
    return Suspension(user, int(data.get("until_ms", 0)), data.get("reason", ""), data.get("by", ""),
                      int(data.get("at_ms", 0)))


class Suspensions:
    """Suspend and lift accounts. `accounts`, `sessions`, `hub` and `leaderboards` are the ones the
    server runs (parlor/accounts/accounts.py, sessions.py, hub.py, scores.py)."""

    def __init__(self, redis: aioredis.Redis, accounts, sessions, hub, leaderboards):
        self._redis = redis
        self._accounts = accounts
        self._sessions = sessions
        self._hub = hub
        self._leaderboards = leaderboards

    async def suspend(self, user: str, seconds: int, reason: str, by: str) -> Suspension:
        """Suspend `user` for `seconds` (0: until lifted) and end everything they have open."""
        now = int(time.time() * 1000)
        suspension = Suspension(user, now + seconds * 1000 if seconds else 0, reason, by, now)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(suspension_key(user), mapping={"until_ms": suspension.until_ms, "reason": reason, "by": by,
                                                     "at_ms": now})
            pipe.zadd(SUSPENDED_KEY, {user: suspension.until_ms or UNTIL_LIFTED})
            await pipe.execute()
        # The one way connections end (parlor/accounts/sessions.py): sessions, then the token, then the rest.
        await self._sessions.end_all(user)
        await self._accounts.revoke_api_token(user)
        await self._hub.sign_out(user)
        await self._leaderboards.hide(user)
        return suspension

    async def lift(self, user: str) -> bool:
        """End `user`'s suspension now; False if they were not suspended (or another process
        lifted it first: exactly one caller gets True)."""
        if not await self._redis.zrem(SUSPENDED_KEY, user):
            return False
        await self._redis.delete(suspension_key(user))
        await self._leaderboards.show(user)
        return True

    async def get(self, user: str) -> Suspension | None:
        return await active_suspension(self._redis, user)

    async def which(self, users: list[str]) -> set[str]:
        """Those of `users` who are suspended now."""
        if not users:
            return set()
        now = time.time() * 1000
        ends = await self._redis.zmscore(SUSPENDED_KEY, users)
        return {user for user, end in zip(users, ends) if end is not None and end > now}

    async def all(self) -> list[Suspension]:
        """Every suspension that holds now, the soonest to end first."""
        users = await self._redis.zrangebyscore(SUSPENDED_KEY, f"({int(time.time() * 1000)}", "+inf")
        async with self._redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hgetall(suspension_key(user))
            found = await pipe.execute()
        return [_suspension(user, data) for user, data in zip(users, found) if data]

    async def ended(self) -> list[str]:
        """The users whose suspension's time is up (lift them)."""
        return await self._redis.zrangebyscore(SUSPENDED_KEY, "-inf", int(time.time() * 1000))

    async def ghost_user(self, user: str, ghost: str) -> None:
        """An admin's account is gone: the suspensions it made name its ghost as who made them."""
        users = await self._redis.zrange(SUSPENDED_KEY, 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for suspended in users:
                pipe.hget(suspension_key(suspended), "by")
            by = await pipe.execute()
        for suspended, made_by in zip(users, by):
            if made_by == user:
                await self._redis.hset(suspension_key(suspended), "by", ghost)

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its suspension ends with it (a later account with the name is
        not suspended)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(SUSPENDED_KEY, user)
            pipe.delete(suspension_key(user))
            await pipe.execute()
