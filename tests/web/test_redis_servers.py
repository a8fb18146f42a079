"""The embedded Redis never starts empty on data another Redis wrote: the data dir records which
Redis owns it, a start uses that one (or one that reads its files), or refuses with the reason."""
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import Browser, ServerProcess
from tests.redis_servers import redis_server

pytestmark = pytest.mark.slow  # real server processes on three kinds of Redis

NO_REDIS_ON_PATH = {"PATH": "/nonexistent"}  # what a host looks like once its redis-server package is gone


@pytest.fixture
def short_tmp():
    directory = Path(tempfile.mkdtemp(prefix="parlor-rs-", dir="/tmp"))  # short: socket path limit
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def signs_in(server: ServerProcess, name: str) -> bool:
    return Browser(server.url).request("/login", {"username": name, "password": "long enough"})[0] == 303


def test_data_of_redis_7_is_never_opened_by_redis_62_and_moves_on_to_valkey(short_tmp):
    data_dir = short_tmp / "data"
    # Debian's Redis 7, as a package that is later removed: a copy of its binary, deleted below.
    package = short_tmp / "package"
    package.mkdir()
    shutil.copy(redis_server("redis-7.0"), package / "redis-server")
    server = ServerProcess(data_dir, "--redis-server", str(package / "redis-server")).start()
    try:
        assert Browser(server.url).request("/signup", {"username": "keeper", "password": "long enough"})[0] == 303
    finally:
        server.stop()
    assert (data_dir / "redis" / "appendonlydir").is_dir()  # Redis 7's files, which 6.2 does not read
    owner = json.loads((data_dir / "redis" / "server.json").read_text())
    assert owner == {"path": str(package / "redis-server"), "family": "redis", "version": "7.0.15"}

    said = ServerProcess(data_dir, "--redis-server", redis_server("redis-6.2")).refused()
    assert "holds the data of Redis 7.0.15" in said and "Redis 6.2.14" in said and "--redis-server PATH" in said
    shutil.rmtree(package)  # the package is gone: the default would be the wheel's 6.2
    said = ServerProcess(data_dir, env=NO_REDIS_ON_PATH).refused()
    assert "holds the data of Redis 7.0.15" in said and "cannot read" in said

    # Valkey reads Redis 7's files; it owns them from then on, and is used without the flag.
    server = ServerProcess(data_dir, "--redis-server", redis_server("valkey-9")).start()
    try:
        assert signs_in(server, "keeper")
    finally:
        server.stop()
    assert json.loads((data_dir / "redis" / "server.json").read_text())["family"] == "valkey"
    server = ServerProcess(data_dir, env=NO_REDIS_ON_PATH).start()
    try:
        assert signs_in(server, "keeper")
    finally:
        server.stop()


def test_redis_62_data_moves_up_to_redis_7(short_tmp):
    data_dir = short_tmp / "data"
    server = ServerProcess(data_dir, "--redis-server", redis_server("redis-6.2")).start()
    try:
        assert Browser(server.url).request("/signup", {"username": "keeper", "password": "long enough"})[0] == 303
    finally:
        server.stop()
    server = ServerProcess(data_dir, "--redis-server", redis_server("redis-7.0")).start()
    try:
        assert signs_in(server, "keeper")
    finally:
        server.stop()
    said = ServerProcess(data_dir, "--redis-server", redis_server("redis-6.2")).refused()
    assert "holds the data of Redis 7.0.15" in said
