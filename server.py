"""Parlor's entry point: read the settings, wire the parts together, serve, stop cleanly."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
import signal
import sys
from pathlib import Path

import redis.asyncio as aioredis
import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web
import uvloop
from redis.backoff import NoBackoff

from parlor.community import console
from parlor.infra import logs
from parlor.infra.config import Config, installed_version
from parlor.infra.embedded_redis import EmbeddedRedis
from parlor.infra.metrics import CountingRetry, Metrics
from parlor.infra import startup
from parlor.infra.private_files import make_data_dir_private
from parlor.infra.startup import CannotStart
from parlor.infra.workers import REFUSED_TO_START, supervise, worker_count
from parlor.infra.redis_client import packed_client
from parlor.web.handlers import routes
from parlor.web.handlers.base import MAX_FORM_BYTES, NotFoundHandler, hide_secrets
from parlor.web.handlers.body_limits import BodyLimit, BodyLimits
from parlor.web.handlers.headers import StaticFiles
from parlor.web.services import Overrides, Services

log = logging.getLogger("parlor")

ROOT = Path(__file__).resolve().parent  # templates/, static/ beside it: the checkout, or parlor/web/ installed
VERSION = installed_version()  # the build's, from git (pyproject.toml)
REDIS_TIMEOUT_S = 5  # a hung Redis turns into a 503 after this, never a hanging request
WEBSOCKET_PING_S = 25  # keeps idle sockets alive through proxies that cut quiet connections
WEBSOCKET_PING_TIMEOUT_S = 20  # a socket that does not answer a ping by then is closed (Tornado: <= the interval)
MAX_WEBSOCKET_MESSAGE = 64 * 1024  # a bigger client message closes the socket with 1009
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # beyond this Tornado drops the request; each route 413s below it (BodyLimits)
SLOW_REQUEST_MS = 500  # a request slower than this is logged even without --access-log
MAX_DESCRIPTORS = 65536  # the soft open-files limit Parlor asks for (within the hard limit)
SHUTDOWN_GRACE_S = 5  # in-flight requests get this long to finish on SIGTERM
# Slowloris: a client that dribbles its request holds a connection. Headers (and the wait for the
# next request on a kept-alive connection) must come within IDLE_CONNECTION_TIMEOUT_S, a body
# within BODY_TIMEOUT_S (a 5 MiB picture at 64 KB/s); then the connection is closed.
IDLE_CONNECTION_TIMEOUT_S = 60
BODY_TIMEOUT_S = 90


class ParlorApp(Services, tornado.web.Application):
    """The Tornado application: the routes and settings, over the services (services.py) its
    handlers call; start() and stop() start and stop those."""

    def __init__(self, config: Config, redis_client: aioredis.Redis, metrics: Metrics | None = None,
                 overrides: Overrides = Overrides()):
        self.version = VERSION
        Services.__init__(self, config, redis_client, metrics or Metrics(VERSION), ROOT / "templates", overrides)
        self.in_flight = 0  # requests being handled (pages and forms; not the cached scrape path)
        self.metrics.watch(self)
        self.body_limits = BodyLimits(routes(), MAX_FORM_BYTES)
        tornado.web.Application.__init__(
            self,
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

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection) -> BodyLimit:
        """Each request held to its route's body limit before its body is read."""
        return BodyLimit(super().start_request(server_conn, request_conn), self.body_limits)

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
                      "remote_ip": request.remote_ip, "user": handler.current_user,
                      "route": route}
        logging.getLogger("tornado.access").log(level, "%d %s %s (%s) %.2fms", status, request.method, path,
                                                request.remote_ip, took_ms, extra={"fields": fields or {}})


def connect_redis(url: str, metrics: Metrics) -> aioredis.Redis:
    """A Redis client that fails fast (so pages answer 503) and reconnects on its own."""
    return packed_client(
        url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        # One quick retry covers a pooled connection to a restarted Redis; what still fails is counted.
        retry=CountingRetry(metrics.redis_failed, NoBackoff(), 1),
    )


def make_app(config: Config, overrides: Overrides = Overrides()) -> ParlorApp:
    """The application for a config whose redis_url and cookie_secret are set (overrides: tests' parts)."""
    metrics = Metrics(VERSION)
    return ParlorApp(config, connect_redis(config.redis_url, metrics), metrics, overrides)


def make_http_server(app: ParlorApp, idle_timeout: float = IDLE_CONNECTION_TIMEOUT_S,
                     body_timeout: float = BODY_TIMEOUT_S) -> tornado.httpserver.HTTPServer:
    """The HTTP server for the app, with the limits that keep one client from holding it."""
    return tornado.httpserver.HTTPServer(
        app, xheaders=app.config.xheaders, max_body_size=MAX_REQUEST_BYTES,
        idle_connection_timeout=idle_timeout, body_timeout=body_timeout)


def prepare_data_dir(config: Config) -> Config:
    """The data dir made if need be (and said so) and private to this user, and the config with
    its cookie secret."""
    if not config.data_dir.is_dir():
        log.warning("there is no data dir at %s: starting a new, empty one there", config.data_dir.resolve())
    make_data_dir_private(config.data_dir)
    return config.with_secret()


async def serve(config: Config, sockets: list | None = None) -> None:
    """Run one server process until SIGTERM or SIGINT, then stop without losing a request
    (sockets: the listening sockets a supervisor bound for its workers; none: its own)."""
    if sockets is None:
        log.info("Parlor %s starting", VERSION)  # the log's first line: which build runs
        config = prepare_data_dir(config)
    embedded = app = server = None
    external = config.redis_url
    try:
        if not external:
            embedded = EmbeddedRedis(config.data_dir, config.redis_server)
            await embedded.start()
            config = dataclasses.replace(config, redis_url=embedded.url)
        app = make_app(config)
        if external:
            await startup.check_durability(app.redis, external, config.redis_durability == "refuse")
        await startup.claim_redis(app.redis, config.data_dir)
        await app.start()
        server = make_http_server(app)
        if sockets is None:
            server.listen(config.port, config.address)
        else:
            server.add_sockets(sockets)
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
    if argv[:1] == ["admin"]:  # `parlor admin create|grant|revoke|list`: parlor/community/console.py
        sys.exit(console.main(argv[1:]))
    config = Config.from_args(argv)  # --version and --help end here
    logs.configure(config.log_format)
    raise_descriptor_limit(config)
    workers = worker_count(config.workers)
    if workers > 1:
        log.info("Parlor %s starting %d workers", VERSION, workers)  # the log's first line
        config = prepare_data_dir(config)
        sockets = tornado.netutil.bind_sockets(config.port, config.address)  # one port, every worker accepts
        sys.exit(supervise(workers, lambda: run(config, sockets)))
    run(config)


def run(config: Config, sockets: list | None = None) -> None:
    """Serve on libuv's loop (the same asyncio API, less CPU per socket event); exit 1 with the
    reason when Parlor cannot start here."""
    try:
        uvloop.run(serve(config, sockets))
    except CannotStart as e:
        log.error("not starting: %s", e)
        sys.exit(REFUSED_TO_START)


if __name__ == "__main__":
    main()
