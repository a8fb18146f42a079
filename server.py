"""Parlor's entry point: read the settings, wire the parts together, serve, stop cleanly."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import redis.asyncio as aioredis
import tornado.httpserver
import tornado.ioloop
import tornado.web
import uvloop
from redis.backoff import NoBackoff

from parlor import console, logs
from parlor.admins import Admins
from parlor.audit import AuditLog
from parlor.chat import Chat
from parlor.chatlog_folder import ChatLogs
from parlor.config import Config, installed_version
from parlor.games import Games
from parlor.hub import SIGN_OUT_CHANNEL, TYPING_CHANNEL, EventLog, Hub, Listener
from parlor.invites import Invites
from parlor.leaderboards import Leaderboards
from parlor.membership import LEFT_CHANNEL, Membership
from parlor.metrics import CountingRetry, Metrics
from parlor.moderation import Moderation
from parlor.presence import PRESENCE_CHANNEL, Presence
from parlor.redis_client import packed_client
from parlor.redis_server import EmbeddedRedis
from parlor.reports import Reports
from parlor.resets import PasswordResets
from parlor.scores import BOARDS_CHANNEL
from parlor.safety import Safety
from parlor.sessions import Sessions
from parlor.suspensions import Suspensions
from parlor.usernames import display_name, is_ghost
from parlor.users import Accounts
from parlor.web.handlers import routes
from parlor.web.handlers.base import REDIS_DOWN, NotFoundHandler, StaticFiles, hide_secrets
from parlor.web.handlers.chat import ChatPush, linkify
from parlor.web.handlers.live import LiveViews
from parlor.web.handlers.moderation import DeletionPush
from parlor.web.handlers.scores import BoardViews

log = logging.getLogger("parlor")

ROOT = Path(__file__).resolve().parent  # templates/, static/ beside it: the checkout, or parlor/web/ installed
VERSION = installed_version()  # setup.py's
HASH_THREADS = 2  # argon2 takes 64 MiB and a core per hash; two at once is what 2 cores hold
# Hashes that may wait for a thread; more are refused at once with 503 and Retry-After (a flood
# of logins from many addresses must not make every login wait): a login waits at most two
# hashes' time (about 0.2-0.4 s here) before its own.
HASHES_WAITING = 4
IMAGE_THREADS = 2  # decoding a 24-megapixel picture takes a core for a while
REDIS_TIMEOUT_S = 5  # a hung Redis turns into a 503 after this, never a hanging request
STATE_PUSH_MS = 1000  # the periodic state push (online count) runs once a second
# Expired guest entries leave the boards, and suspensions whose time is up are lifted, within a minute.
SWEEP_MS = 60_000
WEBSOCKET_PING_S = 25  # keeps idle sockets alive through proxies that cut quiet connections
WEBSOCKET_PING_TIMEOUT_S = 20  # a socket that does not answer a ping by then is closed (Tornado: <= the interval)
MAX_WEBSOCKET_MESSAGE = 64 * 1024  # a bigger client message closes the socket with 1009
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # beyond this Tornado drops the request; handlers 413 below it
SLOW_REQUEST_MS = 500  # a request slower than this is logged even without --access-log
MAX_DESCRIPTORS = 65536  # the soft open-files limit Parlor asks for (within the hard limit)
SHUTDOWN_GRACE_S = 5  # in-flight requests get this long to finish on SIGTERM
# Slowloris: a client that dribbles its request holds a connection. Headers (and the wait for the
# next request on a kept-alive connection) must come within IDLE_CONNECTION_TIMEOUT_S, a body
# within BODY_TIMEOUT_S (a 5 MiB picture at 64 KB/s); then the connection is closed.
IDLE_CONNECTION_TIMEOUT_S = 60
BODY_TIMEOUT_S = 90


class ParlorApp(tornado.web.Application):
    """The Tornado application and the domain services its handlers call."""

    def __init__(self, config: Config, redis_client: aioredis.Redis, metrics: Metrics | None = None):
        self.config = config
        self.version = VERSION
        self.metrics = metrics or Metrics(VERSION)
        self.redis = redis_client
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(ROOT / "templates"),
            autoescape=True,  # every {{ }} is escaped unless a value is Markup
            auto_reload=config.debug,  # else every get_template would stat the file
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["linkify"] = linkify
        self.templates.filters["display_name"] = display_name
        self.templates.tests["ghost"] = is_ghost  # `name is ghost`: a deleted account's name
        self.hash_pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="argon2")
        self.safety = Safety(redis_client, {
            "messages": config.message_limit, "conversations": config.conversation_limit,
            "images": config.image_limit, "signups": config.signup_limit, "logins": config.login_limit,
            "guesses": config.guess_limit, "games": config.game_limit, "game_addresses": config.game_address_limit,
            "reports": config.report_limit})
        self.invites = Invites(redis_client)
        self.accounts = Accounts(redis_client, self.hash_pool, safety=self.safety,
                                 hashing_slots=HASH_THREADS + HASHES_WAITING, signup=config.signup,
                                 invites=self.invites)
        self.audit = AuditLog(redis_client)
        self.admins = Admins(redis_client, self.accounts, self.audit)
        self.sessions = Sessions(redis_client)
        self.events = EventLog(redis_client, config.events_max, config.events_max_age)
        self.presence = Presence(redis_client, config.max_connections_per_user)
        self.image_pool = ThreadPoolExecutor(IMAGE_THREADS, thread_name_prefix="images")
        self.chat_logs = ChatLogs(config.data_dir / "conversations", config.chat_max_open)
        chat_push = ChatPush(self)  # reads self.hub only when a message is pushed
        self.chat = Chat(self.chat_logs, redis_client, self.accounts, self.image_pool,
                         on_message=self.metrics.counting_messages(chat_push), on_read=chat_push.read,
                         eliza_delay_scale=config.eliza_delay, safety=self.safety, on_delete=DeletionPush(self))
        # A user's presence changes are shown to the people they have conversations with.
        self.hub = Hub(redis_client, self.events, self.presence, LiveViews(self.templates), self.chat.peers)
        self.hub.on_delivered = self.metrics.event_delivered
        self.leaderboards = Leaderboards(redis_client, config.boards)
        self.games = Games(redis_client, self.leaderboards, config.guess_limit, guest_entries=config.guest_entries)
        resets = PasswordResets(redis_client)
        self.membership = Membership(redis_client, self.accounts, self.sessions, self.chat, self.games,
                                     self.safety, self.hub, self.image_pool, resets)
        self.suspensions = Suspensions(redis_client, self.accounts, self.sessions, self.hub, self.leaderboards)
        self.reports = Reports(redis_client, self.chat, self.safety, self.image_pool)
        self.moderation = Moderation(self.accounts, self.admins, self.invites, self.suspensions, resets,
                                     self.leaderboards, self.reports, self.chat, self.audit)
        self.board_views = BoardViews(self.leaderboards, self.templates, self.hub)
        self.listener = Listener(redis_client, {
            BOARDS_CHANNEL: self.board_views.board_changed,
            self.hub.events_channel: self.hub.on_events,
            PRESENCE_CHANNEL: self.hub.on_presence,
            TYPING_CHANNEL: self.hub.on_typing,
            SIGN_OUT_CHANNEL: self._signed_out,
            LEFT_CHANNEL: self.chat.on_user_left,
        }, on_resubscribe=self._resubscribed)
        self.board_views.listener = self.listener
        self._state_push: tornado.ioloop.PeriodicCallback | None = None
        self._sweep: tornado.ioloop.PeriodicCallback | None = None
        self.in_flight = 0  # requests being handled (pages and forms; not the cached scrape path)
        self.metrics.watch(self)
        super().__init__(
            routes(),
            cookie_secret=config.cookie_secret,
            xsrf_cookies=True,
            xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
            static_path=str(ROOT / "static"),
            static_handler_class=StaticFiles,
            login_url="/login",
            default_handler_class=NotFoundHandler,
            websocket_ping_interval=WEBSOCKET_PING_S,
            websocket_ping_timeout=WEBSOCKET_PING_TIMEOUT_S,
            websocket_max_message_size=MAX_WEBSOCKET_MESSAGE,
            debug=config.debug,
            log_function=self._log_request,
        )

    async def _signed_out(self, notice: str) -> None:
        """Sessions or API tokens ended, on some process: what is cached of them here is
        forgotten, and the live connections they opened close."""
        self.accounts.on_sign_out(notice)
        self.sessions.on_sign_out(notice)
        await self.hub.on_sign_out(notice)

    def _resubscribed(self) -> None:
        """Notices may have been missed while the subscription was down."""
        self.board_views.forget()
        self.accounts.forget()  # an account may have left meanwhile
        self.sessions.forget()  # and sessions ended
        self.hub.resync()

    def _log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Count every request; log errors, refusals and slow requests always, every request
        only with --access-log."""
        status = handler.get_status()
        request = handler.request
        took = request.request_time()
        route = type(handler).__name__  # bounded, unlike the path
        self.metrics.request_done(route, request.method, status, took)
        took_ms = 1000.0 * took
        if status < 400 and took_ms < SLOW_REQUEST_MS and not (self.config.access_log or self.config.debug):
            return
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        path = hide_secrets(request.uri)  # never log a token
        fields = None
        if self.config.log_format == "json":
            fields = {"method": request.method, "path": path, "status": status, "duration_ms": round(took_ms, 2),
                      "remote_ip": request.remote_ip, "user": getattr(handler, "_current_user", None),
                      "route": route}
        logging.getLogger("tornado.access").log(level, "%d %s %s (%s) %.2fms", status, request.method, path,
                                                request.remote_ip, took_ms, extra={"fields": fields or {}})

    async def start(self) -> None:
        """Start the periodic state push, the sweep and the pub/sub listener."""
        await self.accounts.index_look_alikes()  # accounts made before look-alike keys were kept
        await self.leaderboards.drop_old_entries()  # entries of the boards before they ranked averages
        if not self.config.guest_entries:
            await self.leaderboards.sweep_guests(every_one=True)  # --guest-boards off: no guest is ranked
        self._state_push = tornado.ioloop.PeriodicCallback(self.hub.tick, STATE_PUSH_MS)
        self._state_push.start()
        self._sweep = tornado.ioloop.PeriodicCallback(self.sweep, SWEEP_MS)
        self._sweep.start()
        self.listener.start()

    async def sweep(self) -> None:
        """Expired guest entries off the boards; suspensions whose time is up lifted."""
        try:
            await self.leaderboards.sweep_guests()
            await self.moderation.lift_ended()
        except REDIS_DOWN as e:  # the next sweep tries again
            log.warning("the minute's sweep was skipped: %s", e)

    async def stop(self) -> None:
        if self._sweep:
            self._sweep.stop()
        if self._state_push:
            self._state_push.stop()
        await self.listener.stop()
        await self.chat.stop()
        await self.chat_logs.close_all()
        self.hash_pool.shutdown(wait=False, cancel_futures=True)
        self.image_pool.shutdown(wait=False, cancel_futures=True)
        await self.redis.aclose()


