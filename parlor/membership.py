"""Managing an account: changing the password, downloading one's data, and leaving."""
from __future__ import annotations

import asyncio
import fnmatch
import json
import tempfile
import time
import zipfile
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO

import redis.asyncio as aioredis

from .admins import ADMINS_KEY
from .chat import Chat, published_key
from .chatlog import Message
from .events import stream_key, stream_meta_key
from .games import Games, open_games_key
from .hub import Hub
from .presence import ONLINE_KEY, conns_key, presence_key
from .refusals import Refused
from .resets import PasswordResets
from .safety import SUSPENDED_KEY, Safety, bucket_key
from .scores import member_for
from .sessions import Sessions, user_sessions_key
from .suspensions import suspension_key
from .usernames import new_ghost, user_key
from .users import AccountError, Accounts, TryLater, check_password

RESET_LINK_GONE = "This link cannot be used: it was used already, or has expired, or a newer one replaced it."

LEFT_CHANNEL = "parlor:left"  # "<user>": an account was deleted; every process closes its files
ARCHIVE_IN_MEMORY = 1024 * 1024  # a data download smaller than this is built in memory, else on disk
IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
SCAN_BATCH = 1000  # keys Redis looks at per SCAN call when leaving (never blocks it for long)


def named_keys(user: str) -> list[str]:
    """The keys that belong to a user and are known by name (leaving deletes them; the boards,
    blocks, event stream and conversations are forgotten by their own modules)."""
    member = member_for(user, "")
    return [user_sessions_key(user), presence_key(user), conns_key(user), open_games_key(member),
            *(bucket_key(limit, user) for limit in ("messages", "conversations", "images", "reports")),
            bucket_key("games", member), suspension_key(user)]


def named_key_patterns(user: str) -> list[str]:
    """Keys of a user that are only found by looking (one per pair or per address): the pairs'
    published markers, typing notices, failed-login counters."""
    return [published_key(f"{user}_*"), published_key(f"*_{user}"), f"typing:{user}:*", f"typing:*:{user}",
            f"login-attempts:{user}:*"]


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True, eq=False)
class Membership:
    """Account changes that reach across accounts, sessions, chat, boards and live connections."""

    redis: aioredis.Redis
    accounts: Accounts
    sessions: Sessions
    chat: Chat
    games: Games
    safety: Safety
    hub: Hub
    executor: Executor
    resets: PasswordResets

    async def change_password(self, user: str, current: str, new: str, address: str, keep_session: str) -> int:
        """Check the current password (failures count like failed logins), set the new one, end
        the API token and every other session of the user, their live pages too; returns how
        many sessions ended."""
        check_password(new)
        await self._check(user, current, address, "That is not your current password.")
        await self.accounts.set_password(user, new)
        return len(await self.sessions.end_all(user, keep=keep_session))

    async def reset_link_user(self, token: str) -> str | None:
        """Whose password a reset link sets, if it can still be used."""
        return await self.resets.user_for(token)

    async def reset_password(self, token: str, new: str) -> str:
        """Set a new password with a one-time link an admin made (parlor/resets.py): the link is
        used up, every session of the user ends (their open pages too) and their API token; returns
        the user."""
        check_password(new)
        user = await self.resets.user_for(token)
        if user is None:
            raise Refused("not_found", RESET_LINK_GONE)
        await self.accounts.set_password(user, new)
        await self.resets.use(token)
        await self.sessions.end_all(user)
        return user

    async def new_api_token(self, user: str, password: str, address: str) -> str:
        """Check the password (failures count like failed logins; a stolen session alone cannot
        mint a lasting credential), then make a new API token, ending the old one."""
        if not password:
            raise AccountError("Give your password to make a token.")
        await self._check(user, password, address, "That is not your password.")
        return await self.accounts.new_api_token(user)

    async def leave(self, user: str, password: str, address: str) -> None:
        """Delete the account: no more sign-ins, sessions, token or live connections; off the
        boards; its messages stay in its peers' conversations as a "deleted user"'s; the name
        stays reserved for a while (Accounts.remove)."""
        await self._check(user, password, address, "That is not your password.")
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

    async def _check(self, user: str, password: str, address: str, wrong: str) -> None:
        """The user's password, checked and throttled as a login is."""
        try:
            await self.accounts.log_in(user, password, address)
        except TryLater:
            raise
        except AccountError:
            raise AccountError(wrong) from None

    async def export(self, user: str) -> IO[bytes]:
        """A zip of the user's data, rewound: account.json, games.json (finished games, best
        entries), and per conversation conversations/<peer>.json with its pictures beside it.
        The caller closes it."""
        archive = tempfile.SpooledTemporaryFile(ARCHIVE_IN_MEMORY)
        run = asyncio.get_running_loop().run_in_executor
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            async def add(name: str, data: bytes, compress: bool = True) -> None:
                kind = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED  # pictures are compressed already
                await run(self.executor, lambda: zipped.writestr(name, data, compress_type=kind))

            created = await self.redis.hget(user_key(user), "created_at")
            await add("account.json", _json({"username": user, "created_at": iso(int(created) * 1000) if created else None,
                                             "exported_at": iso(int(time.time() * 1000))}))
            await add("games.json", _json(await self._games_of(user)))
            for peer in await self.chat.all_peers(user):
                messages = await self.chat.history(user, peer)
                rows = []
                for message in messages:
                    row = _message_row(message)
                    if message.image_id is not None:
                        found = await self.chat.image(user, peer, message.image_id, False)
                        if found is not None:
                            mime, data = found
                            row["image"] = f"conversations/{peer}/{message.id}.{IMAGE_EXTENSIONS.get(mime, 'bin')}"
                            await add(row["image"], data, compress=False)
                    rows.append(row)
                await add(f"conversations/{peer}.json", _json({"peer": peer, "messages": rows}))
        archive.seek(0)
        return archive

    async def _games_of(self, user: str) -> dict:
        member = member_for(user, "")
        boards = []
        for board in self.games.leaderboards.boards:
            entry = await self.games.leaderboards.best(board, member)
            if entry is not None:
                boards.append({"board": board, **entry.as_json()})
        return {"finished_games": await self.games.history(user, ""), "best_on_boards": boards}


def _message_row(message: Message) -> dict:
    row = {"id": message.id, "author": message.author, "kind": message.kind, "body": message.body,
           "sent_at": iso(message.sent_ms)}
    if message.deleted:
        row["deleted_at"] = iso(message.deleted_ms)
    return row


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()
