"""Test helpers: a cookie-keeping HTTP client, a WebSocket client, a real server process, the
pushes an action causes, and a pair's chat file read as it is on disk."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from http.cookiejar import CookieJar
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

import argon2
import redis
import tornado.httpclient
import tornado.web
import tornado.websocket

from parlor.chat.pair_file import pair_key
from parlor.community.audit import CONSOLE
from parlor.web.handlers.base import SESSION_COOKIE
from tests.sse import SseClient

ROOT = Path(__file__).resolve().parent.parent
# argon2 at its smallest (one pass over 8 KiB, one lane): microseconds a hash instead of about
# 0.1 s, for tests that set or check a password without being about hashing or logging in.
CHEAP_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Visitor:
    """One browser's worth of cookies over Tornado's async HTTP client."""

    def __init__(self, http_client, base_url: str, address: str | None = None):
        self.http = http_client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.address = address  # sent as X-Forwarded-For: the address a server with xheaders sees

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["expires"] and "1970" in morsel["expires"] or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def fetch(self, path: str, method: str = "GET", body: str | bytes | None = None, headers=None):
        all_headers = {"Cookie": self.cookie_header()} if self.cookies else {}
        if self.address:
            all_headers["X-Forwarded-For"] = self.address
        all_headers.update(headers or {})
        response = await self.http.fetch(
            self.base_url + path, method=method, body=body, headers=all_headers,
            follow_redirects=False, raise_error=False, allow_nonstandard_methods=True,
        )
        self._keep_cookies(response)
        return response

    async def get(self, path: str, headers=None):
        return await self.fetch(path, headers=headers)

    async def post(self, path: str, data: dict | None = None, xsrf: bool = True, headers=None):
        if xsrf and "_xsrf" not in self.cookies:
            await self.get("/login")
        fields = dict(data or {})
        if xsrf:
            fields["_xsrf"] = self.cookies["_xsrf"]
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return await self.fetch(path, "POST", urlencode(fields), all_headers)

    async def sign_up(self, username: str, password: str = "correct horse"):
        response = await self.post("/signup", {"username": username, "password": password})
        assert response.code == 303, response.body
        return response

    async def log_in(self, username: str, password: str = "correct horse"):
        return await self.post("/login", {"username": username, "password": password})

    async def events(self, query: str = "", last_event_id: str | None = None) -> SseClient:
        """Open /events as this visitor."""
        headers = {"Cookie": self.cookie_header()} if self.cookies else {}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        return await SseClient.open(self.base_url, "/events" + query, headers)

    async def live(self, origin: str | None = None, query: str = ""):
        """Open /live as this visitor (same-origin unless told otherwise)."""
        ws_url = self.base_url.replace("http://", "ws://") + "/live" + query
        headers = {"Origin": origin or self.base_url}
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        request = tornado.httpclient.HTTPRequest(ws_url, headers=headers)
        return await tornado.websocket.websocket_connect(request)


async def until(predicate, timeout: float = 10.0, step: float = 0.01) -> None:
    """Wait until predicate() is true, or fail the test."""
    for _ in range(int(timeout / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not reached in time")


async def users(app, http_client, base_url: str, *names: str) -> list[Visitor]:
    """A signed-in visitor for each name, whose account (password "correct horse") is made through
    the domain: what a sign-up leaves, for tests that are not about signing up."""
    visitors = []
    for name in names:
        await app.accounts.create(name, "correct horse")
        visitors.append(await signed_in(app, http_client, base_url, name))
    return visitors


async def signed_up(http_client, base_url: str, *names: str) -> list[Visitor]:
    """A visitor for each name, signed up through the sign-up form: for tests about signing up."""
    visitors = [Visitor(http_client, base_url) for _ in names]
    for visitor, name in zip(visitors, names):
        await visitor.sign_up(name)
    return visitors


async def signed_in(app, http_client, base_url: str, user: str) -> Visitor:
    """A visitor with a new session of `user`, as logging in starts one, and the XSRF cookie."""
    session_id, _ = await app.sessions.create(user=user)
    visitor = Visitor(http_client, base_url)
    visitor.cookies[SESSION_COOKIE] = tornado.web.create_signed_value(
        app.settings["cookie_secret"], SESSION_COOKIE, session_id).decode()
    await visitor.get("/login")  # the XSRF cookie, as the sign-up form's page sets it
    return visitor


async def next_frame(ws, timeout: float = 5.0, skip_online: bool = True) -> dict | None:
    """The next frame /live pushed, decoded (None once closed); the periodic online count is
    skipped unless asked for."""
    while True:
        raw = await asyncio.wait_for(ws.read_message(), timeout)
        if raw is None:
            return None
        frame = json.loads(raw)
        if not (skip_online and 'id="online-count"' in frame.get("content", "")):
            return frame


# After an action's expected pushes, how long a tab must stay quiet: a push the action causes
# arrives within milliseconds here, so one still to come after this is one it should not cause.
QUIET_S = 0.3


async def frames_within(ws, seconds: float) -> list[dict]:
    """Every frame /live pushes within `seconds` (the periodic online count left out)."""
    frames = []
    try:
        while (frame := await next_frame(ws, seconds)) is not None:
            frames.append(frame)
    except asyncio.TimeoutError:
        pass
    return frames


async def open_tabs(app, visitors: dict[str, "Visitor"]) -> dict[str, tornado.websocket.WebSocketClientConnection]:
    """A /live socket per tab name (name -> whose tab it is), returned once the app holds them all."""
    before = app.hub.connection_count()
    tabs = {name: await visitor.live() for name, visitor in visitors.items()}
    await until(lambda: app.hub.connection_count() == before + len(tabs))
    return tabs


async def pushes(tabs: dict, action, expect: dict[str, int] | None = None, quiet: float = QUIET_S):
    """Run `action` (an awaitable) with these tabs open; return its result and, per tab name, the
    frames it pushed there: exactly expect[name] of them (none for a tab not named), and nothing
    more within `quiet` seconds (the periodic online count left out). Zulip's verify_action."""
    result = await action
    expect = expect or {}
    pushed = {}
    for name, ws in tabs.items():
        pushed[name] = [await next_frame(ws) for _ in range(expect.get(name, 0))]
        assert None not in pushed[name], f"tab {name!r} closed"
    late = await asyncio.gather(*(frames_within(ws, quiet) for ws in tabs.values()))
    unexpected = {name: frames for name, frames in zip(tabs, late) if frames}
    assert not unexpected, f"pushes the action should not cause: {unexpected}"
    return result, pushed


