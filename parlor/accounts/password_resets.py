"""One-time password-reset links that an admin makes for a user: shown once, valid RESET_TTL_S,
stored only as a SHA-256 (like API tokens). A new link for a user replaces their old one."""
from __future__ import annotations

import hashlib
import secrets

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming

RESET_TTL_S = 24 * 3600  # long enough to pass a link on by hand, short enough not to linger
RESET_TOKEN_BYTES = 32  # 256 random bits: not guessable

def reset_key(token: str) -> str:
    return "password-reset:" + hashlib.sha256(token.encode()).hexdigest()


def reset_of_key(user: str) -> str:
    return f"password-reset-of:{user}"  # the key of the user's current link


class PasswordResets:
    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._scripts = register_scripts(redis, __package__, "make_reset", "use_reset")

    async def make(self, user: str) -> str:
        """A new link's token for `user` (their old link ends)."""
        token = secrets.token_urlsafe(RESET_TOKEN_BYTES)
        await self._scripts.make_reset(keys=[reset_key(token), reset_of_key(user)], args=[user, RESET_TTL_S])
        return token

    async def user_for(self, token: str) -> str | None:
        """Whose link this is, if it can still be used."""
        if not token or len(token) > 100:
            return None
        return await self._redis.get(reset_key(token))

    async def use(self, token: str) -> str | None:
        """Use the link up; its user, or None if it was used (or ended) meanwhile."""
        return await self._scripts.use_reset(keys=[reset_key(token)], args=[reset_of_key("")])

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: so is its link."""
        key = await self._redis.get(reset_of_key(user))
        await self._redis.delete(reset_of_key(user), *([key] if key else []))
