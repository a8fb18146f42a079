"""One pair's open chat file: its messages, pictures and read markers, read and written.

Every write of more than one statement runs in chatlog.transaction; a write of one statement is
its own transaction (SQLite commits it, synced, before the statement returns), which saves the
BEGIN and COMMIT trips to the file's thread on the send path.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time

import aiosqlite

from parlor.chat.pair_file import Image, Message, transaction, writes

log = logging.getLogger("parlor.chatlog")

PAGE_SIZE = 50  # messages shown at once
NEWER_THAN_ANY_ID = 2**62  # a message id is a rowid, which SQLite hands out counting from 1: far below this

_MESSAGE_COLUMNS = """m.id, m.author, m.kind, m.body, m.sent_at, m.client_id, m.image_id, i.width, i.height,
    m.deleted_at FROM messages m LEFT JOIN images i ON i.id = m.image_id"""


# Messages by someone other than the reader, after the reader's read marker, not deleted.
_UNREAD = ("SELECT COUNT(*) FROM messages WHERE author != ? AND deleted_at IS NULL AND id > "
           "COALESCE((SELECT last_read_id FROM read_markers WHERE user = ?), 0)")
# A resent form (same author and client_id) inserts nothing and returns no row: the first send
# stands. Another author's client id is theirs alone: it neither finds nor blocks this message.
# Both people's unread counts are read in the same statement, and see the new row.
_INSERT_MESSAGE = ("INSERT INTO messages (client_id, author, kind, body, image_id, sent_at) VALUES (?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT (author, client_id) DO NOTHING RETURNING id, (" + _UNREAD + "), (" + _UNREAD + ")")


def _message(row) -> Message:
    return Message(*row)


class _AlreadyStored(Exception):
    """A resent picture: its transaction rolls back (the new picture goes) and the first send stands."""


class Conversation:
    """One pair's open file; the lock keeps each transaction whole on the shared connection."""

    def __init__(self, key: str, db: aiosqlite.Connection):
        self.key = key
        self.db = db
        self.lock = asyncio.Lock()
        self.users = 0  # operations in flight; a conversation in use is never closed

    async def _fetchall(self, sql: str, args=()):
        async with self.db.execute(sql, args) as cursor:
            return await cursor.fetchall()

    @writes
    async def add(self, author: str, body: str, client_id: str | None, image: Image | None,
                  reader: str | None = None) -> tuple[Message, bool, dict[str, int]]:
        """Store a message (once per client_id); returns it, whether it is new, and how many
        messages each of `reader` (the other person) and `author` has not read, this one included."""
        sent_ms = int(time.time() * 1000)
        if image is None:
            return await self._add_text(author, body, client_id, reader, sent_ms)
        async with self.lock:
            try:
                image_id, message_id, unread = await transaction(
                    self.db, functools.partial(_insert_picture, author, body, client_id, image, reader, sent_ms))
            except _AlreadyStored:
                return await self._resent(author, client_id, reader)
            return Message(message_id, author, "image", body, sent_ms, client_id, image_id,
                           image.width, image.height), True, unread

    async def _add_text(self, author: str, body: str, client_id: str | None, reader: str | None,
                        sent_ms: int) -> tuple[Message, bool, dict[str, int]]:
        """A text message in one statement, so in one trip to the file's thread: the INSERT is its
        own transaction, committed (and synced) before the statement returns its row."""
        async with self.lock:
            rows = await self.db.execute_fetchall(
                _INSERT_MESSAGE, (client_id, author, "text", body, None, sent_ms, reader, reader, author, author))
            if rows:
                (message_id, reader_unread, author_unread), = rows
                return (Message(message_id, author, "text", body, sent_ms, client_id), True,
                        {reader: reader_unread, author: author_unread})
            return await self._resent(author, client_id, reader)

    async def _resent(self, author: str, client_id: str, reader: str | None) -> tuple[Message, bool, dict[str, int]]:
        rows = await self._fetchall(f"SELECT {_MESSAGE_COLUMNS} WHERE m.author = ? AND m.client_id = ?",
                                    (author, client_id))
        unread = {user: (await self._fetchall(_UNREAD, (user, user)))[0][0] for user in (reader, author)}
        return _message(rows[0]), False, unread

    async def page(self, before: int | None = None, limit: int = PAGE_SIZE) -> list[Message]:
        """Up to `limit` messages before id `before` (or the latest), oldest first."""
        async with self.lock:
            rows = await self._fetchall(
                f"SELECT {_MESSAGE_COLUMNS} WHERE m.id < ? ORDER BY m.id DESC LIMIT ?",
                (before if before is not None else NEWER_THAN_ANY_ID, limit))
        return [_message(r) for r in reversed(rows)]

    async def message(self, message_id: int) -> Message | None:
        """The message with this id, or None."""
        async with self.lock:
            rows = await self._fetchall(f"SELECT {_MESSAGE_COLUMNS} WHERE m.id = ?", (message_id,))
        return _message(rows[0]) if rows else None

    async def after(self, after: int, limit: int) -> list[Message]:
        """Up to `limit` messages after id `after`, oldest first."""
        async with self.lock:
            rows = await self._fetchall(f"SELECT {_MESSAGE_COLUMNS} WHERE m.id > ? ORDER BY m.id LIMIT ?",
                                        (after, limit))
        return [_message(r) for r in rows]

    async def picture_types(self, image_ids: list[int]) -> dict[int, str]:
        """The MIME type of each of these pictures (those still stored)."""
        async with self.lock:
            rows = await self._fetchall(f"SELECT id, mime FROM images WHERE id IN ({','.join('?' * len(image_ids))})",
                                        image_ids)
        return dict(rows)

    async def last(self) -> Message | None:
        messages = await self.page(limit=1)
        return messages[0] if messages else None

    async def unread(self, user: str) -> int:
        async with self.lock:
            rows = await self._fetchall(_UNREAD, (user, user))
        return rows[0][0]

    async def read_marker(self, user: str) -> int:
        """The id of the newest message `user` has seen (0: none)."""
        async with self.lock:
            rows = await self._fetchall("SELECT last_read_id FROM read_markers WHERE user = ?", (user,))
        return rows[0][0] if rows else 0

    @writes
    async def mark_read(self, user: str, up_to: int) -> None:
        async with self.lock:
            await transaction(self.db, functools.partial(_mark_read, user, up_to))

    @writes
    async def erase(self, message_id: int, author: str) -> Message | None:
        """Delete a message of `author`: its text and picture leave the file (secure_delete zeroes
        the freed space; the checkpoint moves that into the database file and empties the WAL,
        which still held the old pages). None if the message is not theirs or does not exist."""
        async with self.lock:
            erased = await transaction(self.db, functools.partial(_erase, message_id, author))
            if erased is None:
                return None
            if erased:
                await self._checkpoint()
            rows = await self._fetchall(f"SELECT {_MESSAGE_COLUMNS} WHERE m.id = ?", (message_id,))
        return _message(rows[0])

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (the lock is held)."""
        async with self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
            busy, _, _ = await cursor.fetchone()
        if busy:  # another process is reading an older snapshot; the next checkpoint finishes it
            log.warning("%s: checkpoint after a deletion could not finish; old pages stay in the WAL for now", self.key)

    @writes
    async def rename_user(self, old: str, new: str) -> None:
        """Give `old`'s messages and read marker to `new` (an account left: its ghost name),
        then checkpoint, so the file stands alone (the WAL emptied) before it is renamed."""
        async with self.lock:
            await transaction(self.db, functools.partial(_rename_user, old, new))
            await self._checkpoint()

    async def image(self, image_id: int, thumbnail: bool = False) -> tuple[str, bytes] | None:
        """A picture's type and bytes, or its thumbnail's (a PNG); None if there is no such picture."""
        async with self.lock:
            rows = await self._fetchall(
                "SELECT CASE WHEN ? THEN 'image/png' ELSE mime END, CASE WHEN ? THEN thumbnail ELSE bytes END "
                "FROM images WHERE id = ?", (thumbnail, thumbnail, image_id))
        return (rows[0][0], rows[0][1]) if rows else None


# The work of each transaction above, given the connection by chatlog.transaction.

async def _insert_picture(author: str, body: str, client_id: str | None, image: Image, reader: str | None,
                          sent_ms: int, db: aiosqlite.Connection) -> tuple[int, int, dict[str, int]]:
    """The picture, then its message: (image id, message id, each person's unread count).
    _AlreadyStored for a resent form, which undoes the picture."""
    cursor = await db.execute(
        "INSERT INTO images (mime, width, height, bytes, thumbnail, sha256) VALUES (?, ?, ?, ?, ?, ?)",
        (image.mime, image.width, image.height, image.data, image.thumbnail, image.sha256))
    image_id = cursor.lastrowid
    rows = await db.execute_fetchall(
        _INSERT_MESSAGE, (client_id, author, "image", body, image_id, sent_ms, reader, reader, author, author))
    if not rows:
        raise _AlreadyStored()
    (message_id, reader_unread, author_unread), = rows
    return image_id, message_id, {reader: reader_unread, author: author_unread}


async def _mark_read(user: str, up_to: int, db: aiosqlite.Connection) -> None:
    await db.execute(
        "INSERT INTO read_markers (user, last_read_id) VALUES (?, ?) ON CONFLICT (user) "
        "DO UPDATE SET last_read_id = MAX(last_read_id, excluded.last_read_id)", (user, up_to))


async def _erase(message_id: int, author: str, db: aiosqlite.Connection) -> bool | None:
    """Blank the message and drop its picture: True if it was erased now, False if it was before,
    None if it is not `author`'s or does not exist (nothing written)."""
    async with db.execute("SELECT author, image_id, deleted_at FROM messages WHERE id = ?", (message_id,)) as cursor:
        rows = await cursor.fetchall()
    if not rows or rows[0][0] != author:
        return None
    _, image_id, deleted_at = rows[0]
    if deleted_at is not None:
        return False
    await db.execute("UPDATE messages SET body = '', image_id = NULL, deleted_at = ? WHERE id = ?",
                     (int(time.time() * 1000), message_id))
    if image_id is not None:
        await db.execute("DELETE FROM images WHERE id = ?", (image_id,))
    return True


async def _rename_user(old: str, new: str, db: aiosqlite.Connection) -> None:
    await db.execute("UPDATE messages SET author = ? WHERE author = ?", (new, old))
    await db.execute("UPDATE read_markers SET user = ? WHERE user = ?", (new, old))
