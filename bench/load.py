"""Mixed load that remembers what the server acknowledged: the crash tests and `make soak` use it.

- Chat: users send at a fixed total rate (open loop) through POST /api/messages with their API
  token, each to a few fixed peers. A message is acknowledged when the server answered 201, or
  200 to a resend (it answers only after the pair's file committed it and its events were
  appended). An unanswered message is sent again with the same client_id a few times, a second
  apart, as a person resends a form.
- Games: signed-in players play board 10 to a win by halving, over htmx requests. A score is
  acknowledged when the winning guess was answered 200 with "correct" (the server recorded it
  before answering).
- Watchers: some users follow their events on a WebSocket or a long poll; when the connection
  drops they reconnect with the last event id they saw, and record every message they receive.
- Browsers (soak only): page views, board fragments, sockets that come and go.

Every request has a deadline; one that passes it is counted as hung.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import tornado.httpclient
import tornado.web
import tornado.websocket

from parlor.accounts.accounts import Accounts
from parlor.accounts.sessions import Sessions
from parlor.safety import Safety

RESENDS, RESEND_AFTER_S = 5, 1.0  # an unanswered message is sent again this often, this far apart
REQUEST_DEADLINE_S = 15.0  # a request not answered by then is "hung" (Redis's own timeout is 5 s)
XSRF = os.urandom(16).hex()  # a double-submit XSRF token: the same value as cookie and header
BODY_RE = re.compile(r"\bm:([0-9a-f]{24})\b")  # a load message's body carries its client_id
RESULT_RE = re.compile(rb'class="guess (higher|lower|correct)"')
CONNECT_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


@dataclass
class Person:
    name: str
    token: str
    cookie: str  # the signed session cookie, with the XSRF cookie

    @property
    def cookie_header(self) -> str:
        return f"parlor_session={self.cookie}; _xsrf={XSRF}"


async def make_people(redis_url: str, secret: str, names: list[str]) -> dict[str, Person]:
    """Accounts, sessions and API tokens through Parlor's own code (no password is hashed)."""
    store = aioredis.Redis.from_url(redis_url, decode_responses=True)
    accounts, sessions = Accounts(store, None, safety=Safety.unlimited(store)), Sessions(store)
    people = {}
    try:
        for name in names:
            await store.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})
            session_id, _ = await sessions.create(user=name)
            cookie = tornado.web.create_signed_value(secret, "parlor_session", session_id).decode()
            people[name] = Person(name, await accounts.new_api_token(name), cookie)
    finally:
        await store.aclose()
    return people


