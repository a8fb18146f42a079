"""`make bench`: Parlor against a bare Tornado baseline, in the same run, on the same machine.

Parlor runs as `make run` starts it (embedded Redis, a fresh data dir). Parlor, its Redis and the
baseline (bench/baseline.py) are pinned to core 0; this load generator (and wrk) to core 1. Each
scenario prints one JSON line; a markdown table closes the run. See docs/performance.md.

  chat      200 users with a socket each, 3 fixed peers each (300 pairs); sends at a rate swept
            upwards until p99 (POST to arrival on the recipient's socket) crosses 50 ms
  fanout    one board change to 1,000 open leaderboard sockets: time to the last arrival
  conns     10,000 then 15,000 idle signed-in sockets: memory per connection, time to open
  fragment  GET /scores/25/fragment, /scores/25.json and a 304 revalidation, against a constant
            fragment (wrk if installed, else a Python client)
  game      complete games per second (start, guess by bisection, win, score recorded)
  workers   chat (POST /api/messages) on parlor --workers 1 and --workers 2, both cores, next to
            bare Tornado: sustained rate and CPU a message (bench/workers.py)

A run is marked invalid when the baseline is more than 25% worse than the reference figures of
the issue (docs/performance.md), or when the load generator was over 90% busy: then the ratio
measures the generator, not the server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import redis

from bench import chat, workers
from bench.client import HttpPool, WebSocket, open_many
from bench.common import (
    LOAD_CORE,
    SERVER_CORE,
    XSRF,
    Baseline,
    LoadMeter,
    Parlor,
    Processes,
    cpu_seconds,
    main_thread_cpu_seconds,
    make_users,
    pin_self_to_load_core,
    pinned,
    raise_descriptor_limit,
    rss_kb,
    two_cores,
)
from parlor.game.ranking import MIN_GAMES

# The figures for bare Tornado on a 2-core machine like this one; a baseline more than
# 25% worse than these means the machine (or the generator) is not fit to measure on.
REFERENCE = {"chat": 2200, "fanout": 32.0, "conns": 15.8, "fragment": 3600}
GENERATOR_LIMIT = 0.9
JOIN_WAIT_S = 120  # how long the conns scenario waits for Parlor to take its sockets in
# Parlor's own flags for every scenario: ELIZA answers at once, the chat-file LRU holds every pair.
PARLOR_FLAGS = ("--eliza-delay=0", "--chat-max-open=512")


@dataclass
class Size:
    """How big each scenario runs: `full` for make bench, `tiny` so make test keeps them working."""

    chat_users: int = 200
    chat_rates: tuple[int, ...] = (400, 800, 1200, 1600, 2400, 3200, 4000)
    chat_seconds: float = 6
    chat_settle_s: float = 1.0  # after the warm-up, before the first rate
    chat_pause_s: float = 0.5  # between two rates: the last one's stragglers are not counted in the next
    fanout_sockets: int = 1000
    fanout_triggers: int = 15
    conns: tuple[int, ...] = (10_000, 15_000)
    fragment_seconds: float = 5
    fragment_runs: int = 3
    fragment_connections: int = 50
    game_players: int = 50
    game_seconds: float = 10
    settle_s: float = 2  # pause before reading a server's memory
    full: bool = True  # tiny runs are not compared with the reference figures


# Every step still runs and answers at this size; its seconds are as short as make test can afford.
TINY = Size(chat_users=10, chat_rates=(20, 40), chat_seconds=0.5, chat_settle_s=0.1, chat_pause_s=0.1,
            fanout_sockets=20, fanout_triggers=2, conns=(30, 60), fragment_seconds=0.5, fragment_runs=1,
            fragment_connections=4, game_players=3, game_seconds=1, settle_s=0.2, full=False)


def median(values):
    return statistics.median(values) if values else None


def verdict(size: Size, baseline_worse: bool, busy: float) -> dict:
    if not size.full:
        return {"valid": False, "invalid_because": ["a tiny run, only to check that the scenario works"]}
    reasons = []
    if baseline_worse:
        reasons.append("the baseline is more than 25% worse than the reference figure")
    if busy > GENERATOR_LIMIT:
        reasons.append(f"the load generator was {busy:.0%} busy")
    return {"valid": not reasons, "invalid_because": reasons}


# -- chat ----------------------------------------------------------------------------------------

# How Parlor is sent a message: POST /api/messages (scripts), the send form's POST as htmx makes
# it (a page without its socket, a picture), and a frame on the page's open socket.
CHAT_PATHS = {"api": "POST /api/messages", "form": "the send form's POST", "ws": "a frame on the page's socket"}
# The bar: all-in CPU a message (server and Redis) at a rate, with p99 within the limit.
CHAT_BAR = {"api": (400, 2000), "form": (400, 2000), "ws": (800, 1200)}  # path: (msgs/s, µs a message)


def run_chat(size: Size, workdir: Path, processes: Processes) -> dict:
    parlor = Parlor(workdir, processes, *PARLOR_FLAGS)
    baseline = Baseline(workdir, processes)
    # Bare Tornado plus the one durable commit per message (no Redis, no template, no session):
    # how much of the target the storage the issue requires leaves, before any of Parlor's code.
    committing = Baseline(workdir, processes, store=workdir / "baseline-store")
    names = [f"chat-{i:04d}" for i in range(size.chat_users)]
    users = asyncio.run(make_users(parlor, names, tokens=True))

    async def measure():
        def bare(name, server):
            return chat.Side(name, server.url, [
                {"name": n, "ws_path": f"/live?user={n}", "ws_headers": "",
                 "post_headers": f"Authorization: Bearer {n}\r\nContent-Type: application/json\r\n"}
                for n in names], server.cpu)

        def parlor_side(path):
            post_headers = {  # the API's token; the form's cookie, XSRF header and htmx's own header
                "api": lambda u: f"Authorization: Bearer {u['token']}\r\nContent-Type: application/json\r\n",
                "form": lambda u: f"Cookie: {u['cookie']}\r\nX-XSRFToken: {XSRF}\r\nHX-Request: true\r\n",
                "ws": lambda u: "",
            }[path]
            return chat.Side(f"parlor_{path}", parlor.url, [
                {"name": u["name"], "ws_path": "/live", "ws_headers": f"Cookie: {u['cookie']}\r\n",
                 "post_headers": post_headers(u)} for u in users],
                parlor.cpu, pid=parlor.pid, redis_cpu=lambda: cpu_seconds(parlor.redis_pid),
                loop_cpu=lambda: main_thread_cpu_seconds(parlor.pid))

        async def sweep(side, via, rates):
            load = chat.Load(side, via=via)
            await load.open()
            await load.warm_up(size.chat_settle_s)
            result = await chat.sweep(load, rates, size.chat_seconds, pause_s=size.chat_pause_s)
            load.close()
            return result

        ladder = list(size.chat_rates)
        paths = {path: await sweep(parlor_side(path), path, ladder) for path in CHAT_PATHS}
        # Bare Tornado at every rate Parlor was measured at, for the CPU a message side by side.
        tried = {path: {s["offered"] for s in paths[path]["steps"]} for path in CHAT_PATHS}
        bare_http = await sweep(bare("baseline", baseline), "api", sorted(set(ladder) | tried["api"] | tried["form"]))
        bare_ws = await sweep(bare("baseline_ws", baseline), "ws", sorted(set(ladder) | tried["ws"]))
        commit = await sweep(bare("baseline_commit", committing), "api", ladder)
        return paths, bare_http, bare_ws, commit

    paths, bare_http, bare_ws, committed = asyncio.run(measure())
    files = len(list((parlor.data / "conversations").glob("*.db")))
    commit_cost = full_commit_cost(parlor.data / "conversations")
    bare_of = {"api": bare_http, "form": bare_http, "ws": bare_ws}

    def step_at(result, rate):
        return next((s for s in result["steps"] if s["offered"] == rate), None)

    bar = {}
    for path, (rate, cpu_limit) in CHAT_BAR.items():
        mine, bare_step = step_at(paths[path], rate), step_at(bare_of[path], rate)
        bar[path] = {"rate": rate, "cpu_us_limit": cpu_limit, "p99_ms_limit": chat.P99_LIMIT_MS,
                     "cpu_us": mine and mine["server_cpu_us_per_message"], "p99_ms": mine and mine["p99_ms"],
                     "baseline_cpu_us": bare_step and bare_step["server_cpu_us_per_message"],
                     "met": bool(mine and chat.good(mine) and mine["server_cpu_us_per_message"] <= cpu_limit)}
    busy = max(r["load_generator_busy"] for r in (*paths.values(), bare_http, bare_ws, committed))
    api, bare = paths["api"], bare_http
    return {"scenario": "chat", "unit": "msgs/s", "what": "sustained rate with p99 <= 50 ms, send to the "
            "recipient's socket, each message committed (WAL, synchronous=FULL) before its push",
            "users": size.chat_users, "pairs": len(chat.pairs_of(size.chat_users)), "pair_files": files,
            "chat_max_open": 512, "seconds_per_rate": size.chat_seconds,
            "parlor": api["sustained"], "baseline": bare["sustained"],
            "ratio": round(api["sustained"] / bare["sustained"], 3) if bare["sustained"] else None,
            "target": "the bar below",
            "rows": [{"what": CHAT_PATHS[path], "parlor": paths[path]["sustained"],
                      "baseline": bare_of[path]["sustained"],
                      "ratio": round(paths[path]["sustained"] / bare_of[path]["sustained"], 3)
                      if bare_of[path]["sustained"] else None} for path in CHAT_PATHS],
            "bar": bar,
            "lost": sum(r["lost"] for r in paths.values()), "errors": sum(r["errors"] for r in paths.values()),
            "baseline_commit": {"sustained": committed["sustained"], "lost": committed["lost"],
                                "pair_files": len(list((workdir / "baseline-store").glob("*.db"))),
                                "ratio": round(committed["sustained"] / bare["sustained"], 3)
                                if bare["sustained"] else None},
            "sweep": {**{f"parlor_{path}": paths[path]["steps"] for path in CHAT_PATHS},
                      "baseline": bare_http["steps"], "baseline_ws": bare_ws["steps"],
                      "baseline_commit": committed["steps"]},
            "sqlite_full_commit_on_server_core": commit_cost,
            **verdict(size, bare["sustained"] < 0.75 * REFERENCE["chat"], busy), "load_generator_busy": busy}


def chat_steps(result: dict) -> str:
    """Every rate of the chat sweep, per path: Parlor's figures and bare Tornado's CPU beside them."""
    lines = []
    sweep = result["sweep"]
    for path, what in CHAT_PATHS.items():
        bare = {s["offered"]: s for s in sweep["baseline_ws" if path == "ws" else "baseline"]}
        lines += ["", f"chat, {what} (µs: all-in CPU a message, server and Redis)", "",
                  "| offered | achieved | p50 | p99 | lost | errors | Parlor µs | of which Redis | of which event loop "
                  "| bare Tornado µs | CPU ratio |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in sweep[f"parlor_{path}"]:
            b = bare.get(s["offered"])
            ratio = (round(s["server_cpu_us_per_message"] / b["server_cpu_us_per_message"], 2)
                     if b and b["server_cpu_us_per_message"] else "–")
            lines.append(f"| {s['offered']:,} | {s['achieved']:,} | {s['p50_ms']} ms | {s['p99_ms']} ms | {s['lost']} "
                         f"| {s['errors']} | {s['server_cpu_us_per_message']:,} | {s['of_which_redis_us']:,} "
                         f"| {s['of_which_event_loop_us']:,} | {b['server_cpu_us_per_message'] if b else '–'} "
                         f"| {ratio} |")
    lines += ["", "| bar | rate | Parlor µs | limit | p99 | bare Tornado µs | met |", "|---|---|---|---|---|---|---|"]
    for path, b in result["bar"].items():
        lines.append(f"| {CHAT_PATHS[path]} | {b['rate']:,} msgs/s | {b['cpu_us']} | {b['cpu_us_limit']:,} "
                     f"| {b['p99_ms']} ms | {b['baseline_cpu_us']} | {'yes' if b['met'] else 'no'} |")
    return "\n".join(lines)


FULL_COMMIT_PROBE = """
import os, sqlite3, sys, time
db = sqlite3.connect(os.path.join(sys.argv[1], "probe.db"), isolation_level=None)
db.execute("PRAGMA journal_mode = WAL"); db.execute("PRAGMA synchronous = FULL")
db.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, body TEXT)")
wall, cpu = time.perf_counter(), time.process_time()
for i in range(300):
    db.execute("INSERT INTO m (body) VALUES ('a message of about this length')")
