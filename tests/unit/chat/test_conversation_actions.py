"""Replies, reactions and edits in a pair's file (parlor/chat/conversation.py), and the version-5
migration of a file made by the code before them (tests/unit/chat/pair_file_v4.db)."""
import shutil
import sqlite3
from pathlib import Path

import pytest

from parlor.chat.conversation import QUOTE_CHARS, snippet
from parlor.chat.pair_file import SCHEMA_VERSION, Reaction
from parlor.chat.pair_files import PairFiles
from tests.unit.chat.test_pair_file import picture_of

VERSION_4_FILE = Path(__file__).with_name("pair_file_v4.db")


def on_disk(folder: Path) -> bytes:
    """The pair's database file and its WAL, as they are on disk now."""
    path = folder / "alice_bob.db"
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


@pytest.mark.gen_test
async def test_a_version_4_file_made_by_the_code_before_migrates_and_keeps_everything(tmp_path):
    shutil.copy(VERSION_4_FILE, tmp_path / "alice_bob.db")
    assert sqlite3.connect(VERSION_4_FILE).execute("PRAGMA user_version").fetchone()[0] == 4
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob") as conversation:
        before = await conversation.page()
        assert [(m.author, m.kind, m.body, m.deleted) for m in before] == [
            ("alice", "text", "hello bob\nsecond line", False), ("bob", "text", "hi alice", False),
            ("alice", "image", "a picture", False), ("bob", "text", "", True), ("alice", "text", "the last one", False)]
        assert all(m.reply_to is None and m.edited_ms is None and m.reactions == () for m in before)
        assert (await conversation.image(before[2].image_id))[1] == b"png-bytes"
        assert await conversation.read_marker("bob") == 3 and await conversation.read_marker("alice") == 4
        # The new things work on the old file.
        reply, created, _ = await conversation.add("bob", "replying", "client-id-0006", None, reader="alice",
                                                   quote=await conversation.quote(1))
        assert created and reply.quote.snippet == "hello bob"
        assert (await conversation.react(1, "bob", "👍"))[1] is True
        assert (await conversation.edit(5, "alice", "the last one, edited")).edited_ms is not None
    await logs.close_all()
    check = sqlite3.connect(tmp_path / "alice_bob.db")
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("PRAGMA foreign_key_check").fetchall() == []
    check.close()


@pytest.mark.gen_test
async def test_a_reply_quotes_the_first_line_and_a_deleted_original_shows_as_deleted(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        original, _, _ = await conversation.add("alice", "first line\nsecond line", "client-id-1", None)
        reply, _, _ = await conversation.add("bob", "answer", "client-id-2", None, quote=await conversation.quote(original.id))
        assert (reply.reply_to, reply.quote.author, reply.quote.snippet, reply.quote.deleted) == (
            original.id, "alice", "first line", False)
        assert (await conversation.message(reply.id)).quote == reply.quote
        await conversation.erase(original.id, "alice")
        (_, shown) = await conversation.page()
        assert (shown.quote.deleted, shown.quote.snippet) == (True, "")
        assert await conversation.quote(999) is None
    await logs.close_all()


def test_a_quote_is_one_line_cut_short():
    assert snippet("  hi there \nmore") == "hi there"
    long = snippet("x" * (QUOTE_CHARS + 50))
    assert len(long) == QUOTE_CHARS and long.endswith("…")


@pytest.mark.gen_test
async def test_a_reaction_toggles_one_per_person_and_emoji_and_goes_with_its_message(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        message, _, _ = await conversation.add("alice", "hi", "client-id-1", None)
        assert (await conversation.react(message.id, "bob", "👍"))[1] is True
        assert (await conversation.react(message.id, "alice", "👍"))[1] is True
        shown, added = await conversation.react(message.id, "bob", "🎉")
        assert added and shown.reactions == (Reaction("👍", ("bob", "alice")), Reaction("🎉", ("bob",)))
        shown, added = await conversation.react(message.id, "bob", "👍")  # again: taken back
        assert not added and shown.reactions == (Reaction("👍", ("alice",)), Reaction("🎉", ("bob",)))
        assert (await conversation.page())[0].reactions == shown.reactions
        await conversation.erase(message.id, "alice")
        assert (await conversation.message(message.id)).reactions == ()
        assert await conversation.react(message.id, "bob", "👍") is None  # a deleted message takes none
        assert await conversation.react(999, "bob", "👍") is None
        rows = await conversation.db.execute_fetchall("SELECT COUNT(*) FROM reactions")
        assert rows[0][0] == 0
    await logs.close_all()


@pytest.mark.gen_test
async def test_an_edit_replaces_the_text_for_good_and_only_the_authors_text(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        message, _, _ = await conversation.add("alice", "the first words zqxjv", "client-id-1", None)
        picture, _, _ = await conversation.add("alice", "caption", "client-id-2", picture_of(1))
        assert b"zqxjv" in on_disk(tmp_path)  # so its absence below means something
        assert await conversation.edit(message.id, "bob", "forged") is None  # not bob's
        assert await conversation.edit(picture.id, "alice", "new caption") is None  # not a text
        edited = await conversation.edit(message.id, "alice", "better words")
        assert (edited.body, edited.edited_ms is not None) == ("better words", True)
        assert (await conversation.message(message.id)).body == "better words"
        assert b"zqxjv" not in on_disk(tmp_path)  # overwritten: not in the file, not in its WAL
        await conversation.erase(message.id, "alice")
        assert await conversation.edit(message.id, "alice", "after deletion") is None
    await logs.close_all()


@pytest.mark.gen_test
async def test_a_leaving_users_reactions_go_with_them(tmp_path):
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob", create=True) as conversation:
        message, _, _ = await conversation.add("alice", "hi", "client-id-1", None)
        await conversation.react(message.id, "bob", "❤️")
        await conversation.react(message.id, "alice", "❤️")
        await conversation.rename_user("bob", "deleted-0123456789ab")
        assert (await conversation.message(message.id)).reactions == (Reaction("❤️", ("alice",)),)
    await logs.close_all()
