"""The Redis client Parlor talks through: redis-py's asyncio client, its commands packed by hiredis.

redis-py's synchronous client packs commands with hiredis's C packer when hiredis is installed;
its asyncio client packs them in Python, which for a script call with a few dozen arguments (an
event append) costs more than the round trip. The connections here pack with hiredis.

Every Lua script is a file, parlor/<wing>/lua/<name>.lua beside the code that runs it, registered
on a client by name (register_scripts). A script names its KEYS and ARGV at its top. Code shared
by several scripts is a file whose name starts with `_`, pulled in by a line
`--- @include "<path from the including file's folder>"`, once per script.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from types import SimpleNamespace

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection, UnixDomainSocketConnection, parse_url

# A Redis that is down or restarting: the web layer answers 503, never 500; background jobs try again.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, ConnectionError)


class HiredisPacking:
    """pack_command by hiredis, with redis-py's own first step: a command name with a space in
    it ("CONFIG GET") is split into its words."""

    def pack_command(self, *args) -> list[bytes]:
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]


class PackedConnection(HiredisPacking, Connection):
    pass


class PackedUnixConnection(HiredisPacking, UnixDomainSocketConnection):
    pass


class PackedSSLConnection(HiredisPacking, SSLConnection):
    pass


PARLOR_DIR = Path(__file__).resolve().parent.parent  # parlor/, where every package's lua/ folder is
INCLUDE_RE = re.compile(r'^--- @include "([^"]+)"$', re.M)

PACKED = {Connection: PackedConnection, UnixDomainSocketConnection: PackedUnixConnection,
          SSLConnection: PackedSSLConnection}


def packed_client(url: str, **options) -> aioredis.Redis:
    """A client for redis://, rediss:// or unix:// `url` (strings decoded), with these pool options."""
    settings = {**parse_url(url), **options}
    settings["connection_class"] = PACKED[settings.get("connection_class", Connection)]
    # No CLIENT SETINFO on connect: that is Redis 7.2, and Parlor supports 6.2.
    pool = ConnectionPool(decode_responses=True, driver_info=None, **settings)
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections


def _expanded(path: Path, included: set[Path]) -> str:
    """The Lua at `path`, each include line replaced by its file's expanded source (a file
    already in `included` by nothing)."""
    def include(line: re.Match) -> str:
        target = (path.parent / line.group(1)).resolve()
        if target in included:
            return ""
        included.add(target)
        return _expanded(target, included)
    return INCLUDE_RE.sub(include, path.read_text())


@functools.cache
def lua_source(package: str, name: str) -> str:
    """The script parlor/<wing>/lua/<name>.lua of `package` ("parlor.game", or "parlor" for
    parlor/lua/), its includes expanded: what Redis runs."""
    top, *wing = package.split(".")
    if top != "parlor":
        raise ValueError(f"{package} is not a package of parlor")
    path = PARLOR_DIR.joinpath(*wing, "lua", f"{name}.lua")
    return _expanded(path, {path.resolve()})


def register_scripts(redis: aioredis.Redis, package: str, *names: str) -> SimpleNamespace:
    """The scripts `names` of `package` (a module's __package__) registered on `redis`, each an
    attribute of that name: called with keys= and args=, it runs by EVALSHA and is loaded again
    if the server has forgotten it."""
    return SimpleNamespace(**{name: redis.register_script(lua_source(package, name)) for name in names})


async def answers(client: aioredis.Redis) -> bool:
    """Whether Redis answers a PING now (for /healthz)."""
    try:
        return bool(await client.ping())
    except (redis.RedisError, OSError):
        return False
