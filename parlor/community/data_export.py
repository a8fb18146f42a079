"""A person's data, downloaded from /account/data: a zip of their account, games and
conversations, pictures beside them."""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
import zipfile
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import IO

import redis.asyncio as aioredis

from parlor.accounts.usernames import user_key
from parlor.chat.chat import Chat
from parlor.chat.pair_file import Message
from parlor.game.games import Games
from parlor.game.ranking import member_for
from parlor.infra.times import iso_time

ARCHIVE_IN_MEMORY = 1024 * 1024  # a data download smaller than this is built in memory, else on disk
IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}



@dataclass(frozen=True, eq=False)
class DataExport:
    """What one person may download of their own data."""

    redis: aioredis.Redis
    chat: Chat
    games: Games
    executor: Executor

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
            await add("account.json", _json({"username": user, "created_at": iso_time(int(created) * 1000) if created else None,
                                             "exported_at": iso_time(int(time.time() * 1000))}))
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
           "sent_at": iso_time(message.sent_ms)}
    if message.deleted:
        row["deleted_at"] = iso_time(message.deleted_ms)
    if message.reply_to is not None:
        row["reply_to"] = message.reply_to
    if message.edited_ms is not None:
        row["edited_at"] = iso_time(message.edited_ms)  # the text before it is not kept anywhere
    if message.reactions:
        row["reactions"] = [{"emoji": r.emoji, "users": list(r.users)} for r in message.reactions]
    return row


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()
