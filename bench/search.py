"""`python -m bench.search`: what search costs, in one process against a private Redis.

  fanout   one person with 300 conversations (pair files of MESSAGES messages each): a search of
           all of them, window by window (parlor/chat/search.py SEARCH_WINDOW files each), with
           every file closed first (cold: each is opened and checked) and again with them all open
  one      a search of one conversation
  send     CPU per text send (Conversation.add) with the search index, and with its insert
           trigger dropped (what the index adds to the send path)

Prints one JSON line per figure. Run once by hand; not part of `make bench`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from parlor.chat.conversation_list import conversations_key
from parlor.chat.pair_files import PairFiles
from parlor.chat.search import Search
from parlor.infra.embedded_redis import bundled_redis_server, spawn, wait_ready_sync
from parlor.safety import Safety

WORDS = [f"w{n:04d}" for n in range(2000)]  # a vocabulary: each word in about 1 message of 170
SEARCHER = "searcher"


def text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=12))


async def fill(logs: PairFiles, redis: aioredis.Redis, conversations: int, messages: int) -> None:
    """`conversations` pair files of SEARCHER's, `messages` each, listed newest first."""
    rng = random.Random(26)
    for n in range(conversations):
        peer = f"peer-{n:04d}"
        async with logs.conversation(SEARCHER, peer, create=True) as conversation:
            await conversation.db.execute("BEGIN")
            await conversation.db.executemany(
                "INSERT INTO messages (author, body, sent_at) VALUES (?, ?, ?)",
                [(rng.choice((SEARCHER, peer)), text(rng), 1_700_000_000_000 + n * messages + i)
                 for i in range(messages)])
            await conversation.db.execute("COMMIT")
        await redis.zadd(conversations_key(SEARCHER), {peer: n})


async def search_all(search: Search, word: str) -> dict:
    """Every window of SEARCHER's conversations for `word`: time per window, files, matches."""
    windows, start = [], 0
    while True:
        began = time.perf_counter()
        found = await search.everywhere(SEARCHER, word, start)
        windows.append({"ms": round((time.perf_counter() - began) * 1000, 1), "files": found.end - found.start,
                        "matches": len(found.matches), "stopped": found.stopped})
        if not found.more:
            return {"windows": windows, "total_ms": round(sum(w["ms"] for w in windows), 1)}
        start = found.end


async def fanout(workdir: Path, redis: aioredis.Redis, conversations: int, messages: int) -> None:
    logs = PairFiles(workdir / "fanout", max_open=conversations + 16)  # warm: every file stays open
    await fill(logs, redis, conversations, messages)
    search = Search(logs, redis, Safety.unlimited(redis))
    for word, kind in (("w0042", "common"), ('"w0042 w0043"', "phrase")):
        await logs.close_all()
        cold = await search_all(search, word)
        warm = await search_all(search, word)
        print(json.dumps({"scenario": "fanout", "query": kind, "conversations": conversations,
                          "messages_each": messages, "cold": cold, "warm": warm}))
    one = []
    for _ in range(50):
        began = time.perf_counter()
        await search.conversation(SEARCHER, "peer-0007", "w0042")
        one.append((time.perf_counter() - began) * 1000)
    print(json.dumps({"scenario": "one", "messages": messages, "median_ms": round(statistics.median(one), 2)}))
    await logs.close_all()


async def send_cost(workdir: Path, sends: int, rounds: int = 5) -> None:
    """CPU (all threads of this process) per text send, with the index and without its insert
    trigger, in alternating rounds (a busy machine moves single runs); the median of each."""
    rng = random.Random(6)
    logs = PairFiles(workdir / "send")
    cpu: dict[str, list[float]] = {"with-index": [], "without-index": []}
    wall: dict[str, list[float]] = {"with-index": [], "without-index": []}
    for _ in range(rounds):
        for peer in cpu:
            async with logs.conversation("sender", peer, create=True) as conversation:
                if peer == "without-index":
                    await conversation.db.execute("DROP TRIGGER IF EXISTS messages_fts_insert")
                bodies = [text(rng) for _ in range(sends)]
                began_cpu, began = time.process_time(), time.perf_counter()
                for body in bodies:
                    await conversation.add("sender", body, None, None, reader=peer)
                cpu[peer].append((time.process_time() - began_cpu) / sends * 1e6)
                wall[peer].append((time.perf_counter() - began) / sends * 1e6)
    await logs.close_all()
    medians = {peer: {"cpu_us_per_send": round(statistics.median(cpu[peer]), 1),
                      "wall_us_per_send": round(statistics.median(wall[peer]), 1)} for peer in cpu}
    print(json.dumps({"scenario": "send", "sends": sends, "rounds": rounds, **medians,
                      "index_cpu_us_per_send": round(medians["with-index"]["cpu_us_per_send"]
                                                     - medians["without-index"]["cpu_us_per_send"], 1)}))


async def main(args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="parlor-bench-search-", dir="/tmp"))
    process = spawn(bundled_redis_server(), workdir)
    url = f"unix://{workdir}/redis.sock"
    wait_ready_sync(url)
    redis = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        if args.only in (None, "fanout"):
            await fanout(workdir, redis, args.conversations, args.messages)
        if args.only in (None, "send"):
            await send_cost(workdir, args.sends)
    finally:
        await redis.aclose()
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--messages", type=int, default=1000, help="messages per conversation")
    parser.add_argument("--sends", type=int, default=1000, help="sends per round (5 rounds of each kind)")
    parser.add_argument("--only", choices=("fanout", "send"))
    asyncio.run(main(parser.parse_args()))
