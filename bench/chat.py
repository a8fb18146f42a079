"""One-to-one chat under load: POST a message, time its arrival on the recipient's socket.

USERS users hold one WebSocket each; user i talks with i-1, i+1 and i+USERS/2 (for 200 users,
300 pairs). Sends go to random pairs at a fixed rate (open loop: a send does not wait for the
one before), each as POST /api/messages from the sender ("http"), or as a frame on the sender's
own socket, as a page's send form sends it over /live ("ws"). Latency runs from the moment a
send was due (not when the generator got round to it) to the frame's arrival on the recipient's
socket.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import time
from dataclasses import dataclass, field

from bench.client import HttpPool, WebSocket, open_many
from bench.common import LoadMeter

P99_LIMIT_MS = 50.0
DRAIN_S = 5.0  # a message not arrived after this long with no other arriving meanwhile is lost
MARK_RE = re.compile(rb"bench-(\d+)-x")
SEND_STATE = b'id=\\"send-state-'  # what answers a send made over the socket (in its JSON frame)
SEND_REFUSED = b"status failed"  # ... when the send was refused


def form_body(fields: dict[str, str]) -> tuple[bytes, str]:
    """The send form as a browser posts it (multipart, with an empty file input): body, type."""
    boundary = "----parlorbench7MA4YWxkTrZu0gW"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename=""\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n\r\n--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


def pairs_of(count: int) -> list[tuple[int, int]]:
    """The fixed pairs: i with i+1 and with i+count/2 (each user has 3 peers)."""
    found = set()
    for i in range(count):
        for j in ((i + 1) % count, (i + count // 2) % count):
            if i != j:
                found.add((min(i, j), max(i, j)))
    return sorted(found)


@dataclass
class Side:
    """Parlor or the baseline, as the chat load sees it."""

    name: str
    url: str
    users: list[dict]  # name, ws_path, ws_headers, post_headers, and url if not the side's
    cpu: object  # () -> CPU seconds of the server (and its Redis)
    sockets: list = field(default_factory=list)
    pid: int | None = None  # the server process, for BENCH_PYSPY
    redis_cpu: object = None  # () -> CPU seconds of its Redis alone, if it has one
    loop_cpu: object = None  # () -> CPU seconds of its event-loop thread alone, if known


class Load:
    def __init__(self, side: Side, pool_size: int = 64, via: str = "api"):
        self.side = side
        # "api": POST /api/messages; "form": the send form's POST, as htmx makes it; "ws": a frame
        # on the sender's socket, as the page's send form makes it
        self.via = via
        self.answers = self.refusals = 0  # sends over the sockets answered, and refused
        # Client ids are unique to this load: loads on one server (one per path) never resend.
        self.tag = f"bench{os.getpid()}{id(self) % 10_000:04d}"
        urls = {user.get("url", side.url) for user in side.users}
        self.pools = {url: HttpPool(url, pool_size // len(urls)) for url in urls}
        self.sent_at: dict[int, float] = {}
        self.arrived: dict[int, float] = {}
        self.recipient: dict[int, str] = {}
        self.counter = 0
        self.in_flight = 0
        self.pairs = pairs_of(len(side.users))
        self.rng = random.Random(7)

    async def open(self) -> float:
        started = time.perf_counter()

        def reader(name):
            def on_text(payload: bytes, now: float) -> None:
                if SEND_STATE in payload:
                    self.answers += 1
                    self.refusals += SEND_REFUSED in payload
                    self.in_flight -= 1
                for match in MARK_RE.finditer(payload):
                    number = int(match.group(1))
                    if self.recipient.get(number) == name and number not in self.arrived:
                        self.arrived[number] = now
            return on_text

        users = self.side.users
        self.side.sockets = await open_many(len(users), lambda i: WebSocket.connect(
            users[i].get("url", self.side.url), users[i]["ws_path"], users[i]["ws_headers"], reader(users[i]["name"])))
        return time.perf_counter() - started

    def close(self) -> None:
        for socket in self.side.sockets:
            socket.close()
        for pool in self.pools.values():
            pool.close()

    async def send(self, number: int, sender: dict, peer: str, errors: list) -> None:
        body = json.dumps({"to": peer, "body": f"bench-{number}-x", "client_id": f"{self.tag}-{number:010d}"})
        if self.via == "ws":  # answered on the sender's socket (see reader); arrival is what counts
            self.in_flight += 1
            self.side.sockets[self.side.users.index(sender)].send_text(body)
            return
        path, headers, expected = "/api/messages", sender["post_headers"], 201
        if self.via == "form":
            path, expected = f"/chat/{peer}/messages", 200
            body, content_type = form_body({"to": peer, "body": f"bench-{number}-x",
                                            "client_id": f"{self.tag}-{number:010d}"})
            headers += f"Content-Type: {content_type}\r\n"
        body = body.encode() if isinstance(body, str) else body
        self.in_flight += 1
        try:
            pool = self.pools[sender.get("url", self.side.url)]
            response = await pool.request("POST", path, headers, body)
            if response.status != expected:
                errors.append(response.status)
                self.recipient.pop(number, None)
        finally:
            self.in_flight -= 1

    async def warm_up(self, settle_s: float = 1.0) -> None:
        """A first message on every pair: its file is made and opened before anything is timed;
        then `settle_s` for the server to finish what the warm-up started."""
        users, errors = self.side.users, []
        gate = asyncio.Semaphore(16)

        async def one(a, b):
            async with gate:
                self.counter += 1
                await self.send(self.counter, users[a], users[b]["name"], errors)

        await asyncio.gather(*(one(a, b) for a, b in self.pairs))
        deadline = time.perf_counter() + 60
        while self.in_flight > 0 and time.perf_counter() < deadline:  # sends over sockets: their answers
            await asyncio.sleep(0.05)
        if self.in_flight > 0 or self.refusals:
            raise RuntimeError(f"{self.side.name}: warm-up sends over sockets: {self.in_flight} unanswered, "
                               f"{self.refusals} refused")
        if errors:
            raise RuntimeError(f"{self.side.name}: warm-up sends failed: {errors[:5]}")
        await asyncio.sleep(settle_s)

    async def at_rate(self, rate: int, seconds: float) -> dict:
        """Send at `rate` for `seconds` (stopping early if a second's worth of sends is waiting:
        saturated); then wait for the arrivals."""
        users, errors, numbers = self.side.users, [], []
        refusals_before = self.refusals
        total = int(rate * seconds)
        tasks = []
        saturated = False
        meter, cpu_before = LoadMeter(), self.side.cpu()
        redis_before = self.side.redis_cpu() if self.side.redis_cpu else 0.0
        loop_before = self.side.loop_cpu() if self.side.loop_cpu else 0.0
        profiler = None
        if os.environ.get("BENCH_PYSPY") and self.side.pid:  # for digging: py-spy while sending
            profiler = subprocess.Popen(["py-spy", "record", "--gil", "-f", "raw", "-d", str(int(seconds)), "-p",
                                         str(self.side.pid), "-o", f"{os.environ['BENCH_PYSPY']}-{rate}.txt"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.perf_counter()
        k = 0
        while k < total and not saturated:
            now = time.perf_counter()
            due_count = min(total, int((now - start) * rate) + 1)
            while k < due_count:
                if self.in_flight > max(50, rate):
                    saturated = True
                    break
                self.counter += 1
                number = self.counter
                a, b = self.pairs[self.rng.randrange(len(self.pairs))]
                if self.rng.random() < 0.5:
                    a, b = b, a
                self.sent_at[number] = start + k / rate
                self.recipient[number] = users[b]["name"]
                numbers.append(number)
                tasks.append(asyncio.ensure_future(self.send(number, users[a], users[b]["name"], errors)))
                k += 1
            await asyncio.sleep(max(0.0, min(0.002, start + k / rate - time.perf_counter())))
        await asyncio.gather(*tasks)
        progress, quiet_since = -1, time.perf_counter()
        while self.in_flight > 0 and time.perf_counter() - quiet_since < DRAIN_S:  # sends over sockets
            if self.in_flight != progress:
                progress, quiet_since = self.in_flight, time.perf_counter()
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        if profiler is not None:
            profiler.wait()
        busy = meter.busy()
        server_cpu = self.side.cpu() - cpu_before
        redis_cpu = (self.side.redis_cpu() - redis_before) if self.side.redis_cpu else 0.0
        loop_cpu = (self.side.loop_cpu() - loop_before) if self.side.loop_cpu else 0.0
        answered = [n for n in numbers if n in self.recipient]
        # Wait for the arrivals while they keep coming (a saturated server drains its queue).
        progress, quiet_since = -1, time.perf_counter()
        while (waiting := sum(n not in self.arrived for n in answered)) and time.perf_counter() - quiet_since < DRAIN_S:
            if waiting != progress:
                progress, quiet_since = waiting, time.perf_counter()
            await asyncio.sleep(0.05)
        ms = sorted(1000 * (self.arrived[n] - self.sent_at[n]) for n in answered if n in self.arrived)

        def pct(p):
            return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 2) if ms else None

        return {"offered": rate, "sent": len(numbers), "answered": len(answered),
                "achieved": round(len(answered) / elapsed), "errors": len(errors) + self.refusals - refusals_before,
                "lost": len(answered) - len(ms), "saturated": saturated,
                "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(ms[-1], 2) if ms else None,
                "mean_ms": round(statistics.mean(ms), 2) if ms else None,
                "server_cpu_us_per_message": round(server_cpu * 1e6 / max(1, len(answered))),
                "of_which_redis_us": round(redis_cpu * 1e6 / max(1, len(answered))),
                "of_which_event_loop_us": round(loop_cpu * 1e6 / max(1, len(answered))),
                "load_generator_busy": round(busy, 3)}


def good(step: dict) -> bool:
    return (not step["saturated"] and step["p99_ms"] is not None and step["p99_ms"] <= P99_LIMIT_MS
            and step["achieved"] >= 0.95 * step["offered"])


async def sweep(load: Load, rates: list[int], seconds: float, halvings: int = 3, pause_s: float = 0.5) -> dict:
    """Rates from low to high until p99 crosses the limit; then up to `halvings` steps of
    bisection between the highest rate that passed (0 if none) and the lowest that failed; a
    pause of `pause_s` after each rate."""
    steps = []
    for rate in rates:
        steps.append(await load.at_rate(rate, seconds))
        await asyncio.sleep(pause_s)
        if not good(steps[-1]):
            break
    for _ in range(halvings):
        passing = [s["offered"] for s in steps if good(s)]
        failing = [s["offered"] for s in steps if not good(s)]
        if not failing:
            break
        low, high = max(passing, default=0), min(failing)
        if high - low <= max(1, high // 10):  # within 10%: close enough
            break
        steps.append(await load.at_rate((low + high) // 2, seconds))
        await asyncio.sleep(pause_s)
    passing = [s["offered"] for s in steps if good(s)]
    failing = [s["offered"] for s in steps if not good(s)]
    return {"steps": sorted(steps, key=lambda s: s["offered"]),
            "sustained": max(passing) if passing else 0,  # the highest rate with p99 within the limit
            "crossed_at": min(failing) if failing else None,
            "lost": sum(s["lost"] for s in steps), "errors": sum(s["errors"] for s in steps),
            "load_generator_busy": max(s["load_generator_busy"] for s in steps)}
