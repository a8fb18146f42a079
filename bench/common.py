"""What every benchmark needs: pinned processes, the Parlor server as `make run` starts it, the
bare Tornado baseline, CPU and memory readings, and users made through Parlor's own code."""
from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis.asyncio as aioredis
import tornado.web

from parlor.accounts.accounts import Accounts
from parlor.accounts.sessions import Sessions
from parlor.infra.config import NO_LIMITS, as_flags
from parlor.safety import Safety

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"
XSRF = "0123456789abcdef0123456789abcdef"  # any hex string is a valid (version 1) XSRF token


def two_cores() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pinned(core: str, command: list[str]) -> list[str]:
    """Pin a command to one core where the machine has two or more."""
    return ["taskset", "-c", core, *command] if two_cores() else command


def pin_self_to_load_core() -> None:
    if two_cores():
        os.sched_setaffinity(0, {int(LOAD_CORE)})


def raise_descriptor_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's main thread alone (Parlor's event loop; not its SQLite threads)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(pid)


class LoadMeter:
    """How busy this load generator (and the wrk children it ran) was over a stretch of time."""

    def __init__(self):
        self.started = time.perf_counter()
        self.cpu = self._cpu()

    @staticmethod
    def _cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def busy(self) -> float:
        """CPU seconds used per wall second since this meter started (1.0: a whole core)."""
        return (self._cpu() - self.cpu) / max(1e-9, time.perf_counter() - self.started)


class Processes:
    def __init__(self):
        self.children: list[subprocess.Popen] = []
        self.pids: list[int] = []  # started by a child (an embedded Redis): ended after the children

    def start(self, command: list[str], log: Path) -> subprocess.Popen:
        child = subprocess.Popen(command, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        for pid in self.pids:  # a server killed above leaves its Redis behind
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


class Parlor:
    """A Parlor server process as `make run` starts it (embedded Redis, a fresh data dir), pinned
    to the server core with its Redis."""

    def __init__(self, workdir: Path, processes: Processes, *flags: str, name: str = "parlor",
                 cores: str = SERVER_CORE):
        port = free_port()
        self.data = workdir / "data"
        # For before/after figures: BENCH_PARLOR_ROOT runs the server of another checkout.
        root = os.environ.get("BENCH_PARLOR_ROOT", str(ROOT))
        self.url = f"http://127.0.0.1:{port}"
        self.process = processes.start(pinned(cores, [sys.executable, f"{root}/server.py", "--port",
                                                            str(port), "--data-dir", str(self.data),
                                                            *as_flags(NO_LIMITS), *flags]),
                                       workdir / f"{name}.log")
        wait_http(self.url + "/healthz")
        self.redis_socket = self.data / "redis" / "redis.sock"
        self.redis_url = f"unix://{self.redis_socket}"
        self.redis_pid = int((self.data / "redis" / "redis.pid").read_text())
        processes.pids.append(self.redis_pid)
        self.secret = (self.data / "secret").read_text().strip()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        """The server's (with --workers: its workers' too) and its Redis's CPU seconds so far."""
        workers = [int(pid) for pid in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        return sum(cpu_seconds(pid) for pid in {self.pid, *workers} - {self.redis_pid}) + cpu_seconds(self.redis_pid)

    def server_cpu(self) -> float:
        return cpu_seconds(self.pid)


class Baseline:
    def __init__(self, workdir: Path, processes: Processes, fragment: bytes = b"<p>hi</p>",
                 store: Path | None = None):
        """`store`: a folder where each message is committed to its pair's SQLite file first."""
        fragment_file = workdir / "fragment.html"
        fragment_file.write_bytes(fragment)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        flags = []
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
            flags = ["--store", str(store)]
        self.process = processes.start(pinned(SERVER_CORE, [sys.executable, "-m", "bench.baseline", "--port",
                                                            str(port), "--fragment-file", str(fragment_file), *flags]),
                                       workdir / ("baseline-store.log" if store else "baseline.log"))
        wait_http(self.url + "/fragment")

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


async def make_users(parlor: Parlor, names: list[str], tokens: bool = False) -> list[dict]:
    """Accounts and signed-in sessions (and API tokens) through Parlor's own code, without hashing
    thousands of passwords: {"name", "cookie" (a Cookie header value), "token"}."""
    store = aioredis.Redis.from_url(parlor.redis_url, decode_responses=True)
    accounts, sessions = Accounts(store, None, safety=Safety.unlimited(store)), Sessions(store)
    gate = asyncio.Semaphore(64)

    async def one(name: str) -> dict:
        async with gate:
            await store.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})
            session_id, _ = await sessions.rotate(None, user=name)
            cookie = tornado.web.create_signed_value(parlor.secret, "parlor_session", session_id).decode()
            return {"name": name, "cookie": f"parlor_session={cookie}; _xsrf={XSRF}",
                    "token": await accounts.new_api_token(name) if tokens else None}

    try:
        return list(await asyncio.gather(*(one(name) for name in names)))
    finally:
        await store.aclose()
