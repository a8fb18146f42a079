"""Chat logs: one SQLite file per pair of users, data/conversations/<a>_<b>.db.

The two usernames are sorted and joined with "_", which no username contains, so two pairs never
share a file and no name can leave the folder. A file is made by the first message, never by a
read. Writes run in BEGIN IMMEDIATE and return only after COMMIT (WAL, synchronous=FULL), so an
acknowledged message survives a crash. Open files are kept in a bounded LRU of connections.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import aiosqlite

log = logging.getLogger("parlor.chatlog")

NAME_RE = re.compile(r"[a-z0-9-]{3,32}")  # canonical usernames only: nothing else reaches a path
DEFAULT_MAX_OPEN = 256  # open files (and aiosqlite threads) at most; the least used close first
BUSY_TIMEOUT_MS = 5000  # another process writing the same file makes us wait this long at most
PAGE_SIZE = 50  # messages shown at once

# Each step brings a file from the version before it to its own number (PRAGMA user_version).
# Version 1 is the tutorial's plain log; version 2 adds idempotent sends, images and read markers;
# version 3 marks deleted messages (their text and picture are gone, the row stays in its place);
# version 4 never hands out a picture's id twice (AUTOINCREMENT: a picture's URL is cached for a
# year, so a deleted picture's id must not come back) and scopes client ids to their author (a
# peer who reuses someone's client id must neither see their message nor lose it).
# Steps run with foreign keys off (version 4 rebuilds a table that messages refer to).
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE messages (
               id INTEGER PRIMARY KEY,
               author TEXT NOT NULL,
               body TEXT NOT NULL,
               sent_at INTEGER NOT NULL)""",
    ],
    2: [
        """CREATE TABLE images (
               id INTEGER PRIMARY KEY,
               mime TEXT NOT NULL,
               width INTEGER NOT NULL,
               height INTEGER NOT NULL,
               bytes BLOB NOT NULL,
               thumbnail BLOB NOT NULL,
               sha256 TEXT NOT NULL)""",
        "ALTER TABLE messages ADD COLUMN client_id TEXT",
        "ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'image'))",
        "ALTER TABLE messages ADD COLUMN image_id INTEGER REFERENCES images(id)",
        "CREATE UNIQUE INDEX messages_client_id ON messages(client_id)",
        """CREATE TABLE read_markers (
               user TEXT PRIMARY KEY,
               last_read_id INTEGER NOT NULL)""",
    ],
    3: [
        "ALTER TABLE messages ADD COLUMN deleted_at INTEGER",
    ],
    4: [
        """CREATE TABLE images_v4 (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               mime TEXT NOT NULL,
               width INTEGER NOT NULL,
               height INTEGER NOT NULL,
               bytes BLOB NOT NULL,
               thumbnail BLOB NOT NULL,
               sha256 TEXT NOT NULL)""",
        "INSERT INTO images_v4 SELECT id, mime, width, height, bytes, thumbnail, sha256 FROM images",
        # Ids of pictures deleted before this version are not in the table any more. Each picture
        # came with a message and messages are never removed, so none was above the newest message.
        "DELETE FROM sqlite_sequence WHERE name = 'images_v4'",
        """INSERT INTO sqlite_sequence (name, seq) VALUES ('images_v4', MAX(
               COALESCE((SELECT MAX(id) FROM messages), 0), COALESCE((SELECT MAX(id) FROM images), 0)))""",
        "DROP TABLE images",
        "ALTER TABLE images_v4 RENAME TO images",  # sqlite_sequence follows the new name
        "DROP INDEX messages_client_id",
        "CREATE UNIQUE INDEX messages_author_client_id ON messages(author, client_id)",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)


class StorageFailed(Exception):
    """A chat file could not be written (the disk is full or failing); nothing was stored."""


# SQLite's primary result codes for a disk that refused: full, an I/O error, a file it cannot make.
STORAGE_FAILURES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})


@contextlib.contextmanager
def _storage_failures():
    """Turn SQLite's "the disk refused" errors into StorageFailed."""
    try:
        yield
    except sqlite3.Error as e:
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in STORAGE_FAILURES:
            raise StorageFailed(str(e)) from e
        raise


def _writes(method):
    """A write of a Conversation: a disk that refuses it raises StorageFailed."""
    @functools.wraps(method)
    async def write(*args, **kwargs):
        with _storage_failures():
            return await method(*args, **kwargs)
    return write


