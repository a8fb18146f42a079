"""The folder of pair files: which pairs have a file, a bounded LRU of open ones, moving and removing them."""
from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections import OrderedDict
from pathlib import Path

from parlor.chat.conversation import Conversation
from parlor.chat.pair_file import NAME_RE, BadPair, connect, pair_key, storage_failures
from parlor.infra.private_files import private_dir
from parlor.refusals import Refused
from parlor.safety import UNDELIVERABLE

DEFAULT_MAX_OPEN = 256  # open files (and aiosqlite threads) at most; the least used close first
# A leaving account's files are not opened from when its deletion begins until it is done (the
# "left" notice), or for this long if that notice never comes: far longer than any deletion
# takes, far shorter than the 30 days its name is reserved.
BARRED_S = 600


class PairFiles:
    """The conversations folder, with a bounded LRU of open files."""

    def __init__(self, directory: Path, max_open: int = DEFAULT_MAX_OPEN):
        self.directory = directory
        self.max_open = max_open
        self._open: OrderedDict[str, Conversation] = OrderedDict()
        self._opening: dict[str, asyncio.Future] = {}
        self._barred: dict[str, float] = {}  # leaving user -> until when (monotonic) their files stay shut
        private_dir(directory)  # who talks to whom is in the names of the files

    @property
    def open_count(self) -> int:
        return len(self._open)

    def path(self, a: str, b: str) -> Path:
        return self.directory / f"{pair_key(a, b)}.db"

    def exists(self, a: str, b: str) -> bool:
        """Whether the pair has a file. One open here has (a file is closed before it is moved
        or removed): the disk is asked only about the others."""
        return pair_key(a, b) in self._open or self.path(a, b).exists()

    def bar(self, user: str) -> None:
        """`user` is leaving: their files are opened here no more (see BARRED_S)."""
        now = time.monotonic()
        self._barred = {name: until for name, until in self._barred.items() if until > now}
        self._barred[user] = now + BARRED_S

    def unbar(self, user: str) -> None:
        """`user`'s deletion is done: their name's pairs open again."""
        self._barred.pop(user, None)

    def _is_barred(self, a: str, b: str) -> bool:
        now = time.monotonic()
        return self._barred.get(a, 0) > now or self._barred.get(b, 0) > now

    @contextlib.asynccontextmanager
    async def conversation(self, a: str, b: str, create: bool = False, moving: bool = False):
        """The pair's conversation while in use, or None if it has no file and create is False.
        A leaving account's pair (bar) is no conversation, and making it is refused, but for the
        deletion's own move (moving=True): no write lands in a file after it moved, and no file
        is made anew under a name that is no account."""
        key = pair_key(a, b)
        if not moving and self._is_barred(a, b):
            if create:
                raise Refused("forbidden", UNDELIVERABLE)
            yield None
            return
        with storage_failures():
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
            db = await connect(path, create)
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