def close_tabs(tabs: dict) -> None:
    for ws in tabs.values():
        ws.close()


class Browser:
    """A cookie-keeping urllib client that does not follow redirects."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.jar = CookieJar()
        no_redirect = type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                           {"redirect_request": lambda *a, **k: None})
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), no_redirect)

    def xsrf(self) -> str:
        if not any(c.name == "_xsrf" for c in self.jar):
            self.request("/login")
        return next(c.value for c in self.jar if c.name == "_xsrf")

    def request(self, path, data=None, headers=None, body: bytes | None = None, timeout: float = 10):
        """(status, text) of a GET, a form POST (data, with the XSRF token) or a raw POST (body)."""
        if data is not None:
            body = urlencode({**data, "_xsrf": self.xsrf()}).encode()
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers or {})
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """server.py as a real child process, as `make run` starts it."""

    def __init__(self, data_dir: Path, *args: str, port: int | None = None, wrapper: tuple[str, ...] = (),
                 env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.env = env  # the process's environment (None: this one's)
        self.wrapper = wrapper  # a command that runs the server (it must exec it, keeping the pid)
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ServerProcess":
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)  # the server makes the data dir itself
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*self.wrapper, sys.executable, str(ROOT / "server.py"), "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env,
        )
        self.wait_healthy(timeout)
        return self

    def health(self) -> int:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.health() != 200:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not healthy: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def refused(self, timeout: float = 60) -> str:
        """Start a server that must refuse to start: what it said, once it exited with 1."""
        try:
            self.start(timeout)
        except RuntimeError:
            assert self.process.wait(timeout) == 1
            return self.log_path.read_text()
        self.stop()
        raise AssertionError("the server started")

    def kill(self, sig=signal.SIGKILL) -> None:
        self.process.send_signal(sig)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.kill(signal.SIGTERM)


def redis_pid(data_dir: Path) -> int | None:
    """The pid of the redis-server answering on data_dir's socket, if any."""
    socket_path = data_dir / "redis" / "redis.sock"
    if not socket_path.exists():
        return None
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


