"""One-time password-reset links that an admin makes for a user (on /admin, or `parlor admin
reset-link` on the server): shown once, valid RESET_TTL_S, stored only as a SHA-256 (like API
tokens), with who made it and when. A new link for a user replaces their old one."""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming

RESET_TTL_S = 24 * 3600  # long enough to pass a link on by hand, short enough not to linger
RESET_TOKEN_BYTES = 32  # 256 random bits: not guessable
MAX_TOKEN_CHARS = 100  # a token is 43 characters; anything longer is not one


def reset_key(token: str) -> str:
    return "password-reset:" + hashlib.sha256(token.encode()).hexdigest()


def reset_of_key(user: str) -> str:
    return f"password-reset-of:{user}"  # the key of the user's current link


@dataclass(frozen=True)
class ResetLink:
    """Whose password a link sets, which admin made it ("(console)": `parlor admin`), and when."""

    user: str
    made_by: str
    made_ms: int


@dataclass(frozen=True)
class ResetNotice:
    """What an account's owner is told at their next login: an admin's link set their password."""

    made_by: str
    at_ms: int

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, timezone.utc)

    def stored(self) -> str:
        return json.dumps({"made_by": self.made_by, "at_ms": self.at_ms})

    @classmethod
    def parse(cls, stored: str | None) -> "ResetNotice | None":
        if not stored:
            return None
        try:
            fields = json.loads(stored)
            return cls(str(fields["made_by"]), int(fields["at_ms"]))
        except (ValueError, TypeError, KeyError):
            return None


def _link(stored: str | None) -> ResetLink | None:
    """A link as stored: JSON, or (made before links kept their maker) the user's name alone."""
    if stored is None:
        return None
    try:
        fields = json.loads(stored)
        return ResetLink(fields["user"], fields["made_by"], int(fields["made_ms"]))
    except (ValueError, TypeError, KeyError):
        return ResetLink(stored, "", 0)


class PasswordResets:
    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._scripts = register_scripts(redis, __package__, "make_reset", "use_reset")

    async def make(self, user: str, made_by: str) -> str:
        """A new link's token for `user`, made by the admin `made_by` (their old link ends)."""
        token = secrets.token_urlsafe(RESET_TOKEN_BYTES)
        stored = json.dumps({"user": user, "made_by": made_by, "made_ms": int(time.time() * 1000)})
        await self._scripts.make_reset(keys=[reset_key(token), reset_of_key(user)], args=[stored, RESET_TTL_S])
        return token

    async def find(self, token: str) -> ResetLink | None:
        """The link, if it can still be used."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        return _link(await self._redis.get(reset_key(token)))

    async def use(self, token: str) -> ResetLink | None:
        """Use the link up, in one step: exactly one caller gets it; None if it was used (or
        ended) already."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        return _link(await self._scripts.use_reset(keys=[reset_key(token)], args=[reset_of_key("")]))

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: so is its link."""
        key = await self._redis.get(reset_of_key(user))
        await self._redis.delete(reset_of_key(user), *([key] if key else []))
