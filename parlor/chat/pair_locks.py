"""One asyncio.Lock per pair of users, so that one pair's commit-then-publish steps take turns."""
from __future__ import annotations

import asyncio
import contextlib


class PairLocks:
    """One asyncio.Lock per pair, kept only while a task holds or waits for it: a lock per pair
    ever seen would grow without bound, and dropping one that a task still waits for would let a
    newcomer take a fresh lock and run beside that task (events out of order)."""

    def __init__(self):
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # pair -> tasks holding or waiting for its lock

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, pair: str):
        """The pair's lock, held for the block; tasks of one pair take turns, first come first."""
        lock = self._locks.setdefault(pair, asyncio.Lock())
        self._users[pair] = self._users.get(pair, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[pair] -= 1
            if self._users[pair] == 0:
                del self._users[pair], self._locks[pair]

    async def quiet(self, user: str) -> None:
        """Wait until every task that holds or waits for a lock of `user`'s pairs now has let go."""
        for pair in [pair for pair in self._locks if user in pair.split("_")]:
            async with self.hold(pair):
                pass
