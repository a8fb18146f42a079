"""Who is an admin: a Redis set of usernames. Rights are given and taken only by `parlor admin` on
the server (parlor/community/console.py): no web form makes an admin, nor a reset link for an
admin's account. Pages ask on every request, so a revocation holds at once, on every process."""
from __future__ import annotations

import redis.asyncio as aioredis

from parlor.accounts.accounts import Accounts, normalize_username
from parlor.accounts.password_resets import PasswordResets
from parlor.community.audit import AuditLog
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused

ADMINS_KEY = "admins"  # set of usernames


class Admins:
    """Check, grant and revoke admin rights; every change is an audit entry."""

    def __init__(self, redis: aioredis.Redis, accounts: Accounts, audit: AuditLog, resets: PasswordResets):
        self._redis = redis
        self._accounts = accounts
        self._audit = audit
        self._resets = resets

    async def is_admin(self, user: str | None) -> bool:
        return bool(user) and bool(await self._redis.sismember(ADMINS_KEY, user))

    async def all(self) -> list[str]:
        return sorted(await self._redis.smembers(ADMINS_KEY))

    async def create(self, by: str, raw_name: str, password: str) -> str:
        """Make an account with admin rights, whatever the sign-up mode; its name."""
        name = await self._accounts.create(raw_name, password)
        await self._redis.sadd(ADMINS_KEY, name)
        await self._audit.record(by, "made an admin account", name)
        return name

    async def grant(self, by: str, raw_name: str) -> bool:
        """Give an existing account admin rights; False if it had them already."""
        name = await self._existing(raw_name)
        granted = bool(await self._redis.sadd(ADMINS_KEY, name))
        if granted:
            await self._audit.record(by, "granted admin rights", name)
        return granted

    async def revoke(self, by: str, raw_name: str) -> bool:
        """Take admin rights away (the account stays); False if it had none."""
        name = normalize_username(raw_name)
        revoked = bool(await self._redis.srem(ADMINS_KEY, name))
        if revoked:
            await self._audit.record(by, "revoked admin rights", name)
        return revoked

    async def reset_link(self, by: str, raw_name: str) -> str:
        """A one-time password-reset link's token for any account, an admin's too: only the
        server's console makes one for an admin (Moderation.reset_link refuses it on the web)."""
        name = await self._existing(raw_name)
        token = await self._resets.make(name, by)
        await self._audit.record(by, "made a password-reset link", name)
        return token

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: a later one with the name is no admin."""
        await self._redis.srem(ADMINS_KEY, user)

    async def _existing(self, raw_name: str) -> str:
        name = normalize_username(raw_name)
        if not await self._accounts.exists(name):
            raise Refused("not_found", f"There is no account named {name}.")
        return name
