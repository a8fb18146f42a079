"""The private redis-server that Parlor starts, watches and stops when no --redis-url is given.

Ownership is a flock on DATA_DIR/redis/owner.lock. The process holding it supervises the Redis:
it starts one (or adopts one that a killed owner left running), restarts it when it dies (the
AOF brings the data back) and stops it on shutdown. Other processes on the same data dir just
use the socket, and take the lock over when the owner goes away. Every Parlor process using it
holds a shared flock on DATA_DIR/redis/users.lock: those are the ones that can take it over, so
the last of them to stop stops the Redis, whatever other clients (redis-cli) are connected.
Which binary runs, and whether it may open the files there: parlor/infra/redis_binaries.py.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from parlor.infra.private_files import PRIVATE_UMASK, private_opener
from parlor.infra.redis_binaries import RedisServer, choose, record

log = logging.getLogger("parlor.redis")

MAX_SOCKET_PATH = 100  # Linux keeps 108 bytes for a unix socket path; refuse longer, clearly
READY_TIMEOUT_S = 60.0  # a large AOF takes a while to load
WATCH_INTERVAL_S = 0.5  # how soon a dead Redis is noticed and restarted
STOP_TIMEOUT_S = 30.0  # SHUTDOWN flushes the AOF; give a big one time to finish
HANDOVER_WAIT_S = 2.0  # siblings that stop at the same moment have let go of Redis by then


def redis_command(binary: str, directory: Path) -> list[str]:
    """The redis-server command line: unix socket only, AOF fsynced on every write, files in directory."""
    directory = directory.resolve()
    socket_path = directory / "redis.sock"
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise RuntimeError(f"the Redis socket path is too long for Linux: {socket_path}")
    return [
        binary,
        "--port", "0",  # no TCP listener: only processes that can reach the socket file get in
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--appendonly", "yes",
        # Written and fsynced before Redis answers, so what it acknowledged (a score, a sign-up)
        # survives a crash of the machine too. With everysec a power cut loses up to a second,
        # and while a slow fsync runs Redis holds new writes in memory for up to two seconds yet
        # answers them: even a killed redis-server then loses writes it had acknowledged.
        "--appendfsync", "always",
        "--save", "",  # the AOF is the durable copy; RDB snapshots would only duplicate it
        "--daemonize", "no",
        "--logfile", str(directory / "redis.log"),
        "--pidfile", str(directory / "redis.pid"),
    ]


def spawn(binary: str, directory: Path) -> subprocess.Popen:
    """Start redis-server in its own session, so a Ctrl-C in the terminal reaches only Parlor."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return subprocess.Popen(
        redis_command(binary, directory),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        umask=PRIVATE_UMASK,  # its AOF and log are Parlor's user's alone, whatever our umask
    )