def connect_redis(url: str, metrics: Metrics) -> aioredis.Redis:
    """A Redis client that fails fast (so pages answer 503) and reconnects on its own."""
    return packed_client(
        url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        # One quick retry covers a pooled connection to a restarted Redis; what still fails is counted.
        retry=CountingRetry(metrics.redis_failed, NoBackoff(), 1),
    )


def make_app(config: Config) -> ParlorApp:
    """The application for a config whose redis_url and cookie_secret are set."""
    metrics = Metrics(VERSION)
    return ParlorApp(config, connect_redis(config.redis_url, metrics), metrics)


def make_http_server(app: ParlorApp, idle_timeout: float = IDLE_CONNECTION_TIMEOUT_S,
                     body_timeout: float = BODY_TIMEOUT_S) -> tornado.httpserver.HTTPServer:
    """The HTTP server for the app, with the limits that keep one client from holding it."""
    return tornado.httpserver.HTTPServer(
        app, xheaders=app.config.xheaders, max_body_size=MAX_REQUEST_BYTES,
        idle_connection_timeout=idle_timeout, body_timeout=body_timeout)


async def serve(config: Config) -> None:
    """Run one server process until SIGTERM or SIGINT, then stop without losing a request."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config = config.with_secret()
    embedded = app = server = None
    try:
        if not config.redis_url:
            embedded = EmbeddedRedis(config.data_dir)
            await embedded.start()
            config = dataclasses.replace(config, redis_url=embedded.url)
        app = make_app(config)
        await app.start()
        server = make_http_server(app)
        server.listen(config.port, config.address)
        log.info("Parlor %s listening on http://%s:%d/", VERSION, config.address, config.port)

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        log.info("stopping")
    finally:
        if server is not None:
            server.stop()  # no new connections
            app.hub.close_all(1012, "server restarting")  # clients reconnect (elsewhere) and resume
            try:
                await app.hub.leave_all()
            except Exception as e:  # Redis may be what is failing; claims then lapse in 15 s
                log.warning("presence not dropped at shutdown: %s", e)
            await _drain(app)
            await server.close_all_connections()
        if app is not None:
            await app.stop()
        if embedded is not None:
            await embedded.stop()


async def _drain(app: ParlorApp) -> None:
    """Give requests in progress up to SHUTDOWN_GRACE_S to finish."""
    deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE_S
    while app.in_flight and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    if app.in_flight:
        log.warning("%d request(s) still running after %d s; closing them", app.in_flight, SHUTDOWN_GRACE_S)


def raise_descriptor_limit(config: Config) -> None:
    """Lift the soft open-files limit to the hard one: every open chat file holds three
    descriptors (database, -wal, -shm), and every connection one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard, MAX_DESCRIPTORS)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft < 3 * config.chat_max_open + 1000:
        log.warning("only %d file descriptors: lower --chat-max-open or raise the limit", soft)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:  # `parlor admin create|grant|revoke|list`: parlor/console.py
        sys.exit(console.main(argv[1:]))
    config = Config.from_args(argv)  # --version and --help end here
    logs.configure(config.log_format)
    raise_descriptor_limit(config)
    uvloop.run(serve(config))  # libuv's loop: the same asyncio API, less CPU per socket event


if __name__ == "__main__":
    main()
