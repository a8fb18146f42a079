"""Invite links: with --signup invite, `/signup?invite=<code>` is the only way to make an account.
An admin makes one with a number of uses, an expiry and a note; each sign-up with it uses it once,
in the same Redis script that makes the account, so two people cannot both take its last use.

Keys: `invite:<code>` (hash: note, uses, used, expires_ms, created_ms, created_by, revoked),
`invite:<code>:users` (list: who signed up with it) and `invites` (sorted set: code -> created ms).
An invite is kept INVITE_KEPT_AFTER_S past its expiry, so that its link can still say what became
of it; then it is gone, and its link is simply not valid.
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import redis.asyncio as aioredis

from parlor.refusals import Refused

MIN_USES, MAX_USES = 1, 100  # a class or a club signs up with one link; more is an open door
MIN_EXPIRY_S, MAX_EXPIRY_S = 3600, 30 * 86400  # an hour for a workshop, a month for a term
MAX_NOTE_CHARS = 200  # "Tuesday's class": a reminder for the admins, not a letter
MAX_INVITES = 1000  # invites kept at once (open, or remembered after they ended); bounds what admins create
INVITE_KEPT_AFTER_S = 7 * 86400  # an ended invite's link says why for a week, then it is forgotten
INVITE_CODE_BYTES = 16  # 128 random bits: a link cannot be guessed
INVITE_CODE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
INVITES_KEY = "invites"

# What a link that cannot be used says, and its kind of refusal.
INVITE_REFUSALS = {
    "unknown": ("not_found", "This invite link is not valid. Ask an admin for a new one."),
    "revoked": ("gone", "This invite was withdrawn by an admin. Ask an admin for a new one."),
    "expired": ("gone", "This invite has expired. Ask an admin for a new one."),
    "used up": ("gone", "This invite has been used as many times as it allows. Ask an admin for a new one."),
}


def invite_key(code: str) -> str:
    return f"invite:{code}"


def invite_users_key(code: str) -> str:
    return f"invite:{code}:users"


@dataclass(frozen=True)
class Invite:
    code: str
    note: str
    uses: int
    used: int
    expires_ms: int
    created_ms: int
    created_by: str
    revoked: bool
    users: list[str] = field(default_factory=list)

    def state(self, now_ms: int | None = None) -> str:
        """open, revoked, expired or "used up" (as lua/_invite_state.lua decides it)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if self.revoked:
            return "revoked"
        if self.expires_ms <= now_ms:
            return "expired"
        if self.used >= self.uses:
            return "used up"
        return "open"

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires_ms / 1000, timezone.utc)


def invite_refused(state: str) -> Refused:
    """What a link in `state` (not open) says: not_found, or gone for an invite that ended."""
    kind, message = INVITE_REFUSALS[state]
    return Refused(kind, message)


def check_invite_form(uses: str, expiry_s: str, note: str) -> tuple[int, int, str]:
    """The uses, the expiry (s) and the note of the invite form, or Refused (invalid) saying what is wrong."""
    if not (uses.isascii() and uses.isdigit() and MIN_USES <= int(uses) <= MAX_USES):
        raise Refused("invalid", f"An invite has {MIN_USES} to {MAX_USES} uses.")
    if not (expiry_s.isascii() and expiry_s.isdigit() and MIN_EXPIRY_S <= int(expiry_s) <= MAX_EXPIRY_S):
        raise Refused("invalid", "An invite lasts from an hour to 30 days.")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS or not note.isprintable():
        raise Refused("invalid", f"A note is at most {MAX_NOTE_CHARS} printable characters.")
    return int(uses), int(expiry_s), note


class Invites:
    """Make, list, read and revoke invites."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis

    async def create(self, admin: str, uses: int, expiry_s: int, note: str) -> Invite:
        """A new invite (checked by check_invite_form); Refused (conflict) when MAX_INVITES are kept."""
        await self._forget_gone()
        if await self._redis.zcard(INVITES_KEY) >= MAX_INVITES:
            raise Refused("conflict", f"There are {MAX_INVITES} invites already: revoke some, or wait for them to end.")
        code = secrets.token_urlsafe(INVITE_CODE_BYTES)
        now = int(time.time() * 1000)
        invite = Invite(code, note, uses, 0, now + expiry_s * 1000, now, admin, False)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(invite_key(code), mapping={"note": note, "uses": uses, "used": 0, "expires_ms": invite.expires_ms,
                                                 "created_ms": now, "created_by": admin, "revoked": 0})
            pipe.expire(invite_key(code), expiry_s + INVITE_KEPT_AFTER_S)
            pipe.zadd(INVITES_KEY, {code: now})
            await pipe.execute()
        return invite

    async def get(self, code: str) -> Invite | None:
        """The invite, or None if there is no such one (any more)."""
        if not INVITE_CODE_RE.fullmatch(code or ""):
            return None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(invite_key(code))
            pipe.lrange(invite_users_key(code), 0, MAX_USES - 1)
            data, users = await pipe.execute()
        return _invite(code, data, users) if data else None

    async def check(self, code: str) -> Invite:
        """The invite if it can be used now, else Refused with what became of it."""
        invite = await self.get(code)
        state = invite.state() if invite else "unknown"
        if state != "open":
            raise invite_refused(state)
        return invite

    async def all(self) -> list[Invite]:
        """Every invite kept, newest first."""
        await self._forget_gone()
        codes = await self._redis.zrevrange(INVITES_KEY, 0, MAX_INVITES - 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hgetall(invite_key(code))
                pipe.lrange(invite_users_key(code), 0, MAX_USES - 1)
            found = await pipe.execute()
        return [_invite(code, data, users) for code, data, users in zip(codes, found[::2], found[1::2]) if data]

    async def revoke(self, code: str) -> Invite:
        """Withdraw an invite: its link no longer makes accounts. Refused (not_found) if there is none."""
        invite = await self.get(code)
        if invite is None:
            raise Refused("not_found", "There is no such invite (it may have ended a while ago).")
        await self._redis.hset(invite_key(code), "revoked", 1)
        return invite

    async def ghost_user(self, user: str, ghost: str) -> None:
        """An account is gone: the invites it made, or signed up with, name its ghost."""
        codes = await self._redis.zrange(INVITES_KEY, 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hget(invite_key(code), "created_by")
                pipe.lrange(invite_users_key(code), 0, MAX_USES - 1)
            found = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:
            for code, made_by, users in zip(codes, found[::2], found[1::2]):
                if made_by == user:
                    pipe.hset(invite_key(code), "created_by", ghost)
                for index in (i for i, name in enumerate(users) if name == user):
                    pipe.lset(invite_users_key(code), index, ghost)  # a list only ever appended to
            await pipe.execute()

    async def _forget_gone(self) -> None:
        """Take invites whose keys expired out of the list."""
        codes = await self._redis.zrange(INVITES_KEY, 0, -1)
        if not codes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.exists(invite_key(code))
            alive = await pipe.execute()
        gone = [code for code, exists in zip(codes, alive) if not exists]
        if gone:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(INVITES_KEY, *gone)
                pipe.delete(*(invite_users_key(code) for code in gone))
                await pipe.execute()


def _invite(code: str, data: dict[str, str], users: list[str]) -> Invite:
    return Invite(code, data.get("note", ""), int(data.get("uses", 0)), int(data.get("used", 0)),
                  int(data.get("expires_ms", 0)), int(data.get("created_ms", 0)), data.get("created_by", ""),
                  data.get("revoked") == "1", users)
