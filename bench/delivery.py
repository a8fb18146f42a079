"""`make bench-delivery`: how long a chat message takes from its POST to the recipient's socket.

200 signed-in users, one WebSocket each, each with 3 fixed peers (300 pairs: i-1, i+1, i+100);
messages go to random pairs at a fixed rate (open loop: a send does not wait for the one before),
through POST /api/messages, each committed to its pair's SQLite file before it is pushed. Run
with one Parlor process, then with two processes on one Redis (sockets split between them, sends
alternating, so half of the messages cross processes). Servers and Redis share one core, this
load generator has the other. Prints a JSON line per setup and a markdown table.

For digging: BENCH_PROFILE=/tmp/prof- runs the servers under cProfile (files /tmp/prof-<name>);
BENCH_REDIS_STATS=1 prints Redis's busiest commands after each setup.
"""
from __future__ import annotations

import argparse
import os
import asyncio
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
import tornado.httpclient
import tornado.web
import tornado.websocket

from bench.__main__ import LOAD_CORE, NO_LIMITS, SERVER_CORE, Processes, free_port, pinned, wait_http
from parlor.sessions import Sessions
from parlor.users import Accounts

USERS = 200
BODY_RE = re.compile(r'<p class="body">b(\d+)</p>')


def cpu_of(pids: list[int]) -> float:
    from bench.__main__ import cpu_seconds

    return sum(cpu_seconds(pid) for pid in pids)


def start_server(workdir: Path, processes: Processes, name: str, *flags: str) -> tuple[str, object]:
    port = free_port()
    profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"] + name] if os.environ.get("BENCH_PROFILE") else []
    child = processes.start(pinned(SERVER_CORE, [sys.executable, *profile, "server.py", "--port", str(port),
                                                 "--data-dir", str(workdir / "data"), *NO_LIMITS, *flags]),
                            workdir / f"{name}.log")
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return f"http://127.0.0.1:{port}", child


async def make_users(redis_url: str, secret: str) -> list[dict]:
    """Accounts, sessions and API tokens through parlor's own code, without hashing 200 passwords."""
    store = aioredis.Redis.from_url(redis_url, decode_responses=True)
    accounts, sessions = Accounts(store, None), Sessions(store)
    users = []
    for i in range(USERS):
        name = f"user-{i:03d}"
        await store.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})
        session_id, _ = await sessions.rotate(None, user=name)
        cookie = tornado.web.create_signed_value(secret, "parlor_session", session_id).decode()
        users.append({"name": name, "cookie": f"parlor_session={cookie}",
                      "token": await accounts.new_api_token(name)})
    await store.aclose()
    return users


class KeepAlivePool:
    """A lean HTTP/1.1 client on persistent connections: the load generator must cost far less
    than the server it measures (Tornado's own client costs about a millisecond a request)."""

    def __init__(self, url: str, size: int):
        host, port = url.rsplit("//", 1)[1].split(":")
        self._address = (host, int(port))
        self._idle: asyncio.Queue = asyncio.Queue()
        self._opened = 0
        self._size = size
        self._all = []

    async def _connection(self):
        if self._idle.empty() and self._opened < self._size:
            self._opened += 1
            connection = await asyncio.open_connection(*self._address)
            self._all.append(connection[1])
            return connection
        return await self._idle.get()

    async def post(self, path: str, body: str, token: str) -> int:
        reader, writer = await self._connection()
        data = body.encode()
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {self._address[0]}\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
        await reader.readexactly(length)
        self._idle.put_nowait((reader, writer))
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        for writer in self._all:
            writer.close()


