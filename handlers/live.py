"""Live delivery to browsers and scripts: the WebSocket (/live), Server-Sent Events (/events) and
the long poll (/poll, JSON or JSONP). All three carry the same events with the same ids, resume
after the id a client last saw, and count as the user's connections."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from urllib.parse import urlsplit

import tornado.ioloop
import tornado.websocket

from parlor.accounts.credentials import live_credential
from parlor.infra.redis_client import REDIS_DOWN
from parlor.live.events import Event, Push, Reload, parse_cursor
from parlor.refusals import Refused
from parlor.safety import address_group

from .base import BaseHandler, SessionMixin, refusal_status
from .headers import PlainServerHeader
from .inputs import whole_number
from .jsonp import CALLBACK_RE, jsonp
from .page_forms import PageForms
from .websocket import StrictProtocol, shed_upgrade_request
from .wire import sse_text, ws_wire

log = logging.getLogger("parlor.live")
JOINING: set[asyncio.Task] = set()  # the joins of sockets that are opening (see LiveSocket.open)

MAX_QUEUE_BYTES = 1024 * 1024  # unsent data one connection may hold; a slower reader is closed
SSE_RETRY_MS = 2000  # what an SSE client waits before reconnecting
POLL_BATCH = 100  # events one long-poll answer carries at most; the client asks again for more
MAX_TIMEOUT_ARGUMENT_S = 999  # a poll's timeout= is cut to the server's own; more digits are no timeout


class LiveParameters:
    """What the three transports read from the URL: the boards a page shows, and the cursor."""

    renders_pages = False  # they take a cursor; they do not hand one out
    accepts_token = False

    def address(self) -> str:
        """Where the connection comes from, as the per-address limits count it."""
        return address_group(self.request.remote_ip)

    def credential(self) -> str | None:
        """The Redis key whose end (logout, expiry, a revoked token) ends this connection: its
        API token's, else its session's."""
        return live_credential(self.api_token() if self.accepts_token else None, self.session_id)

    def topics_argument(self) -> tuple[str, ...]:
        raw = self.get_query_argument("boards", "")
        boards = [whole_number(part) for part in raw.split(",") if part]
        if not set(boards) <= set(self.application.config.boards):  # None (not a number) is no board
            raise Refused("invalid", "boards lists the boards this page shows, like boards=10,25.")
        return tuple(f"board:{board}" for board in boards)

    def cursor_argument(self, header: str | None = None) -> str | None:
        """The id of the last event the client saw: a header (SSE's Last-Event-ID) wins over after=."""
        raw = (self.request.headers.get(header) if header else None) or self.get_query_argument("after", None)
        if raw is None or raw == "":
            return None
        if parse_cursor(raw) is None:
            raise Refused("invalid", "after must be an event id like 1700000000000-0, as the last event carried.")
        return raw


class LiveSocket(LiveParameters, PageForms, SessionMixin, PlainServerHeader, tornado.websocket.WebSocketHandler):
    """/live?boards=10,25&after=<id>. Frames are JSON: {"content": html} for state, {"id", "kind",
    "content"} for an event, {"reload": true} when the cursor is too old.

    A signed-in page also sends its chat messages here (htmx's hx-ws:send of the send form:
    {"to", "body", "client_id", "headers"}): stored exactly as a form POST stores them, and
    answered on this socket with the message's state (views/chat.py send_state: "Sent", or the
    reason it was refused); and how far it has shown a conversation (the read form: {"to", "up_to"}):
    handlers/page_forms.py."""

    transport = "ws"
    _unsent = 0

    def check_origin(self, origin: str) -> bool:
        # CSWSH: a page on another site must not ride the visitor's cookie into their live feed.
        if origin.rstrip("/") in self.application.config.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == self.public_host().lower()

    def public_host(self) -> str:
        """The host the browser asked for: behind a trusted proxy (--xheaders) the one it
        forwards, else the Host header. Without --xheaders a forwarded host is not believed."""
        if self.application.config.xheaders:
            forwarded = self.request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
            if forwarded:
                return forwarded
        return self.request.host

    def get_websocket_protocol(self):
        standard = super().get_websocket_protocol()  # None for a version Tornado does not speak
        return standard and StrictProtocol(self, False, standard.params)

    async def prepare(self) -> None:
        try:
            self.topics, self.after = self.topics_argument(), self.cursor_argument()
            self.from_address = self.address()  # the request is shed once open
            await self.load_session()
        except Refused as e:
            self.set_status(refusal_status(e))
            self.finish(e.message)
        except REDIS_DOWN:
            self.set_status(503)
            self.finish("Parlor cannot reach its database right now.")

    def open(self) -> None:
        # The join (presence, the cursor, the catch-up: Redis round trips) runs on its own task,
        # never awaited here: Tornado reads a socket's frames only once open() returns, and
        # closes a socket whose pong it has not read within websocket_ping_timeout, however
        # long the joins of many sockets opening at once queue behind each other.
        task = asyncio.ensure_future(self._join())
        JOINING.add(task)  # held while it runs; nothing of it stays on the socket
        task.add_done_callback(JOINING.discard)

    async def _join(self) -> None:
        hub = self.application.hub
        try:
            joined = await hub.join(self, self.current_user, self.topics, self.after, credential=self.credential(),
                                    address=self.from_address)
        except Refused as e:  # too many from this address: 1008, which the page does not retry
            self.close(1008, "too many connections from this address")
            log.info("a live socket from %s was refused: %s", self.from_address, e.message)
            return
        except REDIS_DOWN:
            self.close(1011, "database unavailable; reconnect")
            return
        except Exception:
            log.exception("a live connection could not join")
            self.close(1011, "server error; reconnect")
            return
        if not joined:
            self.close(1008, "too many connections for this user")
            return
        if self.ws_connection is None or self.ws_connection.is_closing():
            await hub.leave(self)  # it closed while joining, before the hub knew it
            return
        self._shed()

    def _shed(self) -> None:
        """An open socket keeps only what it uses: what was parsed from its upgrade request, the
        session and the template namespace go (a large share of an idle socket's memory)."""
        shed_upgrade_request(self.request)
        self.ui = None
        self.session = None

    def on_close(self) -> None:
        tornado.ioloop.IOLoop.current().add_callback(self.application.hub.leave, self)

    def send(self, push: Push) -> None:
        """Queue one frame: the push's own bytes, framed once for every socket that gets it
        (StrictProtocol.send_frame). A reader that lets MAX_QUEUE_BYTES pile up is closed with
        1013; it reconnects with its cursor and misses nothing, and nobody else waited for it."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        if self._unsent > MAX_QUEUE_BYTES:
            self.close(1013, "too far behind; reconnect to resume")
            # It stops getting events now, not when its close handshake ends (which a reader
            # this slow may take seconds to answer).
            tornado.ioloop.IOLoop.current().add_callback(self.application.hub.leave, self)
            return
        self.send_wire(ws_wire(push))

    def send_wire(self, wire: bytes) -> None:
        """Queue one whole frame (see send)."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        written = connection.send_frame(wire)
        if written is None:
            return  # closed: on_close follows
        if written.done():  # the socket took it all at once: the common case, nothing to track
            return
        self._unsent += len(wire)
        written.add_done_callback(functools.partial(self._sent, len(wire)))

    def _sent(self, size: int, written: asyncio.Future) -> None:
        self._unsent -= size
        if not written.cancelled():
            written.exception()  # a closed stream is on_close's business


class SseConnection:
    """One /events response as a hub connection."""

    transport = "sse"

    def __init__(self, handler: BaseHandler):
        self._handler = handler
        self._unsent = 0
        self.ended = asyncio.Event()
        self.code: int | None = None

    def send(self, push: Push) -> None:
        if self.ended.is_set():
            return
        if self._unsent > MAX_QUEUE_BYTES:
            self.close(1013, "too far behind")
            return
        self._write(sse_text(push))

    def keepalive(self) -> None:
        if not self.ended.is_set():
            self._write(": keepalive\n\n")

    def _write(self, text: str) -> None:
        self._unsent += len(text)
        self._handler.write(text)
        self._handler.flush().add_done_callback(functools.partial(self._sent, len(text)))

    def _sent(self, size: int, flushed: asyncio.Future) -> None:
        self._unsent -= size
        if not flushed.cancelled() and flushed.exception() is not None:
            self.ended.set()  # the client went away

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.code = code
        self.ended.set()


class EventStreamHandler(LiveParameters, BaseHandler):
    """GET /events?boards=..&after=<id>: Server-Sent Events for anyone (public pushes) and, for a
    signed-in user, their events with `id:` lines; a reconnect's Last-Event-ID resumes."""

    accepts_token = True

    async def get(self) -> None:
        topics, after = self.topics_argument(), self.cursor_argument("Last-Event-ID")
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")  # nginx: pass each event on at once
        self.write(f"retry: {SSE_RETRY_MS}\n\n")  # sent with the first event or keepalive
        self.connection = SseConnection(self)
        if not await self.application.hub.join(self.connection, self.current_user, topics, after,
                                               credential=self.credential(), address=self.address()):
            raise Refused("too_many", "You have too many live pages open. Close some and reload.")
        try:
            self.flush()
            await self.connection.ended.wait()
        finally:
            await self.application.hub.leave(self.connection)
        if not self.request.connection.stream.closed():
            self.finish()  # the server ended it (shutdown, a slow reader): the client resumes

    def on_connection_close(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close()


class PollConnection:
    """A long poll waiting in the hub: the first event (or a reload) ends the wait."""

    transport = "poll"

    def __init__(self):
        self.events: list[Event] = []
        self.reload: Reload | None = None
        self.ready = asyncio.Event()
        self.closed = False

    def send(self, push: Push) -> None:
        if self.closed:  # signed out: it answers with what it had, nothing later
            return
        if isinstance(push, Event):
            self.events.append(push)
            self.ready.set()
        elif isinstance(push, Reload):
            self.reload = push
            self.ready.set()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closed = True
        self.ready.set()


class PollHandler(LiveParameters, BaseHandler):
    """GET /poll?after=<id>[&callback=fn][&token=...]: the user's events after <id> at once if
    there are any, else the first to come within the poll timeout, else none. JSON, or JSONP with
    callback=, which needs the API token: any site can include a script URL, so a cookie alone
    never opens private data to one."""

    accepts_token = True

    answers_json = True

    async def get(self) -> None:
        callback = self.get_query_argument("callback", None)
        if callback is not None and not CALLBACK_RE.fullmatch(callback):
            raise Refused("invalid", "callback must be a JavaScript name like handle or app.onEvents.")
        if callback is not None and self.api_token() is None:
            raise Refused("unauthenticated", "JSONP needs your API token as token= (make one on your account page).")
        if not self.current_user:
            raise Refused("unauthenticated", "Log in, or pass your API token as token=.")
        timeout = self._timeout()
        hub = self.application.hub
        after = self.cursor_argument() or await hub.events.cursor(self.current_user)
        self.waiter = PollConnection()
        if not await hub.join(self.waiter, self.current_user, (), after, linger=True, credential=self.credential(),
                              address=self.address()):
            raise Refused("too_many", "You have too many live connections open.", retry_after=5)
        try:
            if not self.waiter.ready.is_set():
                try:
                    await asyncio.wait_for(self.waiter.ready.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
        finally:
            await hub.leave(self.waiter)
        if self.request.connection.stream.closed():
            return  # the client gave up; its wait was cancelled
        self._answer(after, callback)

    def _timeout(self) -> float:
        limit = self.application.config.poll_timeout
        if self.get_query_argument("timeout", None) is None:
            return limit
        return min(self.int_argument("timeout", 0, MAX_TIMEOUT_ARGUMENT_S,
                                     message=f"timeout is a whole number of seconds up to {limit:g}."), limit)

    def _answer(self, after: str, callback: str | None) -> None:
        events = self.waiter.events[:POLL_BATCH]
        if self.waiter.reload is not None:
            body = {"reload": True, "events": [], "cursor": self.waiter.reload.cursor}
        else:
            body = {"reload": False, "events": [e.as_json() for e in events],
                    "cursor": events[-1].id if events else after}
        text = json.dumps(body, ensure_ascii=True).replace("<", "\\u003c")
        self.set_header("Cache-Control", "no-store")
        if callback is None:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(text)
        else:
            self.set_header("Content-Type", "application/javascript; charset=utf-8")
            self.finish(jsonp(callback, text))

    def on_connection_close(self) -> None:
        waiter = getattr(self, "waiter", None)
        if waiter is not None:
            waiter.close()
