"""The search index in each pair file (parlor/chat/pair_file.py SEARCH_INDEX) on real SQLite files:
the migration of a file made by the code before it, and the triggers that keep it in step."""
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from parlor.chat.pair_file import SCHEMA_VERSION
from parlor.chat.pair_files import PairFiles
from tests.unit.chat.test_pair_file import old_file, picture_of


# Made by main's code before the index (schema 4): four messages, alice's third deleted, a picture
# with a caption, bob's read marker. How: PairFiles and Conversation.add/erase/mark_read of that
# code, then journal_mode DELETE so the file stands alone.
SCHEMA_4_FILE = Path(__file__).resolve().parents[2] / "corpus" / "pair-files" / "alice_bob.schema4.db"


def indexed(path, word: str) -> list[int]:
    """The ids of the messages the file's index finds `word` in (read straight from the file)."""
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (f'"{word}"',))]
    finally:
        db.close()


def file_bytes(path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


@pytest.mark.gen_test
async def test_a_file_made_by_schema_version_4_is_migrated_and_its_messages_indexed(tmp_path):
    """A file as today's main leaves it (version 4): texts, a picture with a caption, a deleted
    message; opened by this code, its index holds every word it still has, and nothing deleted."""
    path = tmp_path / "alice_bob.db"
    old_file(path, 4)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO images (mime, width, height, bytes, thumbnail, sha256) VALUES ('image/png', 1, 1, x'00', x'00', '')")
    rows = [("alice", "Coffee tomorrow at the harbour?", "text", None, None),
            ("bob", "Here is the harbour", "image", 1, None),
            ("alice", "", "text", None, 1),  # deleted before: its text was blanked
            ("bob", "Café sounds good", "text", None, None)]
    for n, (author, body, kind, image_id, deleted_at) in enumerate(rows, 1):
        db.execute("INSERT INTO messages (author, body, sent_at, client_id, kind, image_id, deleted_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (author, body, n, f"client-{n}", kind, image_id, deleted_at))
    db.commit()
    db.close()
    logs = PairFiles(tmp_path)
    async with logs.conversation("bob", "alice") as conversation:
        assert len(await conversation.page()) == 4
    await logs.close_all()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')").rowcount == 1
    check.close()
    assert indexed(path, "harbour") == [1, 2]
    assert indexed(path, "cafe") == [4]  # diacritics fold: "cafe" finds "Café"
    assert indexed(path, "tomorrow") == [1]


@pytest.mark.gen_test
async def test_a_file_that_main_made_is_migrated_and_searched(tmp_path):
    path = tmp_path / "alice_bob.db"
    shutil.copy(SCHEMA_4_FILE, path)
    logs = PairFiles(tmp_path)
    async with logs.conversation("alice", "bob") as conversation:
        assert [m.body for m in await conversation.page()] == [
            "Coffee tomorrow at the harbour?", "Here is the harbour", "", "Café sounds good"]
        assert await conversation.read_marker("bob") == 4 and (await conversation.image(1))[1] == b"png"
        message, created, _ = await conversation.add("bob", "harbour again", "client-0005", None)
    await logs.close_all()
    assert created and indexed(path, "harbour") == [1, 2, message.id]
    assert indexed(path, "zanzibarian") == [] and indexed(path, "cafe") == [4]
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.gen_test
async def test_sends_are_indexed_and_deleted_or_edited_away_words_leave_the_file(tmp_path):
    """A send is found at once; a deletion (Conversation.erase) and an edit (an UPDATE of the
    body, as issue 26's edit does) take the old words out of the index and out of the file's bytes."""
    logs = PairFiles(tmp_path)
    path = tmp_path / "alice_bob.db"
    async with logs.conversation("alice", "bob", create=True) as conversation:
        for n in range(30):  # enough for the index to have several segments
            await conversation.add("bob", f"filler message number {n}", None, None)
        gone, _, _ = await conversation.add("alice", "meet at the qoxzanthic fountain", None, None)
        edited, _, _ = await conversation.add("alice", "the code is vurplequist", None, None)
        picture, _, _ = await conversation.add("bob", "a zimbrellotic caption", "c-1", picture_of(1))
        assert indexed(path, "qoxzanthic") == [gone.id] and indexed(path, "zimbrellotic") == [picture.id]
        await conversation.erase(gone.id, "alice")
        await conversation.erase(picture.id, "bob")
        async with conversation.lock:
            await conversation.db.execute("UPDATE messages SET body = 'the code is secret' WHERE id = ?", (edited.id,))
            await conversation.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await conversation.rename_user("alice", "deleted-000000000000")  # an author's rename leaves the index be
    await logs.close_all()
    assert indexed(path, "qoxzanthic") == indexed(path, "vurplequist") == indexed(path, "zimbrellotic") == []
    assert indexed(path, "secret") == [edited.id] and len(indexed(path, "filler")) == 30
    data = file_bytes(path)
    for word in (b"qoxzanthic", b"xzanthic", b"vurplequist", b"plequist", b"zimbrellotic", b"brellotic"):
        assert word not in data