class BadPair(ValueError):
    """Two names that do not make a conversation (not canonical usernames, or the same one)."""


def pair_key(a: str, b: str) -> str:
    """The pair's file stem: the two names sorted, joined by "_"; BadPair for anything else."""
    if not (isinstance(a, str) and isinstance(b, str) and NAME_RE.fullmatch(a) and NAME_RE.fullmatch(b)):
        raise BadPair("not a pair of usernames")
    if a == b:
        raise BadPair("a conversation needs two people")
    return "_".join(sorted((a, b)))


@dataclass(frozen=True)
class Image:
    """An image as it is stored: re-encoded, with a thumbnail."""

    mime: str
    width: int
    height: int
    data: bytes
    thumbnail: bytes
    sha256: str


@dataclass(frozen=True)
class Message:
    id: int
    author: str
    kind: str  # text | image
    body: str
    sent_ms: int
    client_id: str | None = None
    image_id: int | None = None
    width: int | None = None
    height: int | None = None
    deleted_ms: int | None = None  # set once its author deleted it: body and picture are gone

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.sent_ms / 1000, timezone.utc)

    @property
    def deleted(self) -> bool:
        return self.deleted_ms is not None


_MESSAGE_COLUMNS = """m.id, m.author, m.kind, m.body, m.sent_at, m.client_id, m.image_id, i.width, i.height,
    m.deleted_at FROM messages m LEFT JOIN images i ON i.id = m.image_id"""


# Messages by someone other than the reader, after the reader's read marker.
_UNREAD = ("SELECT COUNT(*) FROM messages WHERE author != ? AND id > "
           "COALESCE((SELECT last_read_id FROM read_markers WHERE user = ?), 0)")
# A resent form (same author and client_id) inserts nothing and returns no row: the first send
# stands. Another author's client id is theirs alone: it neither finds nor blocks this message.
# The reader's unread count is read in the same statement and sees the new row.
_INSERT_MESSAGE = ("INSERT INTO messages (client_id, author, kind, body, image_id, sent_at) VALUES (?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT (author, client_id) DO NOTHING RETURNING id, (" + _UNREAD + ")")


