"""The data download of a long history: sent as it is made, page by page, with bounded memory
and no stall of the event loop (a board is served meanwhile), and limited per user."""
import asyncio
import io
import json
import threading
import time
import zipfile

import pytest

from parlor.chat.pair_file import transaction
from parlor.infra.config import Rate
from tests.helpers import users

MESSAGES = 16_000  # the history the security pass downloaded: 64 MB of text
MESSAGE_CHARS = 4000  # each the longest a message can be
RSS_GROWTH_MIB = 48  # the download may use this much more memory at most (was +114 MiB)
LOOP_STALL_MS = 150  # the event loop is never held longer than this meanwhile
BOARD_FETCH_MS = 500  # nor does a board page wait longer meanwhile (it took 2 s on the old code)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


async def seed(app, a: str, b: str) -> None:
    """A long conversation, written in one transaction (as many sends would write it)."""
    rows = [(f"{n:012d}", a if n % 2 else b, "text", f"{n} " + "x" * (MESSAGE_CHARS - 8), None, n)
            for n in range(1, MESSAGES + 1)]

    async def insert(db):
        await db.executemany("INSERT INTO messages (client_id, author, kind, body, image_id, sent_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)

    async with app.pair_files.conversation(a, b, create=True) as conversation:
        await transaction(conversation.db, insert)
    await app.redis.zadd(f"conversations:{a}", {b: 1})


@pytest.mark.gen_test(timeout=120)
async def test_a_long_history_downloads_with_bounded_memory_and_no_stall(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await seed(app, "alice", "bob")
    peak, sampling = [rss_mib()], threading.Event()

    def sample() -> None:  # a thread: it reads memory even while the loop is held
        while not sampling.is_set():
            peak.append(rss_mib())
            time.sleep(0.005)

    stalls, boards = [], []

    async def watch_the_loop() -> None:
        while not sampling.is_set():
            started = time.monotonic()
            await asyncio.sleep(0.01)
            stalls.append(time.monotonic() - started - 0.01)
            fetched = time.monotonic()
            assert (await bob.get("/scores/10/fragment")).code == 200
            boards.append(time.monotonic() - fetched)

    before = rss_mib()
    sampler = threading.Thread(target=sample)
    sampler.start()
    watcher = asyncio.ensure_future(watch_the_loop())
    started = time.monotonic()
    response = await alice.get("/account/data")  # its body is kept by the client: counted below
    took = time.monotonic() - started
    sampling.set()
    sampler.join()
    await watcher
    body_mib = len(response.body) / 2 ** 20
    growth = max(peak) - before - body_mib
    print(f"EXPORT: {MESSAGES} messages of {MESSAGE_CHARS} characters: {took:.1f} s, zip {body_mib:.1f} MiB, "
          f"server RSS +{growth:.0f} MiB beyond the zip the client holds, longest loop stall "
          f"{1000 * max(stalls):.0f} ms, slowest board fetch meanwhile {1000 * max(boards):.0f} ms")
    assert response.code == 200
    messages = json.loads(zipfile.ZipFile(io.BytesIO(response.body)).read("conversations/bob.json"))["messages"]
    assert len(messages) == MESSAGES and [m["id"] for m in messages[:2]] == [1, 2]
    assert growth < RSS_GROWTH_MIB and 1000 * max(stalls) < LOOP_STALL_MS and 1000 * max(boards) < BOARD_FETCH_MS


@pytest.mark.config(export_limit=Rate(2, 3600))
@pytest.mark.gen_test(timeout=30)
async def test_downloads_are_limited_per_user(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    for _ in range(2):
        assert (await alice.get("/account/data")).code == 200
    refused = await alice.get("/account/data")
    assert refused.code == 429 and "downloaded your data several times" in refused.body.decode()
    assert int(refused.headers["Retry-After"]) > 0 and refused.headers["Content-Type"].startswith("text/html")
    assert (await bob.get("/account/data")).code == 200  # each user has their own