async def start_game(visitor: Visitor, board: int = 10) -> str:
    """Start a game as this visitor; returns its id."""
    response = await visitor.post("/games", {"max": str(board)})
    assert response.code == 303, response.body
    return response.headers["Location"].rsplit("/", 1)[1]


async def play_to_win(visitor: Visitor, game_id: str, board: int = 10, low: int = 1, high: int | None = None) -> int:
    """Binary-search the secret between `low` and `high` (the board's end) through the HTTP API
    (htmx fragments); returns the guess count."""
    high, count = high or board, 0
    while True:
        middle = (low + high) // 2
        response = await visitor.post(f"/games/{game_id}/guesses", {"guess": str(middle)},
                                      headers={"HX-Request": "true"})
        assert response.code == 200, response.body
        count += 1
        newest = re.search(r'class="guess (higher|lower|correct)"', response.body.decode()).group(1)
        if newest == "correct":
            return count
        low, high = (middle + 1, high) if newest == "higher" else (low, middle - 1)


async def play_games(visitor: Visitor, count: int, board: int = 10) -> list[int]:
    """Start and win `count` games by halving; returns their guess counts."""
    return [await play_to_win(visitor, await start_game(visitor, board), board) for _ in range(count)]


def multipart(fields: dict, files: dict | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body: files maps a field to (filename, content type, bytes)."""
    boundary = "----parlor-test-" + os.urandom(8).hex()
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + str(value).encode() + b"\r\n")
    for name, (filename, content_type, data) in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def send_message(visitor: Visitor, peer: str, body: str = "", client_id: str | None = None,
                       image: tuple | None = None, htmx: bool = False):
    """POST a chat message as the send form does (XSRF token in the URL, multipart body)."""
    if "_xsrf" not in visitor.cookies:
        await visitor.get("/login")
    fields = {"body": body, "client_id": client_id or os.urandom(12).hex()}
    data, content_type = multipart(fields, {"image": image} if image else None)
    headers = {"Content-Type": content_type, **({"HX-Request": "true"} if htmx else {})}
    return await visitor.fetch(f"/chat/{peer}/messages?_xsrf={quote(visitor.cookies['_xsrf'])}", "POST", data, headers)


_PASSWORD_HASH: str | None = None


def password_hash() -> str:
    """An argon2 hash of "correct horse", made once: seeding many users costs no hashing."""
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = argon2.PasswordHasher().hash("correct horse")
    return _PASSWORD_HASH


async def admin_visitor(app, http_client, base_url: str, name: str = "boss") -> Visitor:
    """A signed-in admin, whose account is made as `parlor admin create` makes it."""
    await app.admins.create(CONSOLE, name, "correct horse")
    visitor = Visitor(http_client, base_url)
    assert (await visitor.log_in(name)).code == 303
    return visitor


def chat_dir(data_dir: Path) -> Path:
    """The folder of the pair files in a data dir (server.py keeps them in data/conversations)."""
    return data_dir / "conversations"


def pair_file(data_dir: Path, a: str, b: str) -> Path:
    """The SQLite file of a's and b's conversation, named by the app's own pair_key."""
    return chat_dir(data_dir) / f"{pair_key(a, b)}.db"


def pair_rows(data_dir: Path, a: str, b: str, sql: str, args: tuple = ()) -> list[tuple] | None:
    """The rows one query reads from the pair's file, as it is on disk (None if it has no file)."""
    path = pair_file(data_dir, a, b)
    if not path.exists():
        return None
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql, args).fetchall()


def pair_messages(data_dir: Path, a: str, b: str, columns: str = "author, kind, body") -> list[tuple] | None:
    """The pair's stored messages, oldest first, as rows of `columns` (None if it has no file)."""
    return pair_rows(data_dir, a, b, f"SELECT {columns} FROM messages ORDER BY id")
