"""parlor-backup DEST: a copy of a data dir taken while Parlor runs, laid out as a data dir.

- every chat file with SQLite's `VACUUM INTO`: a consistent snapshot that writers do not wait
  for (WAL), checked with `PRAGMA integrity_check`;
- the embedded Redis's append-only file (`redis/appendonly.aof`, or `redis/appendonlydir/` from
  Redis 7 on), copied while no rewrite replaces it; an append-only file is valid up to any point,
  and Redis loads one whose last command was cut off (`aof-load-truncated`, on by default);
- the record of which Redis owns those files (`redis/server.json`), so a restore runs one that reads them;
- the cookie secret, so sessions and signed links stay valid after a restore, and the data dir's
  identity, which its Redis names (parlor/infra/startup.py).

Redis is copied first, the chat files after it: the two are seconds apart, not one snapshot.
To restore, stop Parlor and start it with `--data-dir DEST` (or move DEST to the data dir).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import redis

from parlor.infra.private_files import PRIVATE_UMASK, tighten
from parlor.infra.redis_binaries import RECORD
from parlor.infra.startup import IDENTITY_FILE

BUSY_TIMEOUT_MS = 10_000  # a writer holds a chat file for about a millisecond per message
REWRITE_WAIT_S = 120.0  # a rewrite of a big AOF takes a while; copying during one is pointless
AOF_COPY_TRIES = 5  # a rewrite that starts during a copy of appendonlydir/ means copying again


class BackupError(Exception):
    pass


def backup(data_dir: Path, dest: Path, log=print) -> dict[str, int]:
    """Copy data_dir's state into dest (new or empty); returns what was copied."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        raise BackupError(f"{data_dir} is not a data dir")
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty; a backup goes into a new folder")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    counts = {"redis_files": 0, "conversations": 0}
    if (data_dir / "redis").is_dir():
        counts["redis_files"] = copy_redis(data_dir / "redis", dest / "redis")
        log(f"redis: {counts['redis_files']} append-only file(s)")
    else:
        log("redis: not embedded here (--redis-url); back it up where it runs")
    for source in sorted((data_dir / "conversations").glob("*.db")):
        copy_chat_file(source, dest / "conversations" / source.name)
        counts["conversations"] += 1
    log(f"conversations: {counts['conversations']} file(s), each passed integrity_check")
    for name in ("secret", IDENTITY_FILE):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, dest / name)
    tighten(dest)  # the copy is as private as the data dir, whatever the umask
    return counts


def copy_chat_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = sqlite3.connect(source, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("VACUUM INTO ?", (str(target),))
    finally:
        db.close()
    copy = sqlite3.connect(target)
    try:
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
    if verdict != "ok":
        raise BackupError(f"the copy of {source.name} failed integrity_check: {verdict}")


def copy_redis(redis_dir: Path, target: Path) -> int:
    """Copy the AOF once no rewrite is running (and again if one started meanwhile)."""
    client = redis.Redis(unix_socket_path=str(redis_dir / "redis.sock"), socket_timeout=5, decode_responses=True)
    try:
        for _ in range(AOF_COPY_TRIES):
            _wait_no_rewrite(client)
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True, mode=0o700)
            copied = _copy_aof(redis_dir, target)
            if not _rewriting(client):
                return copied
        raise BackupError("Redis kept rewriting its AOF during the copy; try again later")
    finally:
        client.close()


def _copy_aof(redis_dir: Path, target: Path) -> int:
    if (redis_dir / RECORD).exists():
        shutil.copy2(redis_dir / RECORD, target / RECORD)
    if (redis_dir / "appendonlydir").is_dir():  # Redis 7+: base, increments and a manifest
        shutil.copytree(redis_dir / "appendonlydir", target / "appendonlydir")
        return sum(1 for _ in (target / "appendonlydir").iterdir())
    if (redis_dir / "appendonly.aof").exists():
        shutil.copyfile(redis_dir / "appendonly.aof", target / "appendonly.aof")
        return 1
    raise BackupError(f"no append-only file in {redis_dir}")


def _rewriting(client: redis.Redis) -> bool:
    try:
        info = client.info("persistence")
    except (redis.RedisError, OSError):
        return False  # Redis is not running: its files are not changing either
    return bool(info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled"))


def _wait_no_rewrite(client: redis.Redis) -> None:
    deadline = time.monotonic() + REWRITE_WAIT_S
    while _rewriting(client):
        if time.monotonic() > deadline:
            raise BackupError("Redis is still rewriting its AOF; try again later")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="parlor-backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="a new (or empty) folder for the copy")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="the running Parlor's data dir")
    args = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)  # every copy is made private to this user
    try:
        backup(args.data_dir, args.dest)
    except (BackupError, sqlite3.Error, OSError) as e:
        sys.exit(f"parlor-backup: {e}")


if __name__ == "__main__":
    main()