print((time.perf_counter() - wall) / 300 * 1e6, (time.process_time() - cpu) / 300 * 1e6)
"""


def full_commit_cost(directory: Path) -> dict:
    """What one durable commit costs on the server core, in the chat files' folder: a floor under
    Parlor's cost per message that bare Tornado, storing nothing, does not pay."""
    output = subprocess.run(pinned(SERVER_CORE, [sys.executable, "-c", FULL_COMMIT_PROBE, str(directory)]),
                            check=True, capture_output=True, text=True).stdout.split()
    for suffix in ("", "-wal", "-shm"):
        (directory / f"probe.db{suffix}").unlink(missing_ok=True)
    return {"wall_us": round(float(output[0])), "cpu_us": round(float(output[1]))}


# -- fanout --------------------------------------------------------------------------------------

BOARD_MARK = b'board-25\\"'  # the pushed board's id, inside the JSON frame


async def fanout_times(url: str, count: int, headers: str, path: str, trigger, triggers: int) -> tuple[list, float]:
    """Open `count` sockets; for each trigger, the time from trigger() to the last socket's first
    frame showing the board."""
    arrivals: list[float | None] = [None] * count
    armed = [False]

    def on_text_of(i):
        def on_text(payload: bytes, now: float) -> None:
            if armed[0] and arrivals[i] is None and BOARD_MARK in payload:
                arrivals[i] = now
        return on_text

    started = time.perf_counter()
    sockets = await open_many(count, lambda i: WebSocket.connect(url, path, headers, on_text_of(i)))
    opened = time.perf_counter() - started
    await asyncio.sleep(1)
    times = []
    for _ in range(triggers):
        arrivals[:] = [None] * count
        armed[0] = True
        t0 = await trigger()
        deadline = time.perf_counter() + 10
        while any(a is None for a in arrivals) and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        armed[0] = False
        missing = sum(a is None for a in arrivals)
        if missing:
            raise RuntimeError(f"{missing} of {count} sockets got no board push")
        times.append(round(1000 * (max(arrivals) - t0), 2))
        await asyncio.sleep(0.3)
    for socket in sockets:
        socket.close()
    return times, opened