def _message(row) -> Message:
    return Message(*row)


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

    @_writes
    async def _write(self, statements):
        """Run (sql, args) pairs in one BEGIN IMMEDIATE transaction; return the last cursor's rowid."""
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                last = None
                for sql, args in statements:
                    cursor = await self.db.execute(sql, args)
                    last = cursor.lastrowid
                await self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite rolls back by itself on some errors (a full disk)
                    await self.db.execute("ROLLBACK")
                raise
            return last

    @_writes
    async def add(self, author: str, body: str, client_id: str | None, image: Image | None,
                  reader: str | None = None) -> tuple[Message, bool, int]:
        """Store a message (once per client_id); returns it, whether it is new, and how many
        messages `reader` (the other person) has not read, this one included."""
        sent_ms = int(time.time() * 1000)
        if image is None:
            return await self._add_text(author, body, client_id, reader, sent_ms)
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self.db.execute(
                    "INSERT INTO images (mime, width, height, bytes, thumbnail, sha256) VALUES (?, ?, ?, ?, ?, ?)",
                    (image.mime, image.width, image.height, image.data, image.thumbnail, image.sha256))
                image_id = cursor.lastrowid
                # A resent form (same client_id) inserts nothing: the first send stands.
                rows = await self.db.execute_fetchall(
                    _INSERT_MESSAGE, (client_id, author, "image", body, image_id, sent_ms, reader, reader))
                await self.db.execute("COMMIT" if rows else "ROLLBACK")
            except BaseException:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                raise
            if rows:
                (message_id, unread), = rows
                return Message(message_id, author, "image", body, sent_ms, client_id, image_id,
                               image.width, image.height), True, unread
            return await self._resent(author, client_id, reader)

    async def _add_text(self, author: str, body: str, client_id: str | None, reader: str | None,
                        sent_ms: int) -> tuple[Message, bool, int]:
        """A text message in one statement, so in one trip to the file's thread: the INSERT is its
        own transaction, committed (and synced) before the statement returns its row."""
        async with self.lock:
            rows = await self.db.execute_fetchall(
                _INSERT_MESSAGE, (client_id, author, "text", body, None, sent_ms, reader, reader))
            if rows:
                (message_id, unread), = rows
                return Message(message_id, author, "text", body, sent_ms, client_id), True, unread
            return await self._resent(author, client_id, reader)

    async def _resent(self, author: str, client_id: str, reader: str | None) -> tuple[Message, bool, int]:
        rows = await self._fetchall(f"SELECT {_MESSAGE_COLUMNS} WHERE m.author = ? AND m.client_id = ?",
                                    (author, client_id))
        unread = await self._fetchall(_UNREAD, (reader, reader))
        return _message(rows[0]), False, unread[0][0]

    async def page(self, before: int | None = None, limit: int = PAGE_SIZE) -> list[Message]:
        """Up to `limit` messages before id `before` (or the latest), oldest first."""
        async with self.lock:
            rows = await self._fetchall(
                f"SELECT {_MESSAGE_COLUMNS} WHERE m.id < ? ORDER BY m.id DESC LIMIT ?",
                (before if before is not None else 2**62, limit))
        return [_message(r) for r in reversed(rows)]

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

    async def mark_read(self, user: str, up_to: int) -> None:
        await self._write([(
            "INSERT INTO read_markers (user, last_read_id) VALUES (?, ?) ON CONFLICT (user) "
            "DO UPDATE SET last_read_id = MAX(last_read_id, excluded.last_read_id)", (user, up_to))])

    @_writes
    async def erase(self, message_id: int, author: str) -> Message | None:
        """Delete a message of `author`: its text and picture leave the file (secure_delete zeroes
        the freed space; the checkpoint moves that into the database file and empties the WAL,
        which still held the old pages). None if the message is not theirs or does not exist."""
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                rows = await self._fetchall(
                    "SELECT author, image_id, deleted_at FROM messages WHERE id = ?", (message_id,))
                if not rows or rows[0][0] != author:
                    await self.db.execute("ROLLBACK")
                    return None
                _, image_id, deleted_at = rows[0]
                if deleted_at is None:
                    await self.db.execute(
                        "UPDATE messages SET body = '', image_id = NULL, deleted_at = ? WHERE id = ?",
                        (int(time.time() * 1000), message_id))
                    if image_id is not None:
                        await self.db.execute("DELETE FROM images WHERE id = ?", (image_id,))
                await self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                raise
            if deleted_at is None:
                await self._checkpoint()
            rows = await self._fetchall(f"SELECT {_MESSAGE_COLUMNS} WHERE m.id = ?", (message_id,))
        return _message(rows[0])

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (the lock is held)."""
        async with self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
            busy, _, _ = await cursor.fetchone()
        if busy:  # another process is reading an older snapshot; the next checkpoint finishes it
            log.warning("%s: checkpoint after a deletion could not finish; old pages stay in the WAL for now", self.key)

    @_writes
    async def rename_user(self, old: str, new: str) -> None:
        """Give `old`'s messages and read marker to `new` (an account left: its ghost name),
        then checkpoint, so the file stands alone (the WAL emptied) before it is renamed."""
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                await self.db.execute("UPDATE messages SET author = ? WHERE author = ?", (new, old))
                await self.db.execute("UPDATE read_markers SET user = ? WHERE user = ?", (new, old))
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self._checkpoint()

    async def image(self, image_id: int, thumbnail: bool = False) -> tuple[str, bytes] | None:
        column = "thumbnail" if thumbnail else "bytes"
        async with self.lock:
            rows = await self._fetchall(
                f"SELECT CASE WHEN ? THEN 'image/png' ELSE mime END, {column} FROM images WHERE id = ?",
                (thumbnail, image_id))
        return (rows[0][0], rows[0][1]) if rows else None


class ChatLogs:
    """The conversations folder, with a bounded LRU of open files."""

    def __init__(self, directory: Path, max_open: int = DEFAULT_MAX_OPEN):
        self.directory = directory
        self.max_open = max_open
        self._open: OrderedDict[str, Conversation] = OrderedDict()
        self._opening: dict[str, asyncio.Future] = {}
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def open_count(self) -> int:
        return len(self._open)

    def path(self, a: str, b: str) -> Path:
        return self.directory / f"{pair_key(a, b)}.db"

    def exists(self, a: str, b: str) -> bool:
        """Whether the pair has a file. One open here has (a file is closed before it is moved
        or removed): the disk is asked only about the others."""
        return pair_key(a, b) in self._open or self.path(a, b).exists()

    @contextlib.asynccontextmanager
    async def conversation(self, a: str, b: str, create: bool = False):
        """The pair's conversation while in use, or None if it has no file and create is False."""
        key = pair_key(a, b)
        with _storage_failures():
            conversation = await self._get(key, create)
        if conversation is None:
            yield None
            return
        conversation.users += 1
        try:
            yield conversation
        finally:
            conversation.users -= 1
            self._evict()

    async def _get(self, key: str, create: bool) -> Conversation | None:
        conversation = self._open.get(key)
        if conversation is not None:
            self._open.move_to_end(key)
            return conversation
        pending = self._opening.get(key)
        if pending is not None:  # someone is opening it right now: share their connection
            await asyncio.shield(pending)
            return await self._get(key, create)
        path = self.directory / f"{key}.db"
        if not create and _empty(path):
            return None
        self._opening[key] = asyncio.get_running_loop().create_future()
        try:
            db = await _connect(path, create)
            conversation = Conversation(key, db)
            self._open[key] = conversation
            return conversation
        except sqlite3.OperationalError:
            if not create and not path.exists():  # deleted between the check and the open
                return None
            raise
        finally:
            self._opening.pop(key).set_result(None)

    def _evict(self) -> None:
        """Close the least used idle files beyond the limit."""
        if len(self._open) <= self.max_open:
            return
        for key in list(self._open):
            if len(self._open) <= self.max_open:
                break
            conversation = self._open[key]
            if conversation.users == 0 and not conversation.lock.locked():
                del self._open[key]
                asyncio.get_running_loop().create_task(conversation.db.close())

    def keys_of(self, user: str) -> list[str]:
        """The file stems of every conversation of `user` (found on disk: a file made without a
        message is theirs too)."""
        if not NAME_RE.fullmatch(user):
            raise BadPair("not a username")
        paths = [*self.directory.glob(f"{user}_*.db"), *self.directory.glob(f"*_{user}.db")]
        return sorted({path.stem for path in paths})

    async def close(self, key: str) -> None:
        """Close a pair's file in this process (it is about to be renamed or removed)."""
        conversation = self._open.pop(key, None)
        if conversation is not None:
            async with conversation.lock:
                await conversation.db.close()

    async def close_user(self, user: str) -> None:
        """Close every file of `user` this process holds (their account was deleted elsewhere)."""
        for key in [k for k in self._open if user in k.split("_")]:
            await self.close(key)

    async def move(self, a: str, b: str, new_a: str) -> None:
        """Rename the pair's file to the pair (new_a, b): closed here first, checkpointed before."""
        await self.close(pair_key(a, b))
        old, new = self.path(a, b), self.path(new_a, b)
        for suffix in ("", "-wal", "-shm"):
            source = old.with_name(old.name + suffix)
            if source.exists():
                os.replace(source, new.with_name(new.name + suffix))

    async def remove(self, a: str, b: str) -> None:
        """Delete the pair's file (and its WAL and shared memory)."""
        await self.close(pair_key(a, b))
        path = self.path(a, b)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    async def close_all(self) -> None:
        conversations, self._open = list(self._open.values()), OrderedDict()
        for conversation in conversations:
            async with conversation.lock:
                await conversation.db.close()


def _empty(path: Path) -> bool:
    """No file, or one that holds nothing (its making failed, say on a full disk): for a reader,
    no conversation yet."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


async def _connect(path: Path, create: bool) -> aiosqlite.Connection:
    """Open a pair's file, make it durable, and bring its schema up to date."""
    uri = f"file:{path}?mode={'rwc' if create else 'rw'}"
    db = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")  # an acknowledged message is on disk
        await db.execute("PRAGMA secure_delete = ON")  # a deleted message's bytes are overwritten
        await _migrate(db)
        await db.execute("PRAGMA foreign_keys = ON")  # after the migration, which rebuilds a table
    except BaseException:
        await db.close()
        raise
    return db


async def _migrate(db: aiosqlite.Connection) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction (a crash leaves the old version whole);
    another process opening the same file waits for it and then finds nothing left to do."""
    async with db.execute("PRAGMA user_version") as cursor:
        version = (await cursor.fetchone())[0]
    if version >= SCHEMA_VERSION:
        return
    await db.execute("BEGIN IMMEDIATE")  # another process may be migrating the same file
    try:
        async with db.execute("PRAGMA user_version") as cursor:
            version = (await cursor.fetchone())[0]
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                await db.execute(statement)
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise
