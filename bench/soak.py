"""`make soak`: ten minutes of mixed load; fails if the server's memory, its open descriptors or
Redis's memory keep growing.

The load (bench/load.py): chat through the API at --rate messages/s from 50 users, five players
finishing games (a pause before each guess, as people take), four users following their events
over a WebSocket or a long poll, and --browsers visitors who view pages and boards and open
sockets that they close again a few seconds later. Every --every seconds it samples the
server's RSS and open descriptors and Redis's used_memory, printing a JSON line each time.

At the end it fits a line (least squares) through the samples after --warmup seconds, when
bounded things (the event streams, trimmed to --events-max; SQLite's page caches; sockets'
buffers) have had time to fill, and fails if a slope passes its limit: steady growth, not noise.
Servers and Redis run on one core, this load on the other.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import redis
import tornado.httpclient
import tornado.websocket

from bench.common import Parlor, Processes, pin_self_to_load_core
from bench.load import Connection, Load, make_people

# What counts as steady growth, per minute, after the warm-up. A leak of a kilobyte per request
# at this load is about 4 MB a minute; a descriptor per minute is a leak by any measure.
LIMITS = {"rss_mb": 2.0, "fds": 1.0, "redis_mb": 2.0}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


async def browse(url: str, load: Load, rng: random.Random) -> None:
    """A visitor: a few pages and board fragments, then a socket held a few seconds, again and again."""
    host, port = url.split("//", 1)[1].split(":")
    connection = Connection(host, int(port))
    ws_url = url.replace("http", "ws", 1) + "/live?boards=10,25"
    while load.running:
        for path in rng.sample(["/", "/scores", "/scores/10", "/scores/10/fragment", "/scores/10.json",
                                "/login", "/healthz"], 3):
            started = time.monotonic()
            try:
                status, _, _ = await connection.request("GET", path)
                load.live.note(f"page {status}", time.monotonic() - started)
            except Exception as e:  # noqa: BLE001 - counted and reported, the soak goes on
                load.live.note(f"page {type(e).__name__}", time.monotonic() - started)
        try:
            ws = await tornado.websocket.websocket_connect(
                tornado.httpclient.HTTPRequest(ws_url, headers={"Origin": url}))
            deadline = time.monotonic() + rng.uniform(1, 5)
            while time.monotonic() < deadline:
                try:
                    if await asyncio.wait_for(ws.read_message(), deadline - time.monotonic()) is None:
                        break
                except asyncio.TimeoutError:
                    break
            ws.close()
            load.live.note("socket", 0)
        except Exception as e:  # noqa: BLE001
            load.live.note(f"socket {type(e).__name__}", 0)
        await load.pause(rng.uniform(0.2, 1.0))


async def soak(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="parlor-soak-", dir="/tmp"))
    processes = Processes()
    try:
        parlor = Parlor(workdir, processes, "--eliza-delay=0", f"--events-max={args.events_max}", name="soak")
        url, child, data_dir = parlor.url, parlor.process, parlor.data
        socket_path = data_dir / "redis" / "redis.sock"
        names = [f"user-{i:02d}" for i in range(50)]
        players = [f"player-{i}" for i in range(5)]
        people = await make_people(f"unix://{socket_path}", (data_dir / "secret").read_text().strip(),
                                   names + players)
        load = Load(url, people, names, players, socket_watchers=names[:2], poll_watchers=names[2:4],
                    rate=args.rate, think_s=0.3)
        rng = random.Random(11)
        load.extra = [browse(url, load, rng) for _ in range(args.browsers)]
        store = redis.Redis(unix_socket_path=str(socket_path))
        samples = []
        started = time.monotonic()
        load.start()
        while (elapsed := time.monotonic() - started) < args.minutes * 60:
            sample = {"t": round(elapsed), "rss_mb": round(rss_mb(child.pid), 1),
                      "fds": len(os.listdir(f"/proc/{child.pid}/fd")),
                      "redis_mb": round(store.info("memory")["used_memory"] / 2**20, 1),
                      "messages": len(load.acknowledged), "games": sum(len(c) for c in load.scores.values()),
                      "errors": sum(n for k, n in load.chat.statuses.items() if k not in ("201", "busy"))
                      + sum(n for k, n in load.games.statuses.items() if k not in ("200", "303"))}
            samples.append(sample)
            print(json.dumps(sample), flush=True)
            await asyncio.sleep(args.every - (time.monotonic() - started) % args.every)
        await load.stop()
        store.close()
    finally:
        processes.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    steady = [s for s in samples if s["t"] >= args.warmup]
    slopes = {metric: round(slope_per_minute([(s["t"], s[metric]) for s in steady]), 3) for metric in LIMITS}
    first, last = steady[0], steady[-1]
    minutes = (samples[-1]["t"] - samples[0]["t"]) / 60
    result = {"scenario": "soak", "minutes": round(minutes, 1), "rate_offered": args.rate,
              "messages_per_s": round(len(load.acknowledged) / (samples[-1]["t"] or 1), 1),
              "games": sum(len(c) for c in load.scores.values()), "chat": dict(load.chat.statuses),
              "game_requests": dict(load.games.statuses), "live": dict(load.live.statuses),
              "reloads": load.reloads, "slopes_per_minute": slopes, "limits_per_minute": LIMITS,
              "after_warmup": {m: [first[m], last[m]] for m in LIMITS}}
    print(json.dumps(result), flush=True)
    print("\n| metric | after warm-up | at the end | slope per minute | limit |\n|---|---|---|---|---|")
    for metric, limit in LIMITS.items():
        print(f"| {metric} | {first[metric]} | {last[metric]} | {slopes[metric]} | {limit} |")
    growing = [m for m, limit in LIMITS.items() if slopes[m] > limit]
    if growing:
        print(f"FAIL: steady growth of {', '.join(growing)}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=10, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=120, help="seconds left out of the slope fit")
    parser.add_argument("--rate", type=float, default=60, help="chat messages per second offered")
    parser.add_argument("--browsers", type=int, default=10, help="visitors viewing pages and opening sockets")
    parser.add_argument("--events-max", type=int, default=100,
                        help="the server's --events-max: the streams fill (and stop growing) early")
    args = parser.parse_args()
    pin_self_to_load_core()  # the server and Redis have the other core
    sys.exit(asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
