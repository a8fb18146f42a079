"""Leaving: deleting an account reaches every store that keeps something of it, each forgetting
the user itself (its own keys, by its own key builders), so that a later account with the same
name inherits nothing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import redis.asyncio as aioredis

from parlor.accounts.accounts import Accounts
from parlor.accounts.credentials import Credentials
from parlor.accounts.sessions import Sessions
from parlor.infra.user_keys import KeysNaming
from parlor.live.hub import Hub

LEFT_CHANNEL = "parlor:left"  # "<user>": an account was deleted; every process closes its files


class KeepsUsers(Protocol):
    """A store that keeps something of users."""

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: delete what is kept of it (`keys`: its keys found by looking)."""


@dataclass(frozen=True, eq=False)
class Leaving:
    """Deleting an account: its sign-ins end, then every store forgets it, in `stores`' order."""

    redis: aioredis.Redis
    credentials: Credentials
    accounts: Accounts
    sessions: Sessions
    hub: Hub
    stores: Sequence[KeepsUsers]

    async def leave(self, user: str, password: str, address: str) -> None:
        """Delete the account: no more sign-ins, sessions, token or live connections; off the
        boards; its messages stay in its peers' conversations as a "deleted user"'s; the name
        stays reserved for a while (Accounts.remove)."""
        await self.credentials.check(user, password, address, "That is not your password.")
        if not await self.accounts.remove(user):
            return  # deleted meanwhile, by another of their sessions
        await self.sessions.end_all(user)  # each session's sign-out is published ...
        await self.hub.sign_out(user)  # ... and this ends the rest, those on the API token too
        keys = KeysNaming(self.redis, user)
        for store in self.stores:
            await store.forget_user(user, keys)
        await self.redis.publish(LEFT_CHANNEL, user)