def run_fanout(size: Size, workdir: Path, processes: Processes) -> dict:
    parlor = Parlor(workdir, processes, *PARLOR_FLAGS)
    seed_board(parlor, 25, 10)
    with urllib.request.urlopen(parlor.url + "/scores/25/fragment") as response:
        fragment = response.read()
    baseline = Baseline(workdir, processes, fragment)
    players = asyncio.run(make_users(parlor, [f"fan-{i:03d}" for i in range(size.fanout_triggers)]))
    store = redis.Redis(unix_socket_path=str(parlor.redis_socket), decode_responses=True)
    for player in players:  # on the board already, a game open: its win is the board change timed
        player["game"] = play_games(parlor, store, player, 25, MIN_GAMES, leave_last_open=True)

    async def measure():
        meter = LoadMeter()
        pool = HttpPool(parlor.url, 2)
        turn = iter(players)

        async def parlor_trigger():
            # A ranked player wins their open game with the first guess (the secret is read from
            # Redis): the winning POST changes their average, which every process pushes.
            player = next(turn)
            headers = f"Cookie: {player['cookie']}\r\nX-XSRFToken: {XSRF}\r\nHX-Request: true\r\n" \
                      "Content-Type: application/x-www-form-urlencoded\r\n"
            game = player["game"]
            secret = store.hget(f"game:{game}", "secret")
            t0 = time.perf_counter()
            response = await pool.request("POST", f"/games/{game}/guesses", headers, f"guess={secret}".encode())
            assert response.status == 200 and b'data-status="won"' in response.body, response.body[:200]
            return t0

        base_pool = HttpPool(baseline.url, 1)

        async def baseline_trigger():
            t0 = time.perf_counter()
            await base_pool.request("POST", "/push")
            return t0

        p_times, p_open = await fanout_times(parlor.url, size.fanout_sockets, "", "/live?boards=25",
                                             parlor_trigger, size.fanout_triggers)
        b_times, b_open = await fanout_times(baseline.url, size.fanout_sockets, "", "/live?user=board",
                                             baseline_trigger, size.fanout_triggers)
        pool.close()
        base_pool.close()
        return p_times, b_times, meter.busy()

    p_times, b_times, busy = asyncio.run(measure())
    store.close()
    p, b = median(p_times), median(b_times)
    return {"scenario": "fanout", "unit": "ms", "what": f"one board change to {size.fanout_sockets:,} sockets, "
            "time to the last arrival (median of triggers)", "sockets": size.fanout_sockets,
            "parlor": p, "baseline": b, "ratio": round(p / b, 3), "target": "<= 1.3",
            "runs": {"parlor": p_times, "baseline": b_times}, "fragment_bytes": len(fragment),
            **verdict(size, b > 1.25 * REFERENCE["fanout"], busy), "load_generator_busy": round(busy, 3)}


