"""What server.py and `parlor admin` refuse at start, each with one line saying why: an external
Redis that could lose acknowledged writes, a second data dir on one Redis, a data dir that does
not exist (for the console); and the line `parlor` logs when it makes a new data dir."""
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from parlor.infra.embedded_redis import redis_command, wait_ready_sync
from parlor.infra.redis_binaries import bundled_redis_server
from tests.helpers import ROOT, Browser, ServerProcess

pytestmark = pytest.mark.slow  # real server processes


@pytest.fixture
def folder():
    directory = Path(tempfile.mkdtemp(prefix="parlor-start-", dir="/tmp"))  # short: socket path limit
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def refusal(said: str) -> str:
    """The one log line that says why the server did not start."""
    (line,) = [line for line in said.splitlines() if "not starting:" in line]
    return line


def test_an_external_redis_that_could_lose_writes_is_refused_or_with_warn_only_warned_about(folder):
    redis_dir = folder / "redis"
    redis_dir.mkdir()
    external = subprocess.Popen([*redis_command(bundled_redis_server(), redis_dir), "--appendfsync", "everysec"],
                                stdout=subprocess.DEVNULL)
    url = f"unix://{redis_dir}/redis.sock"
    try:
        wait_ready_sync(url)
        said = refusal(ServerProcess(folder / "data", "--redis-url", url).refused())
        assert "appendfsync is everysec, not always: a crash of its host loses writes Redis had acknowledged" in said
        assert "--redis-durability warn" in said
        server = ServerProcess(folder / "data", "--redis-url", url, "--redis-durability", "warn").start()
        server.stop()
        assert "appendfsync is everysec" in server.log_path.read_text().split("not starting:")[-1]
    finally:
        external.kill()
        external.wait()


def test_a_second_data_dir_on_the_same_redis_refuses_to_start(folder, redis_url, redis_sync):
    first = ServerProcess(folder / "first", "--redis-url", redis_url).start()
    try:
        said = refusal(ServerProcess(folder / "second", "--redis-url", redis_url).refused())
        assert f"this Redis already serves the data dir {socket.gethostname()}:{folder / 'first'}: " in said
        assert "Start every Parlor process with that data dir" in said
        again = ServerProcess(folder / "first", "--redis-url", redis_url).start()  # the same data dir: welcome
        assert Browser(again.url).request("/signup", {"username": "both", "password": "long enough"})[0] == 303
        again.stop()
    finally:
        first.stop()


def test_the_console_refuses_a_data_dir_that_does_not_exist_and_parlor_says_it_makes_one(folder):
    done = subprocess.run([sys.executable, str(ROOT / "server.py"), "admin", "list"], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"parlor admin list: there is no data dir at {folder / 'data'}: give the "
                                   "server's --data-dir (or PARLOR_DATA_DIR), or run this in the folder the server runs in")
    assert not (folder / "data").exists()

    server = ServerProcess(folder / "new").start()
    server.stop()
    assert f"there is no data dir at {folder / 'new'}: starting a new, empty one there" in server.log_path.read_text()
