"""parlor/chat/conversation.py on real SQLite files: what a send, a page, a read marker, a deletion
and a rename give back, and what they leave in the file."""
import logging
import sqlite3
import time

import pytest

from parlor.chat.conversation import PAGE_SIZE
from parlor.chat.pair_file import Image, Message
from parlor.chat.pair_files import PairFiles


def now_ms() -> int:
    return int(time.time() * 1000)


def picture(n: int) -> Image:
    return Image("image/webp", 3, 2, b"picture %d" % n, b"thumbnail %d" % n, "0" * 64)


@pytest.fixture
def files(tmp_path, io_loop):
    files = PairFiles(tmp_path)
    yield files
    io_loop.run_sync(files.close_all)  # an open file's thread would keep the test process alive


@pytest.mark.gen_test
async def test_a_send_returns_the_stored_message_and_both_peoples_unread_counts(files):
    async with files.conversation("alice", "bob", create=True) as chat:
        before = now_ms()
        first, created, unread = await chat.add("alice", "hi", "c1", None, reader="bob")
        assert created and unread == {"bob": 1, "alice": 0} and before <= first.sent_ms <= now_ms()
        assert first == Message(first.id, "alice", "text", "hi", first.sent_ms, "c1")
        await chat.add("alice", "there", "c2", None, reader="bob")
        again, created, unread = await chat.add("alice", "hi (resent)", "c1", None, reader="bob")
        assert (again, created, unread) == (first, False, {"bob": 2, "alice": 0})  # the first send stands
        shown, created, unread = await chat.add("bob", "", "p1", picture(1), reader="alice")
        assert created and unread == {"alice": 1, "bob": 2}  # writing reads nothing: a page says what it showed
        assert (shown.author, shown.kind, shown.image_id) == ("bob", "image", 1)
        assert (shown.width, shown.height, shown.client_id) == (3, 2, "p1")
        resent, created, unread = await chat.add("bob", "", "p1", picture(2), reader="alice")
        assert (resent, created, unread) == (shown, False, {"alice": 1, "bob": 2})
        assert await chat.image(2) is None  # the resent picture was not kept
        assert await chat.image(1) == ("image/webp", b"picture 1")
        assert await chat.image(1, thumbnail=True) == ("image/png", b"thumbnail 1")


@pytest.mark.gen_test
async def test_pages_go_back_from_the_newest_or_from_a_message(files):
    async with files.conversation("alice", "bob", create=True) as chat:
        assert await chat.last() is None and await chat.page() == []
        for n in range(PAGE_SIZE + 5):
            await chat.add("alice", f"m{n}", None, None)
        page = await chat.page()
        assert [m.body for m in page] == [f"m{n}" for n in range(5, PAGE_SIZE + 5)]  # oldest first
        assert [m.body for m in await chat.page(before=page[0].id, limit=3)] == ["m2", "m3", "m4"]
        assert (await chat.last()).body == f"m{PAGE_SIZE + 4}"


@pytest.mark.gen_test
async def test_a_read_marker_only_moves_forward_and_counts_what_is_unread(files):
    async with files.conversation("alice", "bob", create=True) as chat:
        ids = [(await chat.add("alice", f"m{n}", None, None))[0].id for n in range(4)]
        await chat.add("bob", "mine", None, None)
        assert (await chat.read_marker("bob"), await chat.unread("bob"), await chat.unread("alice")) == (0, 4, 1)
        await chat.mark_read("bob", ids[2])
        await chat.mark_read("bob", ids[0])  # an older marker from another tab changes nothing
        assert (await chat.read_marker("bob"), await chat.unread("bob")) == (ids[2], 1)


@pytest.mark.gen_test
async def test_only_its_author_deletes_a_message_and_its_words_leave_the_file(files, tmp_path):
    async with files.conversation("alice", "bob", create=True) as chat:
        kept, _, _ = await chat.add("alice", "the secret word", None, None)
        shown, _, _ = await chat.add("alice", "", "p1", picture(1))
        assert await chat.erase(kept.id, "bob") is None and await chat.erase(999, "alice") is None
        assert (await chat.page())[0].body == "the secret word"
        before = now_ms()
        erased = await chat.erase(kept.id, "alice")
        assert erased.deleted and erased.body == "" and before <= erased.deleted_ms <= now_ms()
        assert (tmp_path / "alice_bob.db-wal").stat().st_size == 0  # checkpointed: the old page is gone
        assert b"the secret word" not in (tmp_path / "alice_bob.db").read_bytes()
        assert await chat.erase(kept.id, "alice") == erased  # deleted already: nothing changes
        gone = await chat.erase(shown.id, "alice")
        assert gone.image_id is None and await chat.image(shown.image_id) is None


@pytest.mark.gen_test
async def test_a_checkpoint_another_reader_holds_up_is_logged_with_its_file(files, tmp_path, caplog):
    async with files.conversation("alice", "bob", create=True) as chat:
        message, _, _ = await chat.add("alice", "words", None, None)
        reader = sqlite3.connect(tmp_path / "alice_bob.db")
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM messages").fetchone()  # another process, reading a snapshot
        await chat.db.execute("PRAGMA busy_timeout = 50")  # not the 5 s a server waits for it
        with caplog.at_level(logging.WARNING, logger="parlor.chatlog"):
            assert (await chat.erase(message.id, "alice")).deleted
        reader.close()
    assert [r.getMessage() for r in caplog.records] == [
        "alice_bob: checkpoint after a deletion could not finish; old pages stay in the WAL for now"]


@pytest.mark.gen_test
async def test_a_rename_gives_the_messages_and_the_read_marker_to_the_new_name(files, tmp_path):
    async with files.conversation("alice", "bob", create=True) as chat:
        first, _, _ = await chat.add("alice", "hello", None, None)
        await chat.add("bob", "hi", None, None)
        await chat.mark_read("alice", first.id)
        await chat.rename_user("alice", "deleted-0123456789ab")
        assert [m.author for m in await chat.page()] == ["deleted-0123456789ab", "bob"]
        assert (await chat.read_marker("deleted-0123456789ab"), await chat.read_marker("alice")) == (first.id, 0)
        assert (tmp_path / "alice_bob.db-wal").stat().st_size == 0  # the file stands alone
