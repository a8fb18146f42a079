"""`python -m bench.anonymous`: what a script of anonymous game starts costs Redis.

The attack of issue 15: a script makes up its own XSRF cookie and POSTs /games from a fresh
session every time. This starts Parlor as `make run` does (embedded Redis, a fresh data dir, the
default game-start limits unless --no-limits), sends --requests such starts from one address,
--concurrency at a time, and prints Redis's used_memory (INFO memory) before and after, the
answers by status, the keys left with their longest TTL, and what they take (MEMORY USAGE summed;
used_memory also holds Redis's own buffers and the scripts Parlor loads on first use). Bounded in count and time; loopback
only.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import shutil
import tempfile
import time
from pathlib import Path

import redis
import tornado.httpclient

from bench.common import XSRF, Parlor, Processes

DEFAULT_LIMITS = ("--game-limit=20/60", "--game-address-limit=120/60")  # parlor/infra/config.py's defaults


async def attack(url: str, requests: int, concurrency: int) -> collections.Counter:
    """`requests` game starts, each from a brand-new session (no cookie but a made-up XSRF one)."""
    client = tornado.httpclient.AsyncHTTPClient(max_clients=concurrency)
    statuses: collections.Counter = collections.Counter()
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            response = await client.fetch(
                url + "/games", method="POST", body=f"max=10&_xsrf={XSRF}", raise_error=False,
                follow_redirects=False, headers={"Cookie": f"_xsrf={XSRF}",
                                                 "Content-Type": "application/x-www-form-urlencoded"})
            statuses[response.code] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    client.close()
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--no-limits", action="store_true", help="game-start limits off (what it cost before)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parlor-anon-", dir="/tmp"))
    processes = Processes()
    try:
        parlor = Parlor(workdir, processes, *(() if args.no_limits else DEFAULT_LIMITS))
        store = redis.Redis(unix_socket_path=str(parlor.redis_socket), decode_responses=True)
        before = store.info("memory")["used_memory"]
        started = time.perf_counter()
        statuses = asyncio.run(attack(parlor.url, args.requests, args.concurrency))
        took = time.perf_counter() - started
        after = store.info("memory")["used_memory"]
        kinds: dict[str, list[int]] = collections.defaultdict(list)
        data_bytes = 0
        for key in store.scan_iter(count=1000):
            kinds[key.split(":", 1)[0]].append(store.ttl(key))
            data_bytes += store.memory_usage(key) or 0
        print(json.dumps({
            "requests": args.requests, "limits": "off" if args.no_limits else "defaults", "seconds": round(took, 1),
            "answers": dict(sorted(statuses.items())), "used_memory_before": before, "used_memory_after": after,
            "grew_bytes": after - before, "keys_bytes": data_bytes,  # MEMORY USAGE of every key, summed
            "keys": {kind: {"count": len(ttls), "longest_ttl_s": max(ttls)} for kind, ttls in sorted(kinds.items())},
        }))
        store.close()
    finally:
        processes.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
