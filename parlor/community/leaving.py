"""Leaving: deleting an account reaches every wing that keeps something of it, so that a later
account with the same name inherits nothing."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import redis.asyncio as aioredis

from parlor.accounts.accounts import Accounts
from parlor.accounts.credentials import Credentials
from parlor.accounts.password_resets import PasswordResets
from parlor.accounts.sessions import Sessions, user_sessions_key
from parlor.accounts.suspensions import suspension_key
from parlor.accounts.usernames import new_ghost
from parlor.chat.chat import Chat
from parlor.chat.conversation_list import published_key
from parlor.community.admins import ADMINS_KEY
from parlor.game.games import Games, open_games_key
from parlor.game.ranking import user_member
from parlor.live.events import stream_key, stream_meta_key
from parlor.live.hub import Hub
from parlor.live.presence import ONLINE_KEY, conns_key, presence_key
from parlor.safety import SUSPENDED_KEY, Safety, bucket_key

LEFT_CHANNEL = "parlor:left"  # "<user>": an account was deleted; every process closes its files
SCAN_BATCH = 1000  # keys Redis looks at per SCAN call when leaving (never blocks it for long)


def named_keys(user: str) -> list[str]:
    """The keys that belong to a user and are known by name (leaving deletes them; the boards,
    blocks, event stream and conversations are forgotten by their own modules)."""
    member = user_member(user)
    return [user_sessions_key(user), presence_key(user), conns_key(user), open_games_key(member),
            *(bucket_key(limit, user) for limit in ("messages", "conversations", "images", "reports")),
            bucket_key("games", member), suspension_key(user)]


def named_key_patterns(user: str) -> list[str]:
    """Keys of a user that are only found by looking (one per pair or per address): the pairs'
    published markers, typing notices, failed-login counters."""
    return [published_key(f"{user}_*"), published_key(f"*_{user}"), f"typing:{user}:*", f"typing:*:{user}",
            f"login-attempts:{user}:*"]



@dataclass(frozen=True, eq=False)
class Leaving:
    """Deleting an account, across accounts, sessions, chat, boards and live connections."""

    redis: aioredis.Redis
    credentials: Credentials
    accounts: Accounts
    sessions: Sessions
    chat: Chat
    games: Games
    safety: Safety
    hub: Hub
    resets: PasswordResets

    async def leave(self, user: str, password: str, address: str) -> None:
        """Delete the account: no more sign-ins, sessions, token or live connections; off the
        boards; its messages stay in its peers' conversations as a "deleted user"'s; the name
        stays reserved for a while (Accounts.remove)."""
        await self.credentials.check(user, password, address, "That is not your password.")
        if not await self.accounts.remove(user):
            return  # deleted meanwhile, by another of their sessions
        await self.sessions.end_all(user)  # each session's sign-out is published ...
        await self.hub.sign_out(user)  # ... and this ends the rest, those on the API token too
        await self.games.leaderboards.remove(user)
        await self.safety.forget(user)
        await self.redis.delete(stream_key(user), stream_meta_key(user))
        await self.chat.forget_user(user, new_ghost())
        await self._forget_keys(user)
        await self.redis.publish(LEFT_CHANNEL, user)

    async def _forget_keys(self, user: str) -> None:
        """Delete every other key of the user, so that a later account with the name inherits
        nothing (no histogram, no "already published" marker, no rate bucket); the name's
        reservation (Accounts.remove) stays."""
        await self.redis.delete(*named_keys(user))
        await self.resets.forget(user)
        await self.redis.zrem(ONLINE_KEY, user)
        await self.redis.zrem(SUSPENDED_KEY, user)
        await self.redis.srem(ADMINS_KEY, user)
        patterns = named_key_patterns(user)
        found = [key async for key in self.redis.scan_iter(match=f"*{user}*", count=SCAN_BATCH)
                 if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)]
        if found:
            await self.redis.delete(*found)
