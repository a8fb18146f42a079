"""What an operator watches: one process's counters in Prometheus form.

Every process keeps its own metrics (several processes on one Redis are several scrape targets;
sum them in the query). Nothing here reads Redis or costs a round trip: counters move where
the work happens, once per request, message, game or event (never per socket), and gauges are
read from memory when /metrics is scraped.
"""
from __future__ import annotations

import copy
import contextvars
import time
from collections import Counter as Tally
from typing import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from redis.asyncio.retry import Retry

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"
# Seconds from an event's append (its stream id's time, Redis's clock, whole ms) to its hand-off
# to this process's sockets; the low buckets sit at the id's 1 ms resolution.
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One process's metrics in their own registry (tests build many apps in one process)."""

    def __init__(self, version: str):
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)  # CPU, memory, open descriptors, Python's GC
        Gauge("parlor_info", "This process's Parlor version", ["version"],
              registry=self.registry).labels(version).set(1)
        # Labels are bounded: the handler's name, never the path; a known method; the status.
        self._requests = Counter("parlor_http_requests", "Requests answered, by handler, method and status",
                                 ["route", "method", "status"], registry=self.registry)
        self._request_seconds = Histogram("parlor_http_request_duration_seconds",
                                          "Time from a request's arrival to its answer, by handler "
                                          "(for /events and /poll: how long the client stayed)",
                                          ["route"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self._children: dict = {}  # (route, method, status) -> the two series, so a request skips labels()
        self._messages = Counter("parlor_messages_stored", "Chat messages committed (ELIZA's included), by kind",
                                 ["kind"], registry=self.registry)
        self._games = Counter("parlor_games_finished", "Games that ended, by board and result (won, unranked)",
                              ["board", "result"], registry=self.registry)
        self.event_delivery = Histogram(
            "parlor_event_delivery_seconds",
            "Per-user events: from the append to Redis to the write on this process's sockets, once per event",
            buckets=DELIVERY_BUCKETS, registry=self.registry)
        self._redis_errors = Counter("parlor_redis_errors", "Redis calls that failed after the client's retry, by error",
                                     ["error"], registry=self.registry)

    # -- moved by the work itself --------------------------------------------------------

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        series = self._children.get(key)
        if series is None:
            label = method if method in KNOWN_METHODS else "other"
            series = self._children[key] = (self._requests.labels(route, label, str(status)),
                                             self._request_seconds.labels(route))
        series[0].inc()
        series[1].observe(seconds)

    def message_stored(self, kind: str) -> None:
        self._messages.labels(kind).inc()

    def game_finished(self, board: int, result: str) -> None:
        self._games.labels(str(board), result).inc()

    def event_delivered(self, appended_ms: int) -> None:
        """One live event handed to this process's connections; `appended_ms` is its stream id's time."""
        self.event_delivery.observe(max(0.0, time.time() - appended_ms / 1000))  # clocks of two hosts may differ

    def redis_failed(self, error: Exception) -> None:
        self._redis_errors.labels(type(error).__name__).inc()

    def counting_messages(self, on_message: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Wrap Chat's on_message callback (called once per newly committed message)."""
        async def counted(a: str, b: str, message) -> None:
            self.message_stored(message.kind)
            await on_message(a, b, message)
        return counted

    # -- read when scraped -----------------------------------------------------------------

    def watch(self, app) -> None:
        """Gauges read from the running app when /metrics is scraped, at no cost in between."""
        self.registry.register(_AppGauges(app))


class _AppGauges:
    """Open connections by transport, users online, requests in flight, open chat files."""

    def __init__(self, app):
        self._app = app

    def describe(self):
        return []  # values are only known at collect time; nothing to check at registration

    def collect(self):
        hub = self._app.hub
        sockets = GaugeMetricFamily("parlor_connections_open", "Live connections open on this process, by transport",
                                    labels=["transport"])
        counts = Tally(hub.transports())
        for transport in ("ws", "sse", "poll"):
            sockets.add_metric([transport], counts.get(transport, 0))
        yield sockets
        yield GaugeMetricFamily("parlor_users_online", "Users online on all processes together "
                                "(the same figure from every process: do not sum it)", value=hub.online_count)
        yield GaugeMetricFamily("parlor_users_connected", "Users with a live connection on this process",
                                value=hub.users_connected())
        yield GaugeMetricFamily("parlor_http_requests_in_flight", "Page and form requests being handled",
                                value=self._app.in_flight)
        yield GaugeMetricFamily("parlor_chat_files_open", "Chat files (SQLite) held open",
                                value=self._app.chat_logs.open_count)


_inside_retry = contextvars.ContextVar("parlor_inside_redis_retry", default=False)


class CountingRetry(Retry):
    """The Redis client's retry policy, telling `on_error` of every call that still failed after
    it. A reconnect inside a command retries on its own; only the outermost failure counts."""

    def __init__(self, on_error: Callable[[Exception], None], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_error = on_error

    def __deepcopy__(self, memo):
        return copy.copy(self)  # each connection takes a copy: keep the one callback, not a clone of its owner

    async def call_with_retry(self, do, fail, *args, **kwargs):
        if _inside_retry.get():
            return await super().call_with_retry(do, fail, *args, **kwargs)
        token = _inside_retry.set(True)
        try:
            return await super().call_with_retry(do, fail, *args, **kwargs)
        except self._supported_errors as error:
            self._on_error(error)
            raise
        finally:
            _inside_retry.reset(token)
