"""parlor/infra/private_files.py and the places that make files: under a permissive umask (022,
a common default) the data dir, the chat files with their -wal and -shm, the embedded Redis's
files and parlor-backup's copies are private to Parlor's user; an older data dir is tightened."""
import contextlib
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
from pathlib import Path

import pytest

from parlor.chat.pair_files import PairFiles
from parlor.infra.backup import backup
from parlor.infra.embedded_redis import EmbeddedRedis
from parlor.infra.private_files import make_data_dir_private


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    """Each folder's and regular file's permission bits, by its path under `folder`."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        if path.is_dir() or path.is_file():
            found[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return found


def private(found: dict[str, int]) -> bool:
    return all(mode & 0o077 == 0 for mode in found.values())


@pytest.fixture
def short_tmp():
    directory = Path(tempfile.mkdtemp(prefix="parlor-priv-", dir="/tmp"))  # short: socket path limit
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.gen_test(timeout=30)
async def test_chat_files_and_their_folder_are_private_whatever_the_umask(tmp_path):
    with umask(0o022):
        files = PairFiles(tmp_path / "conversations")
        async with files.conversation("alice", "bob", create=True) as conversation:
            await conversation.add("alice", "a secret", None, None)
            found = modes(tmp_path / "conversations")  # while open: the -wal and -shm are there
    await files.close_all()
    assert {"alice_bob.db", "alice_bob.db-wal", "alice_bob.db-shm"} <= set(found)
    assert found["."] == 0o700 and found["alice_bob.db"] == 0o600 and private(found), found


def test_an_older_data_dir_is_made_private_at_start_with_a_log_line(tmp_path, caplog):
    data = tmp_path / "data"
    (data / "conversations").mkdir(parents=True, mode=0o755)
    (data / "redis").mkdir(mode=0o700)
    for name, mode in (("conversations/alice_bob.db", 0o644), ("conversations/alice_bob.db-wal", 0o644),
                       ("redis/appendonly.aof", 0o644), ("secret", 0o600)):
        (data / name).write_text("x")
        os.chmod(data / name, mode)
    os.chmod(data, 0o755)
    with umask(0o022), caplog.at_level(logging.WARNING, logger="parlor"):
        make_data_dir_private(data)
        assert os.umask(0o022) == 0o077  # what the process makes from now on is private too
    found = modes(data)
    assert private(found) and found["conversations"] == 0o700 and found["conversations/alice_bob.db"] == 0o600
    assert [r.getMessage() for r in caplog.records] == [
        f"made 5 file(s) and folder(s) of {data} private to this user: they were readable by others"]
    caplog.clear()
    make_data_dir_private(data)
    assert not caplog.records  # nothing more to say


@pytest.mark.gen_test(timeout=60)
async def test_the_embedded_redis_writes_its_files_privately_whatever_the_umask(short_tmp):
    with umask(0o022):
        embedded = EmbeddedRedis(short_tmp)
        await embedded.start()
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(embedded.url)
        await client.set("a-score", 1)
        await client.aclose()
    finally:
        await embedded.stop()
    found = modes(short_tmp / "redis")
    assert any("appendonly" in name for name in found) and private(found), found


def test_parlor_backup_makes_private_copies_whatever_the_umask(tmp_path):
    data, copy = tmp_path / "data", tmp_path / "copy"
    (data / "conversations").mkdir(parents=True)
    (data / "redis").mkdir()
    with sqlite3.connect(data / "conversations" / "alice_bob.db") as db:
        db.execute("CREATE TABLE messages (body TEXT)")
        db.execute("INSERT INTO messages VALUES ('a secret')")
    (data / "redis" / "appendonly.aof").write_text("*1\r\n$4\r\nPING\r\n")
    (data / "secret").write_text("s")
    with umask(0o022):
        counts = backup(data, copy, log=lambda _: None)
    found = modes(copy)
    assert counts == {"redis_files": 1, "conversations": 1}
    assert {"conversations/alice_bob.db", "redis/appendonly.aof", "secret"} <= set(found) and private(found), found
