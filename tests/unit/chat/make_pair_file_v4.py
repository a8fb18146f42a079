"""How tests/unit/chat/pair_file_v4.db was made: with main's code at 668bab3 (schema version 4),
`/work/main/.venv/bin/python make_pair_file_v4.py FOLDER`: texts, a picture, a deleted message,
read markers. Kept as it was run; it needs that version of parlor."""
import asyncio, sys
from pathlib import Path
from parlor.chat.pair_files import PairFiles
from parlor.chat.pair_file import Image, SCHEMA_VERSION

async def main():
    assert SCHEMA_VERSION == 4
    logs = PairFiles(Path(sys.argv[1]))
    async with logs.conversation("alice", "bob", create=True) as c:
        await c.add("alice", "hello bob\nsecond line", "client-id-0001", None, reader="bob")
        await c.add("bob", "hi alice", "client-id-0002", None, reader="alice")
        m, _, _ = await c.add("alice", "a picture", "client-id-0003", Image("image/png", 2, 1, b"png-bytes", b"thumb", "0" * 64), reader="bob")
        gone, _, _ = await c.add("bob", "soon gone", "client-id-0004", None, reader="alice")
        await c.erase(gone.id, "bob")
        await c.add("alice", "the last one", "client-id-0005", None, reader="bob")
        await c.mark_read("bob", 3)
        await c.mark_read("alice", 4)
    await logs.close_all()

asyncio.run(main())
