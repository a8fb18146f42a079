"""What must hold before a server process serves; each check refuses to start with one line saying why."""
from __future__ import annotations

import logging
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis

from parlor.infra.config import kept_in_file

log = logging.getLogger("parlor")

# The data dir this Redis serves: "<identity> <host>:<path>". Two data dirs on one Redis (a second
# host) would break each other: one's published markers hide the other's pushes, histories and
# unread counts diverge, and each refuses the other's sessions (two cookie secrets).
DATA_DIR_KEY = "parlor:data-dir"
IDENTITY_FILE = "identity"  # in the data dir: made once, copied by parlor-backup
IDENTITY_BYTES = 16  # random, only compared: two data dirs never share one by chance
# An external Redis's settings under which a write Redis acknowledged stays: each setting, what it
# must be, and what is lost otherwise.
DURABLE_SETTINGS = {
    "appendonly": ("yes", "a restart of Redis loses every write since its last snapshot"),
    "appendfsync": ("always", "a crash of its host loses writes Redis had acknowledged"),
    "maxmemory-policy": ("noeviction", "a full Redis evicts keys: accounts, sessions, games"),
}


class CannotStart(Exception):
    """Parlor will not start (or `parlor admin` will not run) here: the message says why and what to do."""


async def check_durability(redis: aioredis.Redis, url: str, refuse: bool) -> None:
    """Refuse (or, with refuse False, warn about) an external Redis that could lose or evict an
    acknowledged write: appendonly, appendfsync and maxmemory-policy, read at start."""
    problems = []
    for name, (wanted, loss) in DURABLE_SETTINGS.items():
        try:
            value = (await redis.config_get(name)).get(name)
        except aioredis.ResponseError as e:  # CONFIG renamed or refused, as some hosted Redis do
            problems.append(f"its settings cannot be read (CONFIG GET {name}: {e})")
            break
        if value != wanted:
            problems.append(f"{name} is {value}, not {wanted}: {loss}")
    if not problems:
        return
    said = f"the Redis at {without_password(url)} may lose acknowledged writes: {'; '.join(problems)}"
    if refuse:
        raise CannotStart(f"{said}. Set it up so, or start with --redis-durability warn to run on it anyway")
    log.warning("%s (started anyway: --redis-durability warn)", said)


def without_password(url: str) -> str:
    """A Redis URL fit for a log line: its password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":[hidden]@", 1)))


def data_dir_identity(data_dir: Path) -> str:
    """The data dir's identity, made once and kept in it (mode 0600)."""
    return kept_in_file(data_dir / IDENTITY_FILE, lambda: secrets.token_hex(IDENTITY_BYTES))


async def claim_redis(redis: aioredis.Redis, data_dir: Path) -> None:
    """Record in Redis that it serves this data dir; CannotStart if it serves another one."""
    identity = data_dir_identity(data_dir)
    here = f"{identity} {socket.gethostname()}:{data_dir.resolve()}"
    async with redis.pipeline(transaction=True) as claim:
        held = (await claim.setnx(DATA_DIR_KEY, here).get(DATA_DIR_KEY).execute())[1]
    held = held.decode() if isinstance(held, bytes) else held
    held_identity, _, where = held.partition(" ")
    if held_identity != identity:
        raise CannotStart(
            f"this Redis already serves the data dir {where}: two data dirs on one Redis lose each other's live "
            f"updates, diverge, and refuse each other's sessions. Start every Parlor process with that data dir "
            f"(one host), or give this one a Redis of its own (if that data dir is gone for good: DEL {DATA_DIR_KEY})")
    if held != here:  # the same data dir, moved: say where it is now
        await redis.set(DATA_DIR_KEY, here)