class Connection:
    """One kept-alive HTTP/1.1 connection; reopened after any failure. Leaner than Tornado's
    client, which opens a connection per request."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._streams = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
        """(status, body, head); raises on a connection failure, TimeoutError past the deadline."""
        return await asyncio.wait_for(self._request(method, path, body, headers or {}), REQUEST_DEADLINE_S)

    async def _request(self, method, path, body, headers):
        try:
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            raw = await reader.readuntil(b"\r\n\r\n")
            status = int(raw.split(b" ", 2)[1])
            length = re.search(rb"\r\ncontent-length: *(\d+)", raw, re.I)
            if length:
                data = await reader.readexactly(int(length.group(1)))
            else:  # no length: the body runs to the close (Tornado's own early errors)
                data = await reader.read()
                self.close()
            if re.search(rb"\r\nconnection: *close", raw, re.I):
                self.close()
            return status, data, raw
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


@dataclass
class Tally:
    """What happened, for the report and the checks."""

    statuses: Counter = field(default_factory=Counter)  # "200", "503", "refused", "hung", ...
    slowest_s: float = 0.0

    def note(self, outcome: str, took: float) -> None:
        self.statuses[outcome] += 1
        self.slowest_s = max(self.slowest_s, took)


class Load:
    """Runs chat senders, players and watchers against one server until stopped."""

    def __init__(self, url: str, people: dict[str, Person], chat_users: list[str], players: list[str],
                 socket_watchers: list[str], poll_watchers: list[str], rate: float, think_s: float = 0.0,
                 seed: int = 7):
        host, port = url.split("//", 1)[1].split(":")
        self.url, self.host, self.port = url, host, int(port)
        self.people = people
        self.chat_users, self.players = chat_users, players
        self.socket_watchers, self.poll_watchers = socket_watchers, poll_watchers
        self.rate = rate
        self.think_s = think_s  # a player's pause before each guess
        self.rng = random.Random(seed)
        self.sent: dict[str, tuple[str, str]] = {}  # client_id -> (sender, recipient), every attempt
        self.acknowledged: set[str] = set()  # client_ids answered 201
        self.scores: dict[str, list[int]] = {}  # player -> guess counts of acknowledged wins
        self.received: dict[str, list[str]] = {w: [] for w in socket_watchers + poll_watchers}  # client_ids
        self.event_ids: dict[str, list[str]] = {w: [] for w in socket_watchers + poll_watchers}
        self.reloads = 0
        self.chat, self.games, self.live = Tally(), Tally(), Tally()
        self._tasks: list[asyncio.Task] = []
        self._senders: list[asyncio.Task] = []
        self._stopping = asyncio.Event()  # everything stops
        self._quiet = asyncio.Event()  # no more messages or games; watchers go on
        self._connections: dict[str, Connection] = {}  # a chat user's kept-alive connection
        self.extra: list = []  # more coroutines to run alongside (the soak's browsers)

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._quiet.clear()
        self._senders = [asyncio.ensure_future(r) for r in (self._chat(), *(self._play(p) for p in self.players))]
        self._tasks = [asyncio.ensure_future(r) for r in (
            *(self._watch_socket(w) for w in self.socket_watchers),
            *(self._watch_poll(w) for w in self.poll_watchers), *self.extra)]

    async def stop_sending(self) -> None:
        """No more messages or games; what was sent is answered first."""
        self._quiet.set()
        await asyncio.gather(*self._senders, return_exceptions=True)

    async def stop(self) -> None:
        await self.stop_sending()
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in self._connections.values():
            connection.close()
        self._connections = {}

    @property
    def running(self) -> bool:
        return not self._stopping.is_set()

    async def pause(self, seconds: float) -> None:
        """Sleep, but not past a stop."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _quiet_pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._quiet.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # -- chat -----------------------------------------------------------------------------------

    def peers_of(self, sender: str) -> list[str]:
        users = self.chat_users
        i = users.index(sender)
        return [users[(i + 1) % len(users)], users[(i + len(users) // 2) % len(users)]]

    async def _chat(self) -> None:
        """One message every 1/rate s, from the users in turn, whether or not earlier ones were
        answered; a user whose last message is still unanswered skips their turn (counted as
        "busy"), as a person at a keyboard would wait."""
        sending: set[asyncio.Task] = set()
        busy: set[str] = set()
        started = time.monotonic()
        number = 0
        while not self._quiet.is_set():
            delay = started + number / self.rate - time.monotonic()
            if delay > 0:
                await self._quiet_pause(delay)
                continue
            number += 1
            sender = self.chat_users[number % len(self.chat_users)]
            if sender in busy:
                self.chat.note("busy", 0)
                continue
            busy.add(sender)
            task = asyncio.ensure_future(self._send(sender, self.rng.choice(self.peers_of(sender))))
            sending.add(task)
            task.add_done_callback(sending.discard)
            task.add_done_callback(lambda _, sender=sender: busy.discard(sender))
        await asyncio.gather(*sending, return_exceptions=True)

    def _connection(self, sender: str) -> Connection:
        if sender not in self._connections:
            self._connections[sender] = Connection(self.host, self.port)
        return self._connections[sender]

    async def _send(self, sender: str, recipient: str) -> None:
        """Send one message; unanswered (the server down, Redis away), send it again a little
        later with the same client_id, as a person resends a form, up to RESENDS times."""
        client_id = os.urandom(12).hex()
        self.sent[client_id] = (sender, recipient)
        body = json.dumps({"to": recipient, "body": f"m:{client_id}", "client_id": client_id}).encode()
        for attempt in range(RESENDS + 1):
            if attempt:
                await self._quiet_pause(RESEND_AFTER_S)
                if self._quiet.is_set():
                    return
            outcome, took = await self._call(self._connection(sender), "POST", "/api/messages", body, {
                "Authorization": f"Bearer {self.people[sender].token}", "Content-Type": "application/json"})
            self.chat.note(outcome if not attempt else f"resent {outcome}", took)
            if outcome in ("200", "201"):  # 200: a resend of a message stored before
                self.acknowledged.add(client_id)
                return
            if outcome not in ("503", "refused", "hung"):
                return

    async def _call(self, connection: Connection, method: str, path: str, body: bytes,
                    headers: dict[str, str]) -> tuple[str, float]:
        started = time.monotonic()
        try:
            status, _, _ = await connection.request(method, path, body, headers)
            outcome = str(status)
        except asyncio.TimeoutError:
            outcome = "hung"
        except CONNECT_ERRORS:
            outcome = "refused"  # the server is down (or went down mid-request)
        took = time.monotonic() - started
        if outcome == "refused":
            await asyncio.sleep(0.05)  # no busy loop while the server restarts
        return outcome, took

    # -- games ----------------------------------------------------------------------------------

    async def _play(self, player: str) -> None:
        connection = Connection(self.host, self.port)
        headers = {"Cookie": self.people[player].cookie_header, "X-XSRFToken": XSRF, "HX-Request": "true",
                   "Content-Type": "application/x-www-form-urlencoded"}
        while not self._quiet.is_set():
            try:
                await self._one_game(connection, player, headers)
            except asyncio.TimeoutError:
                self.games.note("hung", REQUEST_DEADLINE_S)
            except CONNECT_ERRORS:
                self.games.note("refused", 0)
                await self._quiet_pause(0.05)

    async def _one_game(self, connection: Connection, player: str, headers: dict[str, str]) -> None:
        started = time.monotonic()
        form = {k: v for k, v in headers.items() if k != "HX-Request"}  # a plain form: a 303 to the game
        status, _, head = await connection.request("POST", "/games", b"max=10", form)
        self.games.note(str(status), time.monotonic() - started)
        location = re.search(rb"\r\nlocation: */games/([A-Za-z0-9_-]+)", head, re.I)
        if status != 303 or not location:
            await self._quiet_pause(0.05)
            return
        game_id = location.group(1).decode()
        low, high, count = 1, 10, 0
        while True:  # a game under way is played to its end
            if self.think_s:
                await asyncio.sleep(self.think_s)
            guess = (low + high) // 2
            started = time.monotonic()
            status, fragment, _ = await connection.request("POST", f"/games/{game_id}/guesses",
                                                        f"guess={guess}".encode(), headers)
            self.games.note(str(status), time.monotonic() - started)
            if status != 200:
                return  # a 503 while Redis is away, or a 409: start another game
            count += 1
            results = RESULT_RE.findall(fragment)
            newest = results[0] if results else b""  # the newest guess is listed first
            if newest == b"correct":
                self.scores.setdefault(player, []).append(count)
                return
            low, high = (guess + 1, high) if newest == b"higher" else (low, guess - 1)
            if low > high:
                return

    # -- watchers -------------------------------------------------------------------------------

    def _record(self, watcher: str, event_id: str, html: str) -> None:
        ids = self.event_ids[watcher]
        assert not ids or _key(event_id) > _key(ids[-1]), f"{watcher}: an event came twice or out of order"
        ids.append(event_id)
        self.received[watcher] += sorted(set(BODY_RE.findall(html)))  # the bubble and the list row

    async def _watch_socket(self, watcher: str) -> None:
        url = self.url.replace("http", "ws", 1)
        while not self._stopping.is_set():
            after = self.event_ids[watcher][-1] if self.event_ids[watcher] else "0"
            request = tornado.httpclient.HTTPRequest(
                f"{url}/live?after={after}", headers={"Cookie": self.people[watcher].cookie_header,
                                                      "Origin": self.url})
            try:
                ws = await asyncio.wait_for(tornado.websocket.websocket_connect(request), REQUEST_DEADLINE_S)
            except (asyncio.TimeoutError, tornado.httpclient.HTTPClientError, *CONNECT_ERRORS) as e:
                self.live.note(type(e).__name__, 0)
                await self.pause(0.1)
                continue
            stopping = asyncio.ensure_future(self._stopping.wait())
            try:
                while True:
                    reading = asyncio.ensure_future(ws.read_message())
                    await asyncio.wait([reading, stopping], return_when=asyncio.FIRST_COMPLETED)
                    if not reading.done():
                        reading.cancel()
                        break
                    raw = reading.result()
                    if raw is None:
                        self.live.note(f"closed {ws.close_code}", 0)
                        break
                    frame = json.loads(raw)
                    if frame.get("reload"):
                        self.reloads += 1
                    elif frame.get("id"):
                        self._record(watcher, frame["id"], frame["content"])
            finally:
                stopping.cancel()
                ws.close()
            await self.pause(0.05)

    async def _watch_poll(self, watcher: str) -> None:
        connection = Connection(self.host, self.port)
        headers = {"Authorization": f"Bearer {self.people[watcher].token}"}
        while not self._stopping.is_set():
            after = self.event_ids[watcher][-1] if self.event_ids[watcher] else "0"
            started = time.monotonic()
            try:
                status, body, _ = await connection.request("GET", f"/poll?after={after}&timeout=1", b"", headers)
            except (asyncio.TimeoutError, *CONNECT_ERRORS) as e:
                self.live.note(type(e).__name__, time.monotonic() - started)
                await self.pause(0.1)
                continue
            self.live.note(f"poll {status}", time.monotonic() - started)
            if status != 200:
                await self.pause(0.1)
                continue
            answer = json.loads(body)
            if answer["reload"]:
                self.reloads += 1
            for event in answer["events"]:
                self._record(watcher, event["id"], event["html"])

    # -- checks ---------------------------------------------------------------------------------

    def expected_by(self, watcher: str) -> set[str]:
        """The acknowledged messages a watcher must receive: those it sent and those sent to it."""
        return {c for c in self.acknowledged if watcher in self.sent[c]}

    async def caught_up(self, timeout: float = 30) -> bool:
        """Wait until every watcher has received every acknowledged message of theirs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.expected_by(w) <= set(self.received[w]) for w in self.received):
                return True
            await asyncio.sleep(0.1)
        return False


def _key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)
