"""chatlog.py, conversation.py and chatlog_folder.py on real SQLite files: naming, durability,
LRU, idempotence, migration, transactions."""
import asyncio
import dataclasses
import functools
import itertools
import os
import re
import sqlite3

import pytest

from parlor.chat.pair_file import SCHEMA_VERSION, BadPair, connect, pair_key, transaction
from parlor.chat.pair_files import PairFiles
from parlor.infra.config import Config
from tests.helpers import ROOT


def test_pair_names_are_order_independent_and_never_collide():
    names = ["ab-c", "abc", "c-ab", "ab-c-d", "a-b-c", "bob", "bob2", "x-y", "ab-", "-ab"]
    keys = {}
    for a, b in itertools.combinations(names, 2):
        assert pair_key(a, b) == pair_key(b, a)
        keys.setdefault(pair_key(a, b), set()).add(frozenset((a, b)))
    assert all(len(pairs) == 1 for pairs in keys.values())  # one key, one pair


@pytest.mark.parametrize("a,b", [
    ("../x", "bob"), ("a/b", "bob"), ("al\0ice", "bob"), ("a_b", "bob"), ("Alice", "bob"), ("", "bob"),
    ("bob", "bob"), ("..", "bob"), ("alice", "/etc/passwd"), (None, "bob"),
])
@pytest.mark.gen_test
async def test_hostile_names_never_reach_a_path(tmp_path, a, b):
    logs = PairFiles(tmp_path / "conversations")
    with pytest.raises(BadPair):
        async with logs.conversation(a, b, create=True):
            pass
    assert list(tmp_path.rglob("*")) == [tmp_path / "conversations"]