async def measure(urls: list[str], users: list[dict], rate: int, seconds: int, pids: list[int]) -> dict:
    sent_at: dict[int, float] = {}
    latencies: dict[int, float] = {}
    recipient_of: dict[int, str] = {}
    sockets = []
    for i, user in enumerate(users):
        url = urls[i % len(urls)]
        request = tornado.httpclient.HTTPRequest(url.replace("http", "ws", 1) + "/live",
                                                 headers={"Cookie": user["cookie"], "Origin": url})
        sockets.append((user["name"], await tornado.websocket.websocket_connect(request)))

    async def read(name, ws):
        while (raw := await ws.read_message()) is not None:
            now = time.perf_counter()
            for number in BODY_RE.findall(json.loads(raw).get("content", "")):
                number = int(number)
                if recipient_of.get(number) == name and number not in latencies:
                    latencies[number] = now - sent_at[number]

    readers = [asyncio.ensure_future(read(name, ws)) for name, ws in sockets]
    pools = {url: KeepAlivePool(url, 64) for url in urls}
    errors = []

    async def send(number: int, url: str, sender: dict, peer: str):
        body = json.dumps({"to": peer, "body": f"b{number}", "client_id": f"bench-{number:08d}"})
        sent_at[number] = time.perf_counter()
        status = await pools[url].post("/api/messages", body, sender["token"])
        if status != 201:
            errors.append(status)

    # Warm-up, not measured: every pair's file exists (a first message creates and migrates it).
    for i in range(USERS):
        for j in ((i + 1) % USERS, (i + USERS // 2) % USERS):
            if i < j or j == (i + 1) % USERS:
                await pools[urls[0]].post("/api/messages", json.dumps({"to": users[j]["name"], "body": "hi"}),
                                          users[i]["token"])
    await asyncio.sleep(2)  # the warm-up's pushes are read

    total = rate * seconds
    rng = random.Random(7)
    tasks = []
    cpu_before, own_before = cpu_of(pids), time.process_time()
    start = time.perf_counter()
    for number in range(total):
        delay = start + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        i = rng.randrange(USERS)
        j = (i + rng.choice((-1, 1, USERS // 2))) % USERS
        recipient_of[number] = users[j]["name"]
        tasks.append(asyncio.ensure_future(send(number, urls[number % len(urls)], users[i], users[j]["name"])))
    await asyncio.gather(*tasks)
    achieved = total / (time.perf_counter() - start)
    server_cpu, own_cpu = cpu_of(pids) - cpu_before, time.process_time() - own_before
    deadline = time.perf_counter() + 10
    while len(latencies) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for _, ws in sockets:
        ws.close()
    for reader in readers:
        reader.cancel()
    ms = sorted(1000 * v for v in latencies.values())

    def pct(p):
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 2) if ms else None

    for pool in pools.values():
        pool.close()
    return {"sent": total, "delivered": len(ms), "lost": total - len(ms), "errors": len(errors),
            "achieved_rate": round(achieved), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": round(ms[-1], 2) if ms else None, "mean_ms": round(statistics.mean(ms), 2) if ms else None,
            "server_cpu_us_per_message": round(server_cpu * 1e6 / total),
            "load_generator_cpu_us_per_message": round(own_cpu * 1e6 / total)}


def run(processes_count: int, rate: int, seconds: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="parlor-bench-delivery-", dir="/tmp"))
    processes = Processes()
    try:
        flags = ("--chat-max-open=512", "--eliza-delay=0")
        first, child = start_server(workdir, processes, "a", *flags)
        redis_url = f"unix://{workdir / 'data' / 'redis' / 'redis.sock'}"
        servers = [(first, child)] + [start_server(workdir, processes, f"p{n}", *flags, "--redis-url", redis_url)
                                      for n in range(1, processes_count)]
        redis_pid = int((workdir / "data" / "redis" / "redis.pid").read_text())
        secret = (workdir / "data" / "secret").read_text().strip()
        users = asyncio.run(make_users(redis_url, secret))
        result = asyncio.run(measure([url for url, _ in servers], users, rate, seconds,
                                     [c.pid for _, c in servers] + [redis_pid]))
        if os.environ.get("BENCH_REDIS_STATS"):
            import redis as sync_redis

            stats = sync_redis.Redis(unix_socket_path=str(workdir / "data" / "redis" / "redis.sock")).info("commandstats")
            for name, row in sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:12]:
                print(name, row, file=sys.stderr)
    finally:
        processes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"scenario": "delivery", "processes": processes_count, "users": USERS, "pairs": 300,
            "rate": rate, "seconds": seconds, **result}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=500, help="messages per second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--processes", default="1,2", help="server processes to try, comma-separated")
    args = parser.parse_args()
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {int(LOAD_CORE)})  # the servers and Redis have the other core
    results = []
    for count in (int(n) for n in args.processes.split(",")):
        result = run(count, args.rate, args.seconds)
        print(json.dumps(result), flush=True)
        results.append(result)
    print("\n| processes | rate | delivered | lost | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['processes']} | {r['achieved_rate']} msgs/s | {r['delivered']:,} of {r['sent']:,} | {r['lost']} "
              f"| {r['p50_ms']} ms | {r['p90_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms |")


if __name__ == "__main__":
    main()
