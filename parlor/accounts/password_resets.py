"""One-time password-reset links that an admin makes for a user: shown once, valid RESET_TTL_S,
stored only as a SHA-256 (like API tokens). A new link for a user replaces their old one."""
from __future__ import annotations

import hashlib
import secrets

import redis.asyncio as aioredis

from parlor.infra.user_keys import KeysNaming

RESET_TTL_S = 24 * 3600  # long enough to pass a link on by hand, short enough not to linger
RESET_TOKEN_BYTES = 32  # 256 random bits: not guessable

# A new link: the user's old one (if any) ends. KEYS: the new link's key, the user's pointer.
# ARGV: user, ttl (s).
_MAKE = """
local old = redis.call('GET', KEYS[2])
if old then redis.call('DEL', old) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], KEYS[1], 'EX', ARGV[2])
return 1
"""

# Use a link once: its user, or false. KEYS: the link's key. ARGV: the pointer key prefix.
_USE = """
local user = redis.call('GET', KEYS[1])
if not user then return false end
redis.call('DEL', KEYS[1])
if redis.call('GET', ARGV[1] .. user) == KEYS[1] then redis.call('DEL', ARGV[1] .. user) end
return user
"""


def reset_key(token: str) -> str:
    return "password-reset:" + hashlib.sha256(token.encode()).hexdigest()


def reset_of_key(user: str) -> str:
    return f"password-reset-of:{user}"  # the key of the user's current link


class PasswordResets:
    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._make = redis.register_script(_MAKE)
        self._use = redis.register_script(_USE)

    async def make(self, user: str) -> str:
        """A new link's token for `user` (their old link ends)."""
        token = secrets.token_urlsafe(RESET_TOKEN_BYTES)
        await self._make(keys=[reset_key(token), reset_of_key(user)], args=[user, RESET_TTL_S])
        return token

    async def user_for(self, token: str) -> str | None:
        """Whose link this is, if it can still be used."""
        if not token or len(token) > 100:
            return None
        return await self._redis.get(reset_key(token))

    async def use(self, token: str) -> str | None:
        """Use the link up; its user, or None if it was used (or ended) meanwhile."""
        return await self._use(keys=[reset_key(token)], args=[reset_of_key("")])

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: so is its link."""
        key = await self._redis.get(reset_of_key(user))
        await self._redis.delete(reset_of_key(user), *([key] if key else []))
