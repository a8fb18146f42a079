"""`make bench`: Parlor against bare Tornado on the same machine, in the same run.

Parlor runs as `make run` starts it (embedded Redis, a fresh data dir); it and its Redis are pinned
to one core, the baseline to that same core, and the load generator (wrk) to the other. Each
scenario prints one JSON line; a markdown table closes the run.

Scenarios:
  fragment  GET /scores/25/fragment (a board with 10 entries) vs the baseline's constant fragment
  chat      sequential sends (one at a time) to one pair and to 100 pairs, each committed to the
            pair's SQLite file, vs a baseline that takes the same form and stores nothing; then
            the open descriptors after 1,000 pairs were touched
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"


def pinned(core: str, command: list[str]) -> list[str]:
    """Pin a command to one core where the machine has two or more."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", core, *command]
    return command


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> tuple[float, int]:
    """Requests per second and requests in all that wrk (on the load core) got from url."""
    extra = ["-s", str(script)] if script else []
    output = subprocess.run(
        pinned(LOAD_CORE, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *extra, url]),
        check=True, capture_output=True, text=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{output}")
    total = int(re.search(r"(\d+) requests in", output).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), total


def measure(url: str, pid: int, seconds: int, connections: int, script: Path | None = None) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request) for one wrk run."""
    before = cpu_seconds(pid)
    rps, total = wrk(url, seconds, connections, script)
    return rps, (cpu_seconds(pid) - before) * 1e6 / total


class Processes:
    def __init__(self):
        self.children: list[subprocess.Popen] = []

    def start(self, command: list[str], log: Path) -> subprocess.Popen:
        child = subprocess.Popen(command, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()


def seed_board(base_url: str, socket_path: Path, board: int, players: int) -> None:
    """Finish `players` games on a board through the HTTP API, as guests."""
    store = redis.Redis(unix_socket_path=str(socket_path), decode_responses=True)
    for i in range(players):
        cookies = urllib.request.HTTPCookieProcessor()
        opener = urllib.request.build_opener(cookies)
        opener.open(base_url + "/login").read()
        xsrf = next(c.value for c in cookies.cookiejar if c.name == "_xsrf")

        def post(path, **fields):
            data = urllib.parse.urlencode({**fields, "_xsrf": xsrf}).encode()
            return opener.open(base_url + path, data=data)

        game_url = post("/games", max=str(board)).geturl()
        game_id = game_url.rsplit("/", 1)[1]
        secret = int(store.hget(f"game:{game_id}", "secret"))
        for wrong in range(1, 1 + i % 5):  # a few wrong guesses, for a board with some spread
            if wrong != secret:
                post(f"/games/{game_id}/guesses", guess=str(wrong))
        post(f"/games/{game_id}/guesses", guess=str(secret))
        post(f"/games/{game_id}/name", name=f"player {i}")
    store.close()


# The bench measures sending, not refusing: one user sends thousands of messages.
NO_LIMITS = ("--message-limit=0", "--conversation-limit=0", "--image-limit=0", "--signup-limit=0",
             "--guess-limit=0")


def start_parlor(workdir: Path, processes: Processes, *flags: str) -> tuple[subprocess.Popen, str]:
    """Parlor as `make run` starts it (embedded Redis, fresh data dir), pinned to the server core."""
    port = free_port()
    server = processes.start(pinned(SERVER_CORE, [sys.executable, "server.py", "--port", str(port),
                                                  "--data-dir", str(workdir / "data"), *NO_LIMITS, *flags]),
                             workdir / "parlor.log")
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return server, f"http://127.0.0.1:{port}"


def start_baseline(workdir: Path, processes: Processes, fragment: bytes = b"<p>hi</p>") -> tuple[subprocess.Popen, str]:
    fragment_file = workdir / "fragment.html"
    fragment_file.write_bytes(fragment)
    port = free_port()
    base = processes.start(pinned(SERVER_CORE, [sys.executable, "-m", "bench.baseline", "--port", str(port),
                                                "--fragment-file", str(fragment_file)]), workdir / "baseline.log")
    wait_http(f"http://127.0.0.1:{port}/fragment")
    return base, f"http://127.0.0.1:{port}"


def run_fragment(args, workdir: Path, processes: Processes) -> dict:
    server, parlor = start_parlor(workdir, processes)
    data_dir = workdir / "data"
    seed_board(parlor, data_dir / "redis" / "redis.sock", 25, 10)
    url = parlor + "/scores/25/fragment"
    with urllib.request.urlopen(url) as response:
        fragment = response.read()
    assert fragment.count(b'class="entry"') == 10, fragment
    base, baseline = start_baseline(workdir, processes, fragment)
    baseline += "/fragment"
    wrk(url, 2, args.connections)  # warm both up
    wrk(baseline, 2, args.connections)
    runs = []
    for _ in range(args.runs):  # alternating, so drift on a shared machine hits both alike
        runs.append((measure(url, server.pid, args.seconds, args.connections),
                     measure(baseline, base.pid, args.seconds, args.connections)))
    median = statistics.median
    return {"scenario": "fragment", "what": "GET /scores/25/fragment, 10 entries",
            "unit": "req/s", "connections": args.connections, "seconds": args.seconds, "runs": args.runs,
            "parlor": round(median(p[0] for p, _ in runs)), "baseline": round(median(b[0] for _, b in runs)),
            "ratio": round(median(p[0] / b[0] for p, b in runs), 3),
            "cpu_us_per_request": {"parlor": round(median(p[1] for p, _ in runs), 1),
                                   "baseline": round(median(b[1] for _, b in runs), 1)},
            "cpu_ratio": round(median(b[1] / p[1] for p, b in runs), 3),
            "pairs": [[round(p[0]), round(b[0])] for p, b in runs], "bytes": len(fragment)}


SEND_SCRIPT = """
local peers = {%(peers)s}
local n = 0
request = function()
  n = n + 1
  local peer = peers[(n %% #peers) + 1]
  local body = "author=%(author)s&message=bench+message+" .. n .. "&client_id=%(tag)s-" .. string.format("%%010d", n)
  return wrk.format("POST", "/send_message/" .. peer, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = [==[%(cookie)s]==],
    ["X-XSRFToken"] = [==[%(xsrf)s]==],
  }, body)
end
"""


def sign_in(base_url: str, username: str, password: str = "bench password") -> tuple[str, str]:
    """Sign up through the real form; returns the Cookie header and the XSRF token."""
    cookies = urllib.request.HTTPCookieProcessor()
    opener = urllib.request.build_opener(cookies)
    opener.open(base_url + "/signup").read()
    xsrf = next(c.value for c in cookies.cookiejar if c.name == "_xsrf")
    opener.open(base_url + "/signup", data=urllib.parse.urlencode(
        {"username": username, "password": password, "_xsrf": xsrf}).encode()).read()
    return "; ".join(f"{c.name}={c.value}" for c in cookies.cookiejar), xsrf


def add_peers(socket_path: Path, names: list[str]) -> None:
    """Accounts for the peers, written straight to Redis: they only need to exist, and hashing
    a thousand passwords would take the bench minutes."""
    store = redis.Redis(unix_socket_path=str(socket_path))
    with store.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})
        pipe.execute()
    store.close()


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_chat(args, workdir: Path, processes: Processes) -> dict:
    max_open = 256
    server, parlor = start_parlor(workdir, processes, f"--chat-max-open={max_open}")
    base, baseline = start_baseline(workdir, processes)
    socket_path = workdir / "data" / "redis" / "redis.sock"
    peers = [f"peer-{i:04d}" for i in range(1000)]
    add_peers(socket_path, peers)
    cookie, xsrf = sign_in(parlor, "bench-author")
    results = {}
    for label, count in (("one_pair", 1), ("100_pairs", 100)):
        runs = []
        for run in range(args.runs):
            scripts = []
            for side in ("parlor", "baseline"):
                script = workdir / f"send-{label}-{run}-{side}.lua"
                script.write_text(SEND_SCRIPT % {
                    "peers": ", ".join(f'"{p}"' for p in peers[:count]), "author": "bench-author",
                    "tag": f"{label}-{run}-{side}", "cookie": cookie, "xsrf": xsrf})
                scripts.append(script)
            runs.append((measure(parlor + "/", server.pid, args.seconds, 1, scripts[0]),
                         measure(baseline + "/", base.pid, args.seconds, 1, scripts[1])))
        results[label] = runs
    before = open_descriptors(server.pid)
    script = workdir / "touch.lua"
    script.write_text(SEND_SCRIPT % {"peers": ", ".join(f'"{p}"' for p in peers), "author": "bench-author",
                                     "tag": "touch", "cookie": cookie, "xsrf": xsrf})
    _, sent = wrk(parlor + "/", 30, 1, script)  # a new file is made and migrated per pair: slower
    touched = len(list((workdir / "data" / "conversations").glob("*.db")))
    median = statistics.median
    return {"scenario": "chat", "what": "sequential sends, committed (WAL, synchronous=FULL)", "unit": "msgs/s",
            "chat_max_open": max_open,
            **{f"{label}": {"parlor": round(median(p[0] for p, _ in runs)),
                            "baseline": round(median(b[0] for _, b in runs)),
                            "ratio": round(median(p[0] / b[0] for p, b in runs), 3),
                            "parlor_cpu_us_per_message": round(median(p[1] for p, _ in runs), 1)}
               for label, runs in results.items()},
            "pairs_touched": touched, "messages_to_touch_them": sent,
            "open_descriptors": {"before": before, "after": open_descriptors(server.pid)}}


SCENARIOS = {"fragment": run_fragment, "chat": run_chat}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS), help=f"some of: {', '.join(SCENARIOS)}")
    parser.add_argument("--seconds", type=int, default=5, help="length of one measured run")
    parser.add_argument("--runs", type=int, default=6, help="measured runs per side, alternating (medians kept)")
    parser.add_argument("--connections", type=int, default=50, help="wrk's open connections")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: make bench installs it (apt-get install wrk)")
    results = []
    for name in args.scenarios:
        workdir = Path(tempfile.mkdtemp(prefix=f"parlor-bench-{name}-", dir="/tmp"))
        processes = Processes()
        try:
            result = SCENARIOS[name](args, workdir, processes)
        finally:
            processes.stop()
        print(json.dumps(result), flush=True)
        results.append(result)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n| scenario | Parlor | bare Tornado | ratio (median of pairs) |\n|---|---|---|---|")
    for r in results:
        for label, row in _rows(r):
            print(f"| {label} | {row['parlor']:,} {r['unit']} | {row['baseline']:,} {r['unit']} | {row['ratio']} |")
        if "open_descriptors" in r:
            fds = r["open_descriptors"]
            print(f"| chat: open descriptors after {r['pairs_touched']:,} pairs touched "
                  f"(LRU {r['chat_max_open']}) | {fds['after']} (before: {fds['before']}) | | |")


def _rows(result: dict):
    if "parlor" in result:
        yield f"{result['scenario']} ({result['what']})", result
    for key in ("one_pair", "100_pairs"):
        if key in result:
            yield f"{result['scenario']}: {key.replace('_', ' ')} ({result['what']})", result[key]

if __name__ == "__main__":
    main()
