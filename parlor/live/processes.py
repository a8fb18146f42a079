"""The server processes that share this Redis, as each process knows them: what lets a process
answer from a copy in its memory (a rendered board) without asking Redis, and still never show a
board older than a write another process has already answered.

The rule, in leases (the times are LeaseTiming's):
- A copy may be answered without asking Redis for lease_s after its version was read from Redis
  (`trusts`), and only while this process is surely in the registry.
- A write that other processes may hold copies of is answered only after lease_s (`after_write`),
  unless this process knows that no other is alive: then the only copies older than the write
  are this process's own, which the writer drops before answering.
- Each process beats every beat_s (`beat`): it registers for ttl_s and learns who else is alive.
  That knowledge counts for fresh_s; a process that joins (or comes back after its registration
  may have lapsed) answers nothing from copies for join_wait_s (>= fresh_s): any writer that
  still believed itself alone has learnt otherwise by then.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable

import redis.asyncio as aioredis

from parlor.infra.redis_client import REDIS_DOWN, register_scripts

log = logging.getLogger("parlor.processes")

REGISTRY_KEY = "parlor:processes"


@dataclass(frozen=True)
class LeaseTiming:
    """The protocol's times, in seconds (the module's docstring says what each one bounds)."""

    beat_s: float = 1.0  # how often a process registers again and reads who is alive
    ttl_s: float = 10.0  # a process that stops beating leaves the registry this long after its last beat
    margin_s: float = 2.0  # a process counts itself registered until ttl_s - margin_s after its last beat
    fresh_s: float = 3.0  # knowing who is alive counts this long after the read was sent
    join_wait_s: float = 3.0  # a process that joins answers nothing from copies for this long (>= fresh_s)
    lease_s: float = 0.05  # a copy is answered without asking Redis this long after its version was read

    def __post_init__(self):
        if self.join_wait_s < self.fresh_s:
            raise ValueError("join_wait_s must be at least fresh_s: a writer could still think it is alone")


class Processes:
    """This process in the registry, and what it knows of the others."""

    def __init__(self, redis: aioredis.Redis, process: str, timing: LeaseTiming = LeaseTiming(),
                 clock: Callable[[], float] = time.monotonic):
        self.process = process
        self.timing = timing
        self.clock = clock
        self._scripts = register_scripts(redis, __package__, "processes_beat")
        self._redis = redis
        self._others: frozenset[str] = frozenset()
        self._known_at = float("-inf")  # when the read that told us `_others` was sent
        self._registered_until = float("-inf")  # surely in the registry until then
        self._trusted_from = float("inf")  # copies whose version was read before this are not answered
        self._left = False

    @property
    def others(self) -> frozenset[str]:
        """The other processes alive at the last beat."""
        return self._others

    async def beat(self) -> None:
        """Register for ttl_s more and learn who is alive (every beat_s, and before serving)."""
        if self._left:
            return
        sent = self.clock()
        try:
            alive = await self._scripts.processes_beat(keys=[REGISTRY_KEY],
                                                   args=[self.process, int(self.timing.ttl_s * 1000)])
        except REDIS_DOWN as e:  # what we knew goes stale by itself: copies and writes wait meanwhile
            log.warning("could not renew this process in the registry: %s", e)
            return
        if self._left:
            return
        if sent >= self._registered_until:  # new, or its registration may have lapsed meanwhile
            self._trusted_from = self.clock() + self.timing.join_wait_s
        self._registered_until = sent + self.timing.ttl_s - self.timing.margin_s
        if sent >= self._known_at:
            self._others, self._known_at = frozenset(alive) - {self.process}, sent

    async def leave(self) -> None:
        """Out of the registry (at shutdown), answering nothing from copies from now on."""
        self._left = True
        self._registered_until, self._trusted_from = float("-inf"), float("inf")
        try:
            await self._redis.zrem(REGISTRY_KEY, self.process)
        except REDIS_DOWN:
            pass  # its claim lapses by itself

    def trusts(self, read_at: float) -> bool:
        """Whether a copy whose version was read from Redis at `read_at` (this clock, when the
        read was sent) may be answered now without asking Redis again."""
        now = self.clock()
        return self._trusted_from <= read_at and now - read_at < self.timing.lease_s and now < self._registered_until

    def alone(self) -> bool:
        """Whether this process surely is the only one that can hold copies now."""
        return not self._others and self.clock() - self._known_at < self.timing.fresh_s

    async def after_write(self) -> None:
        """Returns once no other process can answer from a copy older than a write this process
        has just made: at once when alone, else after one lease."""
        if not self.alone():
            await asyncio.sleep(self.timing.lease_s)
