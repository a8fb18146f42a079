"""A person's data, downloaded from /account/data: a zip of their account, games and
conversations, pictures beside them, made as it is sent.

The zip is written page by page into a pipe the handler empties after each page: one page of
messages (EXPORT_PAGE) and one picture are in memory at once, whatever the history. JSON is
encoded and compressed on the executor's threads, never on the event loop. Downloads are limited
per user (--export-limit)."""
from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass

import redis.asyncio as aioredis

from parlor.accounts.usernames import user_key
from parlor.chat.chat import Chat
from parlor.chat.pair_file import Message
from parlor.game.games import Games
from parlor.game.ranking import user_member
from parlor.infra.times import iso_time
from parlor.safety import Safety

EXPORT_PAGE = 200  # messages read, encoded and compressed at once: at most ~3 MB of the longest
IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


class _Pipe(io.RawIOBase):
    """Where the zip is written: what it holds is taken out and sent after every step."""

    def __init__(self):
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken, self._parts = b"".join(self._parts), []
        return taken


@dataclass(frozen=True, eq=False)
class DataExport:
    """What one person may download of their own data."""

    redis: aioredis.Redis
    chat: Chat
    games: Games
    executor: Executor
    safety: Safety

    async def allow(self, user: str) -> None:
        """Count one download of `user`'s, or Refused (too_many) over their limit."""
        await self.safety.hit("exports", user)

    async def archive(self, user: str) -> AsyncIterator[bytes]:
        """The zip of the user's data, piece by piece: account.json, games.json (finished games,
        best entries), and per conversation conversations/<peer>.json with its pictures beside
        it in conversations/<peer>/."""
        pipe = _Pipe()
        run = asyncio.get_running_loop().run_in_executor
        zipped = zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED)
        try:
            created = await self.redis.hget(user_key(user), "created_at")
            account = {"username": user, "created_at": iso_time(int(created) * 1000) if created else None,
                       "exported_at": iso_time(int(time.time() * 1000))}
            for name, value in (("account.json", account), ("games.json", await self._games_of(user))):
                await run(self.executor, zipped.writestr, name, _json(value))
                yield pipe.take()
            for peer in await self.chat.all_peers(user):
                pictures: list[tuple[int, int]] = []  # (message id, picture id), written after the JSON
                entry = await run(self.executor, lambda: zipped.open(f"conversations/{peer}.json", "w", force_zip64=True))
                await run(self.executor, entry.write, f'{{"peer": {json.dumps(peer)}, "messages": ['.encode())
                first = True
                async for page, types in self.chat.pages(user, peer, EXPORT_PAGE):
                    rows = [_message_row(message, peer, types) for message in page]
                    pictures += [(m.id, m.image_id) for m in page if m.image_id in types]
                    await run(self.executor, _write_rows, entry, rows, first)
                    first = False
                    yield pipe.take()
                await run(self.executor, lambda: (entry.write(b"\n]}\n"), entry.close()))
                for message_id, image_id in pictures:
                    found = await self.chat.image(user, peer, image_id, False)
                    if found is not None:
                        mime, data = found
                        name = picture_name(peer, message_id, mime)
                        await run(self.executor, lambda: zipped.writestr(name, data, compress_type=zipfile.ZIP_STORED))
                        yield pipe.take()
            await run(self.executor, zipped.close)
            yield pipe.take()
        finally:
            zipped.fp = None  # a download left half-way writes nothing more (closing it would)

    async def _games_of(self, user: str) -> dict:
        member = user_member(user)
        boards = []
        for board in self.games.leaderboards.boards:
            entry = await self.games.leaderboards.best(board, member)
            if entry is not None:
                boards.append({"board": board, **entry.as_json()})
        return {"finished_games": await self.games.history(user, ""), "best_on_boards": boards}


def picture_name(peer: str, message_id: int, mime: str) -> str:
    return f"conversations/{peer}/{message_id}.{IMAGE_EXTENSIONS.get(mime, 'bin')}"


def _message_row(message: Message, peer: str, picture_types: dict[int, str]) -> dict:
    """One message as the download gives it (its picture's file named beside it)."""
    row = {"id": message.id, "author": message.author, "kind": message.kind, "body": message.body,
           "sent_at": iso_time(message.sent_ms)}
    if message.image_id in picture_types:
        row["image"] = picture_name(peer, message.id, picture_types[message.image_id])
    if message.deleted:
        row["deleted_at"] = iso_time(message.deleted_ms)
    return row


def _write_rows(entry, rows: list[dict], first: bool) -> None:
    """A page of rows into the conversation's JSON (on the executor: encoding and compressing)."""
    text = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    entry.write((("\n" if first else ",\n") + text).encode())


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()