# -- conns ---------------------------------------------------------------------------------------

def joined_sockets(url: str) -> int:
    """Parlor's /live connections that have joined its hub (its /metrics, which loopback may read)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        found = re.search(rb'parlor_connections_open\{transport="ws"\} (\d+)', response.read())
    return int(found.group(1)) if found else 0


async def hold(url: str, counts: tuple[int, ...], pid: int, path_of, headers_of, settle_s: float,
               joined=None) -> dict:
    """Open sockets up to each count in turn; RSS of `pid` per connection and time to open (with
    `joined(url)`, until the server says it has taken that many in, not only answered them)."""
    await asyncio.sleep(settle_s)
    before = rss_kb(pid)
    sockets, result = [], {"rss_before_kb": before}
    for count in counts:
        started = time.perf_counter()
        more = await open_many(count - len(sockets),
                               lambda i, offset=len(sockets): WebSocket.connect(url, path_of(offset + i),
                                                                                headers_of(offset + i)))
        sockets += more
        while joined is not None and time.perf_counter() - started < JOIN_WAIT_S:
            if await asyncio.get_running_loop().run_in_executor(None, joined, url) >= count:
                break
            await asyncio.sleep(0.5)
        took = time.perf_counter() - started
        await asyncio.sleep(settle_s)  # let the server settle (and collect) before reading its memory
        alive = sum(not s.closed.done() for s in sockets)
        rss = rss_kb(pid)
        closed = Counter(str(s.close_code) for s in sockets if s.closed.done())
        result[str(count)] = {"open": alive, "seconds_to_open": round(took, 2), "rss_kb": rss,
                              "kb_per_connection": round((rss - before) / count, 2), "closed_by_code": closed}
    for socket in sockets:
        socket.close()
    return result


def run_conns(size: Size, workdir: Path, processes: Processes) -> dict:
    raise_descriptor_limit()
    top = max(size.conns)
    parlor = Parlor(workdir, processes, *PARLOR_FLAGS)
    baseline = Baseline(workdir, processes)
    made = time.perf_counter()
    users = asyncio.run(make_users(parlor, [f"idle-{i:05d}" for i in range(top)]))
    made = time.perf_counter() - made
    meter = LoadMeter()
    b = asyncio.run(hold(baseline.url, size.conns, baseline.pid, lambda i: f"/live?user=idle-{i:05d}", lambda i: "",
                   size.settle_s))
    p = asyncio.run(hold(parlor.url, size.conns, parlor.pid, lambda i: "/live",
                         lambda i: f"Cookie: {users[i]['cookie']}\r\n", size.settle_s, joined=joined_sockets))
    busy = meter.busy()
    redis_rss = rss_kb(parlor.redis_pid)
    key = str(top)
    ratio = round(p[key]["kb_per_connection"] / b[key]["kb_per_connection"], 3)
    return {"scenario": "conns", "unit": "KB per connection", "what": f"RSS per idle signed-in socket at {top:,}",
            "parlor": p[key]["kb_per_connection"], "baseline": b[key]["kb_per_connection"], "ratio": ratio,
            "target": "<= 1.5, and every socket held", "held": p[key]["open"], "detail": {"parlor": p, "baseline": b},
            "redis_rss_kb": redis_rss, "seconds_to_make_users": round(made, 1),
            **verdict(size, b[key]["kb_per_connection"] > 1.25 * REFERENCE["conns"] and top >= 10_000, busy),
            "load_generator_busy": round(busy, 3)}


# -- fragment ------------------------------------------------------------------------------------

def play_games(parlor: Parlor, store: redis.Redis, person: dict, board: int, count: int, misses: int = 0,
               leave_last_open: bool = False) -> str:
    """`count` games of a signed-in person through the HTTP API, each won after `misses` wrong
    guesses (the secret is read from Redis); the last one left open if asked. Its id."""
    headers = {"Cookie": person["cookie"], "X-XSRFToken": XSRF}

    def post(path: str, **fields) -> str:
        request = urllib.request.Request(parlor.url + path, urllib.parse.urlencode(fields).encode(), headers)
        with urllib.request.urlopen(request) as response:  # follows the 303 to the game
            return response.geturl()

    for n in range(count):
        game_id = post("/games", max=str(board)).rsplit("/", 1)[1]
        if leave_last_open and n == count - 1:
            break
        secret = int(store.hget(f"game:{game_id}", "secret"))
        for guess in [g for g in range(1, 1 + misses) if g != secret] + [secret]:
            post(f"/games/{game_id}/guesses", guess=str(guess))
    return game_id


def seed_board(parlor: Parlor, board: int, players: int) -> None:
    """Put `players` signed-in players on a board (MIN_GAMES won games each, a few misses: some
    spread), through the HTTP API."""
    store = redis.Redis(unix_socket_path=str(parlor.redis_socket), decode_responses=True)
    people = asyncio.run(make_users(parlor, [f"seed-{board}-{i:03d}" for i in range(players)]))
    for i, person in enumerate(people):
        play_games(parlor, store, person, board, MIN_GAMES, misses=i % 5)
    store.close()


def wrk(url: str, seconds: float, connections: int, headers: tuple[str, ...] = ()) -> tuple[float, int, float]:
    """(requests/s, requests, p99 ms) from wrk on the load core."""
    extra = [arg for header in headers for arg in ("-H", header)]
    output = subprocess.run(pinned(LOAD_CORE, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                                               *extra, url]), check=True, capture_output=True, text=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{output}")
    total = int(re.search(r"(\d+) requests in", output).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), total, p99


def python_load(url: str, seconds: float, connections: int, headers: tuple[str, ...] = ()) -> tuple[float, int, float]:
    """The same as wrk, slower: for machines without it (make test)."""
    base, path = re.match(r"(https?://[^/]+)(/.*)", url).groups()
    lines = "".join(f"{h}\r\n" for h in headers)

    async def go():
        pool = HttpPool(base, connections)
        latencies = []
        end = time.perf_counter() + seconds

        async def worker():
            while time.perf_counter() < end:
                t = time.perf_counter()
                response = await pool.request("GET", path, lines)
                if response.status >= 400:
                    raise RuntimeError(f"{url}: {response.status}")
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
        pool.close()
        latencies.sort()
        return len(latencies) / elapsed, len(latencies), 1000 * latencies[int(0.99 * (len(latencies) - 1))]

    return asyncio.run(go())


def run_fragment(size: Size, workdir: Path, processes: Processes) -> dict:
    parlor = Parlor(workdir, processes, *PARLOR_FLAGS)
    seed_board(parlor, 25, 10)
    with urllib.request.urlopen(parlor.url + "/scores/25/fragment") as response:
        fragment, etag = response.read(), response.headers["ETag"]
    assert fragment.count(b'class="entry') == 10, fragment
    baseline = Baseline(workdir, processes, fragment)
    with urllib.request.urlopen(baseline.url + "/fragment") as response:
        base_etag = response.headers["ETag"]
    tool = wrk if shutil.which("wrk") and size.full else python_load
    cases = [("GET /scores/25/fragment", parlor.url + "/scores/25/fragment", (), baseline.url + "/fragment", ()),
             ("GET /scores/25.json", parlor.url + "/scores/25.json", (), baseline.url + "/fragment", ()),
             ("304 of /scores/25/fragment", parlor.url + "/scores/25/fragment", (f"If-None-Match: {etag}",),
              baseline.url + "/fragment", (f"If-None-Match: {base_etag}",))]
    meter = LoadMeter()
    rows = []
    for label, p_url, p_headers, b_url, b_headers in cases:
        if size.full:  # warm up
            tool(p_url, 1, size.fragment_connections, p_headers)
            tool(b_url, 1, size.fragment_connections, b_headers)
        runs = []
        for _ in range(size.fragment_runs):  # alternating, so drift on a shared machine hits both alike
            runs.append((tool(p_url, size.fragment_seconds, size.fragment_connections, p_headers),
                         tool(b_url, size.fragment_seconds, size.fragment_connections, b_headers)))
        rows.append({"what": label, "parlor": round(median([p[0] for p, _ in runs])),
                     "baseline": round(median([b[0] for _, b in runs])),
                     "ratio": round(median([p[0] / b[0] for p, b in runs]), 3),
                     "p99_ms": {"parlor": round(median([p[2] for p, _ in runs]), 2),
                                "baseline": round(median([b[2] for _, b in runs]), 2)}})
    busy = meter.busy()
    return {"scenario": "fragment", "unit": "req/s", "tool": tool.__name__, "connections": size.fragment_connections,
            "seconds": size.fragment_seconds, "runs": size.fragment_runs, "bytes": len(fragment),
            "parlor": rows[0]["parlor"], "baseline": rows[0]["baseline"], "ratio": rows[0]["ratio"],
            "target": ">= 0.85 (304: >= 0.9)", "rows": rows,
            **verdict(size, rows[0]["baseline"] < 0.75 * REFERENCE["fragment"], busy), "load_generator_busy": round(busy, 3)}


# -- game ----------------------------------------------------------------------------------------

STATUS_RE = re.compile(rb'data-status="(\w+)"')
WORD_RE = re.compile(rb'class="guess (higher|lower|correct)')


def run_game(size: Size, workdir: Path, processes: Processes) -> dict:
    parlor = Parlor(workdir, processes, *PARLOR_FLAGS)
    players = asyncio.run(make_users(parlor, [f"gamer-{i:03d}" for i in range(size.game_players)]))

    async def measure():
        pool = HttpPool(parlor.url, size.game_players)
        won, requests = [0], [0]
        end = time.perf_counter() + size.game_seconds

        async def play(player):
            headers = f"Cookie: {player['cookie']}\r\nX-XSRFToken: {XSRF}\r\nHX-Request: true\r\n" \
                      "Content-Type: application/x-www-form-urlencoded\r\n"
            while time.perf_counter() < end:
                started = await pool.request("POST", "/games", headers, b"max=25")
                game = started.header("HX-Redirect").rsplit("/", 1)[1]
                low, high = 1, 25
                requests[0] += 1
                while True:
                    guess = (low + high) // 2
                    response = await pool.request("POST", f"/games/{game}/guesses", headers, f"guess={guess}".encode())
                    requests[0] += 1
                    status = STATUS_RE.search(response.body).group(1)
                    if status == b"won":
                        won[0] += 1
                        break
                    word = WORD_RE.search(response.body).group(1)
                    low, high = (guess + 1, high) if word == b"higher" else (low, guess - 1)
                    if low > high:
                        raise RuntimeError(f"bisection lost its way in game {game}")

        meter, cpu_before, started = LoadMeter(), parlor.cpu(), time.perf_counter()
        await asyncio.gather(*(play(p) for p in players))
        elapsed = time.perf_counter() - started
        pool.close()
        return won[0], requests[0], elapsed, parlor.cpu() - cpu_before, meter.busy()

    games, requests, elapsed, cpu, busy = asyncio.run(measure())
    store = redis.Redis(unix_socket_path=str(parlor.redis_socket))
    on_board = store.zcard("scores:25")
    store.close()
    if on_board != size.game_players:
        raise RuntimeError(f"{on_board} players on the board, not {size.game_players}")
    return {"scenario": "game", "unit": "games/s", "what": f"{size.game_players} signed-in players, board 25, "
            "bisection (about 4 guesses a game), score recorded", "parlor": round(games / elapsed, 1),
            "baseline": None, "ratio": None, "target": "none (no baseline does this)",
            "requests_per_second": round(requests / elapsed), "server_cpu_us_per_game": round(cpu * 1e6 / max(1, games)),
            "players_on_board": on_board, **verdict(size, False, busy), "load_generator_busy": round(busy, 3)}


def run_workers(size: Size, workdir: Path, processes: Processes) -> dict:
    result = workers.run_workers(size, workdir, processes, PARLOR_FLAGS)
    return {**result, **verdict(size, result["baseline"] < 0.75 * REFERENCE["chat"], result["load_generator_busy"])}


SCENARIOS = {"chat": run_chat, "fanout": run_fanout, "conns": run_conns, "fragment": run_fragment, "game": run_game,
             "workers": run_workers}


def table(results: list[dict]) -> str:
    lines = ["| scenario | Parlor | bare Tornado | ratio | target | valid |", "|---|---|---|---|---|---|"]
    for r in results:
        unit = r["unit"]
        base = f"{r['baseline']:,} {unit}" if r["baseline"] is not None else "–"
        valid = "yes" if r["valid"] else "no: " + "; ".join(r["invalid_because"])
        lines.append(f"| {r['scenario']} | {r['parlor']:,} {unit} | {base} | {r['ratio'] if r['ratio'] else '–'} "
                     f"| {r['target']} | {valid} |")
        for row in r.get("rows", [])[1 if r["scenario"] != "chat" else 0:]:
            lines.append(f"| {r['scenario']}: {row['what']} | {row['parlor']:,} {unit} | {row['baseline']:,} {unit} "
                         f"| {row['ratio']} | | |")
        if r["scenario"] == "chat":
            lines.append(f"| chat: lost messages | {r['lost']} | | | 0 | |")
            commit = r["baseline_commit"]
            lines.append(f"| chat: bare Tornado + one SQLite commit a message | | {commit['sustained']:,} msgs/s "
                         f"| {commit['ratio'] if commit['ratio'] else '–'} | (the most storing allows) | |")
        if r["scenario"] == "workers":
            lines += [f"| workers: {row['what']}, CPU a message at that rate | {row['cpu_us_per_message']} µs "
                      f"| {r['baseline_cpu_us_per_message']} µs | | | |" for row in r["rows"]]
        if r["scenario"] == "conns":
            lines.append(f"| conns: sockets held | {r['held']:,} | | | all | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS), help=f"some of: {', '.join(SCENARIOS)}")
    parser.add_argument("--tiny", action="store_true", help="each scenario at a tiny size (make test runs this)")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    size = TINY if args.tiny else Size()
    pin_self_to_load_core()
    raise_descriptor_limit()
    print(json.dumps({"machine": {"cores": os.cpu_count(), "pinned": two_cores(),
                                  "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0]}}), flush=True)
    results = []
    for name in args.scenarios:
        workdir = Path(tempfile.mkdtemp(prefix=f"parlor-bench-{name}-", dir="/tmp"))
        processes = Processes()
        try:
            result = SCENARIOS[name](size, workdir, processes)
        finally:
            processes.stop()
        print(json.dumps(result), flush=True)
        results.append(result)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    for result in results:
        if result["scenario"] == "chat":
            print(chat_steps(result))


if __name__ == "__main__":
    main()
