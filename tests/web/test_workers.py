"""`parlor --workers N`: N server processes on one port, sharing one embedded Redis, supervised:
a worker that dies is replaced, SIGTERM stops them all and then the Redis, and a worker that
cannot start stops the rest."""
import os
import signal
import shutil
import tempfile
from pathlib import Path

import pytest

from parlor.infra.embedded_redis import pid_alive
from tests.helpers import Browser, ServerProcess, redis_pid
from tests.web.test_server_process import wait_for

pytestmark = pytest.mark.slow  # real server processes


@pytest.fixture
def data_dir():
    directory = Path(tempfile.mkdtemp(prefix="parlor-wk-", dir="/tmp"))  # short: socket path limit
    yield directory / "data"
    shutil.rmtree(directory, ignore_errors=True)


def workers_of(parent: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]


def listening_socket(pid: int, port: int) -> set[str]:
    """The socket inodes pid holds that listen on port (from /proc/net/tcp)."""
    listening = {line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"}
    held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    return {inode for inode in listening if f"socket:[{inode}]" in held}


def test_two_workers_share_the_port_and_redis_a_dead_one_is_replaced_and_sigterm_stops_all(data_dir):
    server = ServerProcess(data_dir, "--workers", "2").start()
    try:
        wait_for(lambda: len(workers_of(server.process.pid)) == 2)
        first, second = workers_of(server.process.pid)
        shared = listening_socket(server.process.pid, server.port)
        assert shared and listening_socket(first, server.port) == shared == listening_socket(second, server.port)
        redis = redis_pid(data_dir)
        assert redis not in (first, second) and pid_alive(redis)  # one Redis, run by one of the workers
        assert Browser(server.url).request("/signup", {"username": "keeper", "password": "long enough"})[0] == 303

        os.kill(second, signal.SIGKILL)
        wait_for(lambda: second not in workers_of(server.process.pid) and len(workers_of(server.process.pid)) == 2)
        for _ in range(20):  # whichever worker answers, the account is there
            assert Browser(server.url).request("/login", {"username": "keeper", "password": "long enough"})[0] == 303
        assert redis_pid(data_dir) == redis
        workers = workers_of(server.process.pid)
    finally:
        server.stop()
    assert server.process.returncode == 0
    wait_for(lambda: not any(pid_alive(pid) for pid in [*workers, redis]))
    assert "started worker" in server.log_path.read_text() and "starting another" in server.log_path.read_text()


def test_workers_that_cannot_start_stop_the_supervisor_with_the_reason(data_dir):
    said = ServerProcess(data_dir, "--workers", "2", "--redis-server", "/bin/echo").refused()
    assert "is not a Redis or Valkey server" in said and "refused to start; stopping the others" in said
