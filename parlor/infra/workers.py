"""`parlor --workers N`: N forked server processes on one listening socket, supervised.

The parent only forks and watches: a worker that dies is replaced; SIGTERM (or SIGINT) is passed
on to every worker, and the parent exits once they all have. The workers share the data dir's
one embedded Redis (parlor/infra/embedded_redis.py): the first to start runs it, and the last to
stop stops it. A worker that exits with status 1 refused to start (parlor/infra/startup.py), which
another would too: then every worker is stopped and the parent exits 1.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from typing import Callable

log = logging.getLogger("parlor")

MAX_WORKERS = 64  # processes on one port; more cores than this host class has
REFUSED_TO_START = 1  # a worker's exit status for "cannot start here" (server.py's main)
RESTARTS_PER_MINUTE = 10  # workers replaced within a minute before the parent gives up: a crash loop


def worker_count(raw: str) -> int:
    """--workers: a whole number from 1 to MAX_WORKERS, or auto (one per core)."""
    if raw.strip().lower() == "auto":
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))
    if not (raw.strip().isascii() and raw.strip().isdigit() and 1 <= int(raw) <= MAX_WORKERS):
        raise ValueError(f"--workers is a number from 1 to {MAX_WORKERS}, or auto (one per core)")
    return int(raw)


def supervise(count: int, run_worker: Callable[[], None]) -> int:
    """Fork `count` workers, each running run_worker() and exiting; keep that many running until
    SIGTERM or SIGINT; the parent's exit status."""
    workers: set[int] = set()
    stopping = False
    status = 0
    restarts: list[float] = []

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def fork() -> None:
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handlers come with its event loop
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                run_worker()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else REFUSED_TO_START
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 2
            finally:
                logging.shutdown()
                os._exit(code)
        workers.add(pid)
        log.info("started worker %d", pid)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(count):
        fork()
    while workers:
        pid, wait_status = os.wait()
        if pid not in workers:
            continue
        workers.discard(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            continue
        if code == REFUSED_TO_START:
            log.error("worker %d refused to start; stopping the others", pid)
            status = REFUSED_TO_START
            stop()
            continue
        now = time.monotonic()
        restarts = [at for at in restarts if now - at < 60] + [now]
        if len(restarts) > RESTARTS_PER_MINUTE:
            log.error("%d workers died within a minute; stopping", len(restarts))
            status = 2
            stop()
            continue
        log.warning("worker %d exited (%s); starting another", pid, code)
        fork()
    return status
