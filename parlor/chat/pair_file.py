"""A chat file: one SQLite file per pair of users, data/conversations/<a>_<b>.db.

The two usernames are sorted and joined with "_", which no username contains, so two pairs never
share a file and no name can leave the folder. A file is opened durable (WAL, synchronous=FULL)
and brought to the current schema; a write of several statements runs in `transaction`, so it
returns only after COMMIT and an acknowledged message survives a crash. This module also holds
the rows a file stores (Message, Image). parlor/chat/conversation.py reads and writes one open file;
parlor/chat/pair_files.py keeps the folder and its bounded LRU of open files.
"""
from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import aiosqlite

from parlor.infra.private_files import create_private_file

NAME_RE = re.compile(r"[a-z0-9-]{3,32}")  # canonical usernames only: nothing else reaches a path
BUSY_TIMEOUT_MS = 5000  # another process writing the same file makes us wait this long at most

# A picture's columns after its id. Versions 2 and 4 both make the table from them: never change
# them (add a step instead), or files made at different versions would differ.
_IMAGE_COLUMNS = """
               mime TEXT NOT NULL,
               width INTEGER NOT NULL,
               height INTEGER NOT NULL,
               bytes BLOB NOT NULL,
               thumbnail BLOB NOT NULL,
               sha256 TEXT NOT NULL"""

# The search index: FTS5 over messages.body (an external-content table: it keeps the words'
# positions, never a copy of the text), kept in step by triggers, so that whatever changes a body
# (a send, an edit, a deletion blanking it) changes the index in the same transaction. Words an
# edit or a deletion took away are not only unfound but gone from the file: 'optimize' rewrites
# the index without them (FTS5 otherwise leaves them in old segments until a merge), and
# secure_delete zeroes the pages it frees. unicode61 with remove_diacritics 2: "cafe" finds "café".
SEARCH_INDEX = [
    """CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id',
           tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
           INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
       END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
           INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
           INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
           INSERT INTO messages_fts (messages_fts) VALUES ('optimize');
       END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
           INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
           INSERT INTO messages_fts (messages_fts) VALUES ('optimize');
       END""",
]

# Each step brings a file from the version before it to its own number (PRAGMA user_version).
# Version 1 is the tutorial's plain log; version 2 adds idempotent sends, images and read markers;
# version 3 marks deleted messages (their text and picture are gone, the row stays in its place);
# version 4 never hands out a picture's id twice (AUTOINCREMENT: a picture's URL is cached for a
# year, so a deleted picture's id must not come back) and scopes client ids to their author (a
# peer who reuses someone's client id must neither see their message nor lose it).
# Version 5 adds replies (the message answered), edits (when; the old text is overwritten, not
# kept) and reactions (one row per person, emoji and message); version 6 adds the search index
# (SEARCH_INDEX above) and fills it with the messages the file holds.
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
        f"CREATE TABLE images (id INTEGER PRIMARY KEY,{_IMAGE_COLUMNS})",
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
        f"CREATE TABLE images_v4 (id INTEGER PRIMARY KEY AUTOINCREMENT,{_IMAGE_COLUMNS})",
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
    5: [
        "ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages(id)",
        "ALTER TABLE messages ADD COLUMN edited_at INTEGER",
        """CREATE TABLE reactions (
               message_id INTEGER NOT NULL REFERENCES messages(id),
               user TEXT NOT NULL,
               emoji TEXT NOT NULL,
               reacted_at INTEGER NOT NULL,
               PRIMARY KEY (message_id, user, emoji)) WITHOUT ROWID""",
    ],
    6: [
        *SEARCH_INDEX,
        "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",  # the messages already held
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)


class StorageFailed(Exception):
    """A chat file could not be written (the disk is full or failing); nothing was stored."""


# SQLite's primary result codes for a disk that refused: full, an I/O error, a file it cannot make.
STORAGE_FAILURES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})


@contextlib.contextmanager
def storage_failures():
    """Turn SQLite's "the disk refused" errors into StorageFailed."""
    try:
        yield
    except sqlite3.Error as e:
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in STORAGE_FAILURES:
            raise StorageFailed(str(e)) from e
        raise


def writes(method):
    """A write of a Conversation: a disk that refuses it raises StorageFailed."""
    @functools.wraps(method)
    async def write(*args, **kwargs):
        with storage_failures():
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
class Quote:
    """The message a reply answers, as the reply shows it."""

    id: int
    author: str
    kind: str  # text | image
    snippet: str  # its first line, cut short ('' for a picture without a caption, or when deleted)
    deleted: bool


@dataclass(frozen=True)
class Reaction:
    """One emoji on a message and who put it there, first first."""

    emoji: str
    users: tuple[str, ...]


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
    reply_to: int | None = None  # the id of the message it answers
    edited_ms: int | None = None  # set when its author last changed its text (the old text is gone)
    quote: Quote | None = None  # the message it answers, as shown above it
    reactions: tuple[Reaction, ...] = ()

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.sent_ms / 1000, timezone.utc)

    @property
    def deleted(self) -> bool:
        return self.deleted_ms is not None

    @property
    def edited_at(self) -> datetime | None:
        return None if self.edited_ms is None else datetime.fromtimestamp(self.edited_ms / 1000, timezone.utc)


T = TypeVar("T")


async def transaction(db: aiosqlite.Connection, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
    """Run `work(db)` in BEGIN IMMEDIATE ... COMMIT and return its result; any exception rolls
    back and is raised (a disk that refused: StorageFailed). The caller holds the file's lock."""
    with storage_failures():
        await db.execute("BEGIN IMMEDIATE")  # the write lock now: no other process slips in between
        try:
            result = await work(db)
            await db.execute("COMMIT")
        except BaseException:
            # SQLite ends the transaction itself on some errors (a full disk, an I/O error): a
            # ROLLBACK then would fail and hide the error that matters.
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise
        return result


async def connect(path: Path, create: bool) -> aiosqlite.Connection:
    """Open a pair's file, make it durable, and bring its schema up to date."""
    if create:
        create_private_file(path)  # whatever the umask; SQLite gives -wal and -shm the same mode
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
    await transaction(db, _migrate_steps)  # another process may be migrating the same file


async def _migrate_steps(db: aiosqlite.Connection) -> None:
    """The steps from the file's version (read again: another process may have migrated it while
    we waited for the lock) to SCHEMA_VERSION."""
    async with db.execute("PRAGMA user_version") as cursor:
        version = (await cursor.fetchone())[0]
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[step]:
            await db.execute(statement)
    await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