def wait_ready_sync(url: str, timeout: float = READY_TIMEOUT_S) -> None:
    """Block until the Redis at url answers PING (used by tests and tools outside the loop)."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_timeout=1, retry=SyncRetry(NoBackoff(), 0),
                                  driver_info=None)
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.02)
    finally:
        client.close()


def pid_alive(pid: int) -> bool:
    """Whether pid is a running process (a zombie that exited but was not yet reaped is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


class EmbeddedRedis:
    """A redis-server under data/redis/, shared by every Parlor process on that data dir."""

    def __init__(self, data_dir: Path, binary: str | None = None):
        self.directory = (data_dir / "redis").resolve()
        self.socket_path = self.directory / "redis.sock"
        self.url = f"unix://{self.socket_path}"
        self._wanted = binary  # --redis-server; None: the data dir's own (redis_binaries.choose)
        self.server: RedisServer | None = None  # what this process launches, chosen at its first launch
        self._lock_file = None
        self._users_file = None
        self._child: subprocess.Popen | None = None
        self._adopted_pid: int | None = None
        self._watcher: asyncio.Task | None = None

    @property
    def owner(self) -> bool:
        return self._lock_file is not None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else self._adopted_pid

    async def start(self) -> None:
        """Own and start (or adopt) the Redis, or use the one another process owns; wait for PING.
        CannotStart when the Redis to run would not read the data there."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._users_file = open(self.directory / "users.lock", "a", opener=private_opener)
        fcntl.flock(self._users_file, fcntl.LOCK_SH)  # one of the Parlor processes that can take it over
        try:
            if self._try_lock():
                await self._take_over()
            else:
                log.info("Redis at %s is owned by another Parlor process; using it", self.socket_path)
                await self._wait_ready(take_over_if_free=True)
        except BaseException:
            self._unlock()
            self._users_file.close()
            self._users_file = None
            raise
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop watching; shut Redis down (data saved) unless another process still uses it."""
        if self._watcher:
            self._watcher.cancel()
            self._watcher = None
        if self._users_file:
            self._users_file.close()  # no longer one of its users
            self._users_file = None
        # The owner may have handed Redis over to us just now; if nobody holds it, we are last.
        if not self.owner and not self._try_lock():
            return
        if self._child is None:  # adopted, or being adopted when the watcher was cancelled
            self._adopted_pid = await self._serving_pid()
        deadline = time.monotonic() + HANDOVER_WAIT_S
        while (others := self._other_users()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if others:
            log.info("leaving Redis running for the other Parlor processes on this data dir; one of them takes it over")
            self._child = None  # not ours to reap any more
        else:
            await self._shutdown()
        self._unlock()

    # -- ownership -------------------------------------------------------------------------

    def _try_lock(self) -> bool:
        f = open(self.directory / "owner.lock", "a+", opener=private_opener)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._lock_file = f
        return True

    def _other_users(self) -> bool:
        """Whether another Parlor process uses this Redis (holds users.lock shared)."""
        with open(self.directory / "users.lock", "a", opener=private_opener) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False  # closing the file lets the lock go

    def _unlock(self) -> None:
        if self._lock_file:
            self._lock_file.close()  # closing the file releases the flock
            self._lock_file = None

    async def _take_over(self) -> None:
        """As the new owner: adopt the Redis serving our socket, or start one if none does."""
        pid = await self._serving_pid()
        if pid is None and self._starting_pid() is not None:
            # A redis-server of ours is alive but not listening yet (still starting): wait for it.
            await self._wait_ready(take_over_if_free=False)
            pid = await self._serving_pid()
        if pid is not None:
            log.info("adopting the Redis (pid %d) that a previous Parlor process left running", pid)
            self._child, self._adopted_pid = None, pid
            return
        if self.socket_path.exists():
            log.info("removing a stale Redis socket with no live owner")
            self.socket_path.unlink()
        self._launch()
        await self._wait_ready(take_over_if_free=False)
        record(self.directory, self.server)

    def _launch(self) -> None:
        if self.server is None:
            self.server = choose(self.directory, self._wanted)
        self._adopted_pid = None
        self._child = spawn(self.server.path, self.directory)
        log.info("started %s (pid %d) on %s", self.server, self._child.pid, self.socket_path)

    def _alive(self) -> bool:
        if self._child is not None:
            return self._child.poll() is None
        if self._adopted_pid is not None:
            return pid_alive(self._adopted_pid)
        return False

    async def _watch(self) -> None:
        """Restart a Redis that died; take ownership over when the owning process went away."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                if not self.owner:
                    if self._try_lock():
                        log.info("the owning Parlor process is gone; taking over its Redis")
                        await self._take_over()
                elif not self._alive():
                    log.warning("redis-server (pid %s) died; restarting it", self.pid)
                    if self.socket_path.exists():
                        self.socket_path.unlink()
                    self._launch()
                    await self._wait_ready(take_over_if_free=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not restart redis-server; trying again")

    # -- talking to it ---------------------------------------------------------------------

    def _client(self) -> aioredis.Redis:
        # No retries: these calls poll on their own, and redis-py's default backoff waits seconds.
        return aioredis.Redis(
            unix_socket_path=str(self.socket_path), socket_timeout=2, retry=Retry(NoBackoff(), 0),
            driver_info=None,  # no CLIENT SETINFO (Redis 7.2)
        )

    async def _serving_pid(self) -> int | None:
        """The pid of the Redis listening on our socket; None only if nothing listens there.

        Any other trouble (a slow or loading Redis, "max clients") is waited out or raised,
        never taken as "no Redis": starting a second one on the same AOF would corrupt it.
        """
        try:
            _, writer = await asyncio.open_unix_connection(str(self.socket_path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        writer.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        client = self._client()
        try:
            while True:
                try:
                    return int((await client.info("server"))["process_id"])
                except (redis.RedisError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"something listens on {self.socket_path} but does not answer INFO") from None
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def _starting_pid(self) -> int | None:
        """The pid in redis.pid if that process is a live redis-server."""
        try:
            pid = int((self.directory / "redis.pid").read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"redis-server" in command and pid_alive(pid) else None

    async def _wait_ready(self, take_over_if_free: bool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        client = self._client()
        try:
            while True:
                try:
                    if await client.ping():
                        return
                except (redis.RedisError, OSError):
                    pass
                if self._child is not None and self._child.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited with {self._child.returncode}; see {self.directory}/redis.log"
                    )
                if take_over_if_free and not self.owner and self._try_lock():
                    await self._take_over()
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Redis at {self.socket_path} did not answer PING")
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def _shutdown(self) -> None:
        pid = self.pid
        if pid is None or not self._alive():
            return
        log.info("stopping redis-server (pid %d); the AOF is flushed first", pid)
        os.kill(pid, signal.SIGTERM)  # Redis treats SIGTERM as SHUTDOWN: fsync the AOF, exit
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self._alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._alive():
            log.error("redis-server (pid %d) did not stop in %.0f s; killing it", pid, STOP_TIMEOUT_S)
            os.kill(pid, signal.SIGKILL)
        self._child = None
        self._adopted_pid = None
