"""Live connections per address, on every process together: one address holding hundreds of idle
streams took a whole site (and the nginx in front of it) down. Anonymous connections are held to
a tight limit; all of an address's connections, an account's too, to a wider one, so that a class
behind one address still fits (the numbers and their reasons: --max-connections-per-address and
--max-anonymous-connections-per-address in parlor/infra/config.py).

Each process counts its own connections per address in `live-from:<address>` (a hash: process ->
count, anonymous count, when its claim lapses), renews its claims with the presence heartbeat and
drops them at shutdown; a process that dies stops renewing, and the next join from that address
drops its counts.
"""
from __future__ import annotations

import time

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.refusals import Refused

CLAIM_TTL_S = 15  # a dead process's connections stop counting this long after its last renewal
KEY_TTL_S = 4 * CLAIM_TTL_S  # an address nobody holds a connection from is forgotten after this
CHUNK = 500  # addresses renewed per script call, so Redis is never blocked for long
OVER = {1: "Too many live connections come from your address. Close some pages and reload.",
        2: "Too many live pages are open from your address without an account. Log in, or close some pages."}


def address_key(address: str) -> str:
    return f"live-from:{address}"


class AddressCounts:
    """This process's live connections per address, and the limits all processes share."""

    def __init__(self, redis: aioredis.Redis, process: str, limit: int, anonymous_limit: int):
        self._redis = redis
        self._process = process
        self.limit, self.anonymous_limit = limit, anonymous_limit  # 0: no limit
        self._held: dict[str, list[int]] = {}  # address -> [connections, of them anonymous]
        self._scripts = register_scripts(redis, __package__, "address_join", "address_held")

    @property
    def counting(self) -> bool:
        return bool(self.limit or self.anonymous_limit)

    async def join(self, address: str, anonymous: bool) -> None:
        """Count one more connection from `address`, or Refused (too_many) over its limit."""
        if not self.counting:
            return
        verdict = await self._scripts.address_join(
            keys=[address_key(address)],
            args=[self._process, 1 if anonymous else 0, self.limit, self.anonymous_limit, _ms(CLAIM_TTL_S), _ms(),
                  KEY_TTL_S])
        if verdict:
            raise Refused("too_many", OVER[verdict], retry_after=CLAIM_TTL_S)
        held = self._held.setdefault(address, [0, 0])
        held[0] += 1
        held[1] += anonymous

    async def leave(self, address: str, anonymous: bool) -> None:
        """One connection from `address` fewer."""
        held = self._held.get(address)
        if held is None:
            return
        held[0] -= 1
        held[1] -= anonymous
        if held[0] <= 0:
            del self._held[address]
        await self._set([address], {address: held})

    async def renew(self) -> None:
        """Renew this process's claims on the addresses it holds connections from."""
        addresses = list(self._held)
        for start in range(0, len(addresses), CHUNK):
            await self._set(addresses[start:start + CHUNK], self._held)

    async def leave_all(self) -> None:
        """Drop every count of this process (at shutdown: its clients come back elsewhere)."""
        addresses, self._held = list(self._held), {}
        for start in range(0, len(addresses), CHUNK):
            await self._set(addresses[start:start + CHUNK], {})

    async def _set(self, addresses: list[str], held: dict[str, list[int]]) -> None:
        args = [self._process, _ms(CLAIM_TTL_S), KEY_TTL_S]
        for address in addresses:
            args += held.get(address, [0, 0])
        await self._scripts.address_held(keys=[address_key(a) for a in addresses], args=args)


def _ms(seconds_from_now: float = 0.0) -> int:
    return int((time.time() + seconds_from_now) * 1000)
