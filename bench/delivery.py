"""`make bench-delivery`: chat delivery with one Parlor process, then with several on one Redis.

The chat scenario of `make bench` (bench/chat.py: 200 users, 3 fixed peers each, POST to the
recipient's socket) at one fixed rate, against 1 and 2 processes sharing one Redis: sockets and
sends are split between the processes, so half of the messages cross from one to the other.
Servers and Redis share one core, this load generator has the other. Prints a JSON line per
setup and a markdown table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from pathlib import Path

from bench import chat
from bench.common import (
    XSRF,
    Parlor,
    Processes,
    cpu_seconds,
    main_thread_cpu_seconds,
    make_users,
    pin_self_to_load_core,
)

USERS = int(__import__("os").environ.get("BENCH_USERS", "200"))


def run(processes_count: int, rate: int, seconds: float, via: str = "api") -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="parlor-bench-delivery-", dir="/tmp"))
    processes = Processes()
    try:
        flags = ("--chat-max-open=512", "--eliza-delay=0")
        first = Parlor(workdir, processes, *flags, name="p0")
        servers = [first] + [Parlor(workdir, processes, *flags, "--redis-url", first.redis_url, name=f"p{n}")
                             for n in range(1, processes_count)]
        users = asyncio.run(make_users(first, [f"chat-{i:04d}" for i in range(USERS)], tokens=True))

        async def measure():
            # Each user's socket and sends go to one process: user i to process i % count.
            side = chat.Side("parlor", first.url, [
                {"name": u["name"], "ws_path": "/live", "ws_headers": f"Cookie: {u['cookie']}\r\n",
                 "post_headers": (f"Cookie: {u['cookie']}\r\nX-XSRFToken: {XSRF}\r\nHX-Request: true\r\n"
                                  if via == "form" else
                                  f"Authorization: Bearer {u['token']}\r\nContent-Type: application/json\r\n"),
                 "url": servers[i % processes_count].url} for i, u in enumerate(users)],
                lambda: first.cpu() + sum(s.server_cpu() for s in servers[1:]), pid=first.pid,
                redis_cpu=lambda: cpu_seconds(first.redis_pid), loop_cpu=lambda: main_thread_cpu_seconds(first.pid))
            load = chat.Load(side, via=via)
            await load.open()
            await load.warm_up()
            result = await load.at_rate(rate, seconds)
            load.close()
            return result

        result = asyncio.run(measure())
    finally:
        processes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"scenario": "delivery", "processes": processes_count, "users": USERS, "via": via,
            "pairs": len(chat.pairs_of(USERS)), "seconds": seconds, **result}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=500, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", default="1,2", help="server processes to try, comma-separated")
    parser.add_argument("--via", choices=("api", "form", "ws"), default="api",
                        help="send as POST /api/messages, as the send form's POST, or over the sender's socket")
    args = parser.parse_args()
    pin_self_to_load_core()
    results = []
    for count in (int(n) for n in args.processes.split(",")):
        result = run(count, args.rate, args.seconds, args.via)
        print(json.dumps(result), flush=True)
        results.append(result)
    print("\n| processes | offered | achieved | lost | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['processes']} | {r['offered']} msgs/s | {r['achieved']} msgs/s | {r['lost']} of {r['answered']:,} "
              f"| {r['p50_ms']} ms | {r['p90_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms |")


if __name__ == "__main__":
    main()