@pytest.mark.gen_test
async def test_a_read_never_makes_a_file_and_a_write_makes_a_durable_one(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob") as conversation:
        assert conversation is None
    assert not logs.exists("alice", "bob")
    async with logs.conversation("bob", "alice", create=True) as conversation:
        await conversation.add("bob", "hi", None, None)
        async with conversation.db.execute("PRAGMA journal_mode") as c:
            assert (await c.fetchone())[0] == "wal"
        async with conversation.db.execute("PRAGMA synchronous") as c:
            assert (await c.fetchone())[0] == 2  # FULL
    assert (tmp_path / "alice_bob.db").exists()
    await logs.close_all()


@pytest.mark.gen_test
async def test_the_same_client_id_stores_once(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        first, created, _ = await conversation.add("alice", "hello", "client-id-1", None)
        again, created_again, _ = await conversation.add("alice", "hello", "client-id-1", None)
        assert created and not created_again and again.id == first.id
        assert len(await conversation.page()) == 1
    await logs.close_all()


@pytest.mark.gen_test
async def test_lru_closes_the_least_used_and_a_reopened_file_keeps_its_data(tmp_path):
    logs = PairFiles(tmp_path, max_open=2)
    connections = {}
    for peer in ("bob", "carol", "dave"):
        async with logs.conversation("alice", peer, create=True) as conversation:
            await conversation.add("alice", f"hi {peer}", None, None)
            connections[peer] = conversation.db
    await asyncio.sleep(0.05)  # the close runs as a task
    assert logs.open_count == 2
    with pytest.raises(ValueError):  # aiosqlite: "Connection closed"
        await connections["bob"].execute("SELECT 1")
    async with logs.conversation("bob", "alice") as conversation:
        assert [m.body for m in await conversation.page()] == ["hi bob"]
    assert logs.open_count == 2
    await logs.close_all()


@pytest.mark.gen_test
async def test_two_first_messages_at_the_same_instant_share_one_file(tmp_path):
    logs = PairFiles(tmp_path)

    async def send(author, peer):
        async with logs.conversation(author, peer, create=True) as conversation:
            return await conversation.add(author, f"from {author}", None, None)

    await asyncio.gather(send("alice", "bob"), send("bob", "alice"))
    assert logs.open_count == 1
    async with logs.conversation("alice", "bob") as conversation:
        assert sorted(m.body for m in await conversation.page()) == ["from alice", "from bob"]
    await logs.close_all()


@pytest.mark.gen_test
async def test_an_old_file_is_migrated_and_keeps_its_messages(tmp_path):
    old = sqlite3.connect(tmp_path / "alice_bob.db")
    old.executescript("""
        CREATE TABLE messages (id INTEGER PRIMARY KEY, author TEXT NOT NULL, body TEXT NOT NULL,
                               sent_at INTEGER NOT NULL);
        INSERT INTO messages (author, body, sent_at) VALUES ('alice', 'from the old days', 1000);
        PRAGMA user_version = 1;
    """)
    old.close()
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob") as conversation:
        (message,) = await conversation.page()
        assert (message.author, message.body, message.kind) == ("alice", "from the old days", "text")
        _, created, _ = await conversation.add("bob", "and now", "new-client-id", None)
        assert created
    await logs.close_all()
    check = sqlite3.connect(tmp_path / "alice_bob.db")
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def picture_of(n: int):
    from parlor.chat.pair_file import Image

    return Image("image/png", 1, 1, b"picture %d" % n, b"thumb", "0" * 64)


@pytest.mark.gen_test
async def test_a_deleted_newest_picture_id_is_never_handed_out_again(tmp_path):
    """A picture's URL is cached for a year: the next picture must not take a deleted one's id."""
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        await conversation.add("alice", "", "client-id-1", picture_of(1))
        newest, _, _ = await conversation.add("alice", "", "client-id-2", picture_of(2))
        await conversation.erase(newest.id, "alice")
        assert await conversation.image(newest.image_id) is None
        after, _, _ = await conversation.add("alice", "", "client-id-3", picture_of(3))
        assert after.image_id > newest.image_id
        assert await conversation.image(newest.image_id) is None  # the deleted picture's URL stays a 404
    await logs.close_all()


def old_file(path, version: int) -> None:
    """A chat file as the code of `version` left it."""
    from parlor.chat.pair_file import MIGRATIONS

    db = sqlite3.connect(path)
    for step in range(1, version + 1):
        for statement in MIGRATIONS[step]:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def fill_version_3(path) -> None:
    """Two pictures and a text in a version-3 file; the newest picture was deleted (its row gone,
    so SQLite alone would hand its id out again)."""
    old_file(path, 3)
    db = sqlite3.connect(path)
    for n in (1, 2):
        db.execute("INSERT INTO images (id, mime, width, height, bytes, thumbnail, sha256) "
                   "VALUES (?, 'image/png', 1, 1, x'00', x'00', '')", (n,))
        db.execute("INSERT INTO messages (author, body, sent_at, client_id, kind, image_id) "
                   "VALUES ('alice', '', 0, ?, 'image', ?)", (f"picture-{n}", n))
    db.execute("UPDATE messages SET image_id = NULL, deleted_at = 1 WHERE image_id = 2")
    db.execute("DELETE FROM images WHERE id = 2")
    db.execute("INSERT INTO messages (author, body, sent_at, client_id) VALUES ('bob', 'still here', 0, 'text-1')")
    db.commit()
    db.close()


@pytest.mark.gen_test
async def test_a_version_3_file_migrates_in_two_processes_at_once_and_keeps_everything(tmp_path):
    """Two processes (two connections, two threads) open an old file at the same instant: one
    migrates, the other waits and finds it done; the picture ids deleted before stay unused."""
    path = tmp_path / "alice_bob.db"
    fill_version_3(path)
    first, second = PairFiles(tmp_path), PairFiles(tmp_path)

    async def read(logs):
        async with logs.conversation("bob", "alice") as conversation:
            return [(m.author, m.body, m.image_id) for m in await conversation.page()]

    pages = await asyncio.gather(read(first), read(second))
    assert pages[0] == pages[1] == [("alice", "", 1), ("alice", "", None), ("bob", "still here", None)]
    async with first.conversation("alice", "bob") as conversation:
        message, created, _ = await conversation.add("alice", "", "picture-3", picture_of(3))
        assert created and message.image_id > 2  # not the deleted picture's id 2
        assert (await conversation.image(1))[1] == b"\x00"
    await first.close_all()
    await second.close_all()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("PRAGMA foreign_key_check").fetchall() == []
    assert check.execute("SELECT name FROM sqlite_sequence").fetchall() == [("images",)]
    check.close()


@pytest.mark.gen_test
async def test_a_client_id_belongs_to_its_author(tmp_path):
    """bob reusing alice's client id stores bob's message, and alice's resend still finds hers."""
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        mine, _, _ = await conversation.add("alice", "alice's words", "shared-client-id", None)
        theirs, created, _ = await conversation.add("bob", "bob's words", "shared-client-id", None)
        assert created and (theirs.author, theirs.body) == ("bob", "bob's words") and theirs.id != mine.id
        again, created_again, _ = await conversation.add("alice", "resent", "shared-client-id", None)
        assert not created_again and (again.id, again.body) == (mine.id, "alice's words")
        picture, created, _ = await conversation.add("bob", "", "shared-client-id-2", picture_of(1))
        other, created_other, _ = await conversation.add("alice", "", "shared-client-id-2", picture_of(2))
        assert created and created_other and other.image_id != picture.image_id
        assert [m.body for m in await conversation.page()] == ["alice's words", "bob's words", "", ""]
    await logs.close_all()


@pytest.mark.gen_test
async def test_a_transaction_sqlite_ended_by_itself_raises_its_own_error_and_the_file_stays_writable(tmp_path):
    """SQLite may roll a transaction back by itself (a full disk, an I/O error, an interrupt; a
    RAISE(ROLLBACK) trigger here): the write raises that error, not "cannot rollback - no
    transaction is active" (which no handler knows: a 500), and the next write goes through."""
    logs = PairFiles(tmp_path)
    try:
        async with logs.conversation("alice", "bob", create=True) as conversation:
            await conversation.add("alice", "words", "client-id-1", None)
            await conversation.db.execute("CREATE TEMP TRIGGER refuse BEFORE UPDATE ON messages "
                                          "BEGIN SELECT RAISE(ROLLBACK, 'the disk refused'); END")
            with pytest.raises(sqlite3.IntegrityError, match="the disk refused"):
                await conversation.rename_user("alice", "deleted-000000000000")
            await conversation.db.execute("DROP TRIGGER refuse")
            await conversation.rename_user("alice", "deleted-000000000000")
            assert [m.author for m in await conversation.page()] == ["deleted-000000000000"]
    finally:
        await logs.close_all()  # an open file's thread would keep the test process alive


@pytest.mark.parametrize("a, b, message", [
    ("alice", "Bob", "not a pair of usernames"),
    ("alice", "a_b", "not a pair of usernames"),
    ("alice", "alice", "a conversation needs two people"),
])
def test_a_bad_pair_says_what_is_wrong(a, b, message):
    with pytest.raises(BadPair, match=f"^{message}$"):
        pair_key(a, b)


@pytest.mark.gen_test
async def test_a_file_is_opened_only_where_it_is_unless_it_is_to_be_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a file name taken for a path, not a URI, would land
    with pytest.raises(sqlite3.OperationalError):
        await connect(tmp_path / "alice_bob.db", create=False)
    assert list(tmp_path.iterdir()) == []
    db = await connect(tmp_path / "alice_bob.db", create=True)
    await db.close()
    assert [path.name for path in tmp_path.iterdir()] == ["alice_bob.db"]


@pytest.mark.gen_test
async def test_opening_a_current_file_writes_nothing(tmp_path):
    await (await connect(tmp_path / "alice_bob.db", create=True)).close()
    db = await connect(tmp_path / "alice_bob.db", create=False)
    try:
        async with db.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == SCHEMA_VERSION
        assert (tmp_path / "alice_bob.db-wal").stat().st_size == 0
    finally:
        await db.close()


@pytest.mark.gen_test
async def test_a_transaction_whose_work_fails_leaves_nothing_and_raises_the_failure(tmp_path):
    db = await connect(tmp_path / "alice_bob.db", create=True)

    async def insert(db, body):
        await db.execute("INSERT INTO messages (author, body, sent_at) VALUES ('alice', ?, 0)", (body,))

    async def half_done(db):
        await insert(db, "half")
        raise ValueError("the work failed")

    try:
        with pytest.raises(ValueError, match="the work failed"):
            await transaction(db, half_done)
        assert not db.in_transaction and await db.execute_fetchall("SELECT body FROM messages") == []
        await transaction(db, functools.partial(insert, body="whole"))
        assert await db.execute_fetchall("SELECT body FROM messages") == [("whole",)]
    finally:
        await db.close()


DESCRIPTORS_RE = r"each holds (\w+) descriptors? and a thread"


@pytest.mark.gen_test
async def test_an_open_chat_file_holds_the_descriptors_the_help_and_the_readme_say(tmp_path):
    """--chat-max-open's cost, as `parlor --help` and the README's flags table state it."""
    logs = PairFiles(tmp_path)
    before = len(os.listdir("/proc/self/fd"))
    for peer in ("bob", "carol", "dave"):
        async with logs.conversation("alice", peer, create=True) as conversation:
            await conversation.add("alice", "hi", None, None)
    opened = len(os.listdir("/proc/self/fd")) - before
    assert opened % 3 == 0, opened
    held = opened // 3
    await logs.close_all()
    words = {1: "a", 2: "two", 3: "three"}
    (field,) = [f for f in dataclasses.fields(Config) if f.name == "chat_max_open"]
    assert re.search(DESCRIPTORS_RE, field.metadata["help"]).group(1) == words[held]
    (row,) = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `--chat-max-open`")]
    assert re.search(DESCRIPTORS_RE, row).group(1) in (words[held], str(held))
