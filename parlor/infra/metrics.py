"""What an operator watches: one process's counters in Prometheus form.

Every process keeps its own metrics (several processes on one Redis are several scrape targets;
sum them in the query). Nothing here reads Redis or costs a round trip: counters move where
the work happens, once per request, message, game or event (never per socket), and gauges are
read from memory when /metrics is scraped.
"""
from __future__ import annotations

import copy
import time
from bisect import bisect_left
from collections import Counter as Tally
from typing import Callable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from redis.asyncio.retry import Retry

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"
# Seconds from an event's append (its stream id's time, Redis's clock, whole ms) to its hand-off
# to this process's sockets; the low buckets sit at the id's 1 ms resolution.
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """Counts per bucket and a sum, kept as plain numbers: observing costs a bisect and two
    additions (prometheus_client's own takes locks, several times slower). The event loop is the
    only writer, so nothing needs a lock."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # bucket i holds bounds[i-1] < value <= bounds[i]
        self.sum += value

    def add_to(self, family: HistogramMetricFamily, label_values=()) -> HistogramMetricFamily:
        """Add this histogram to a family, as one series (cumulative buckets, as Prometheus has them)."""
        cumulative, buckets = 0, []
        for bound, count in zip(self.bounds, self.counts):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        buckets.append(("+Inf", cumulative + self.counts[-1]))
        family.add_metric(list(label_values), buckets, self.sum)
        return family


class Metrics:
    """One process's metrics. The work moves plain counters; /metrics turns them, and gauges
    read from the app, into Prometheus families only when scraped."""

    def __init__(self, version: str):
        self.version = version
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)  # CPU, memory, open descriptors, Python's GC
        self.registry.register(self)
        self._app = None
        # Labels are bounded: the handler's name, never the path; a known method; the status.
        self.requests: dict[tuple[str, str, int], int] = {}
        self.request_seconds: dict[str, Histogram] = {}
        self.messages: dict[str, int] = {}
        self.games: dict[tuple[int, str], int] = {}
        self.event_delivery = Histogram(DELIVERY_BUCKETS)
        self.redis_errors: dict[str, int] = {}

    # -- moved by the work itself --------------------------------------------------------

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = "other"  # any token is a method to the HTTP parser: keep the set bounded
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        durations = self.request_seconds.get(route)
        if durations is None:
            durations = self.request_seconds[route] = Histogram(REQUEST_BUCKETS)
        durations.observe(seconds)

    def message_stored(self, kind: str) -> None:
        self.messages[kind] = self.messages.get(kind, 0) + 1

    def game_finished(self, board: int, result: str) -> None:
        self.games[(board, result)] = self.games.get((board, result), 0) + 1

    def event_delivered(self, appended_ms: int) -> None:
        """One live event handed to this process's connections; `appended_ms` is its stream id's time."""
        self.event_delivery.observe(max(0.0, time.time() - appended_ms / 1000))  # clocks of two hosts may differ

    def redis_failed(self, error: Exception) -> None:
        name = type(error).__name__
        self.redis_errors[name] = self.redis_errors.get(name, 0) + 1

    def watch(self, app) -> None:
        """Report the running app's gauges (connections, users, files) too."""
        self._app = app

    # -- read when scraped -----------------------------------------------------------------

    def describe(self):
        return []  # families are made at collect time; nothing to check at registration

    def collect(self):
        info = GaugeMetricFamily("parlor_info", "This process's Parlor version", labels=["version"])
        info.add_metric([self.version], 1)
        yield info
        requests = CounterMetricFamily("parlor_http_requests", "Requests answered, by handler, method and status",
                                       labels=["route", "method", "status"])
        for (route, method, status), count in sorted(self.requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        durations = HistogramMetricFamily("parlor_http_request_duration_seconds",
                                          "Time from a request's arrival to its answer, by handler "
                                          "(for /events and /poll: how long the client stayed)", labels=["route"])
        for route, histogram in sorted(self.request_seconds.items()):
            histogram.add_to(durations, [route])
        yield durations
        yield self._counter("parlor_messages_stored", "Chat messages committed (ELIZA's included), by kind",
                            ["kind"], {(kind,): n for kind, n in self.messages.items()})
        yield self._counter("parlor_games_finished", "Games that ended, by board and result (won, unranked)",
                            ["board", "result"], {(str(b), r): n for (b, r), n in self.games.items()})
        yield self.event_delivery.add_to(HistogramMetricFamily(
            "parlor_event_delivery_seconds",
            "Per-user events: from the append to Redis to the write on this process's sockets, once per event"))
        yield self._counter("parlor_redis_errors", "Redis calls that failed after the client's retry, by error",
                            ["error"], {(name,): n for name, n in self.redis_errors.items()})
        if self._app is not None:
            yield from _app_gauges(self._app)

    @staticmethod
    def _counter(name: str, documentation: str, labels: list[str], values: dict) -> CounterMetricFamily:
        family = CounterMetricFamily(name, documentation, labels=labels)
        for label_values, count in sorted(values.items()):
            family.add_metric(list(label_values), count)
        return family


def _app_gauges(app):
    """Open connections by transport, users online, requests in flight, open chat files."""
    hub = app.hub
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
                            value=app.in_flight)
    yield GaugeMetricFamily("parlor_chat_files_open", "Chat files (SQLite) held open", value=app.pair_files.open_count)


class CountingRetry(Retry):
    """The Redis client's retry policy, telling `on_error` of every call that still failed after
    it. A reconnect inside a command retries on its own (on the same connection, so the same
    copy of this object); only the outermost failure counts."""

    def __init__(self, on_error: Callable[[Exception], None], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_error = on_error
        self._depth = 0

    def __deepcopy__(self, memo):
        return copy.copy(self)  # each connection takes a copy: keep the one callback, not a clone of its owner

    async def call_with_retry(self, do, fail, *args, **kwargs):
        self._depth += 1
        try:
            return await super().call_with_retry(do, fail, *args, **kwargs)
        except self._supported_errors as error:
            if self._depth == 1:
                self._on_error(error)
            raise
        finally:
            self._depth -= 1
