"""Each route's body limit, applied before the body is read: Tornado buffers a request's whole
body (up to the server's MAX_REQUEST_BYTES) before a handler runs, so 40 connections each holding
an unfinished 7 MiB form took hundreds of MiB. Only the picture upload takes megabytes, and it
streams its body (handlers/chat.py)."""
from __future__ import annotations

import re

import tornado.httputil
import tornado.web

from .inputs import whole_number


class BodyLimits:
    """The largest body each route takes (its handler's max_body_bytes), found by path as the
    routes are tried, and whether its handler streams the body itself (data_received)."""

    def __init__(self, routes: list[tuple], default: int):
        self._routes = [(re.compile(pattern + "$"), getattr(handler, "max_body_bytes", default),
                         handler.data_received is not tornado.web.RequestHandler.data_received)
                        for pattern, handler, *_ in routes]
        self._default = default

    def of(self, path: str) -> tuple[int, bool]:
        """(the route's limit in bytes, whether its handler streams the body)."""
        for pattern, limit, streams in self._routes:
            if pattern.match(path):
                return limit, streams
        return self._default, False


class BodyLimit(tornado.httputil.HTTPMessageDelegate):
    """One request on its way to the application, its body held to the route's limit. A declared
    Content-Length over it: the handler runs at once with no body and answers 413 (prepare's
    check), and the connection closes after that answer. A chunked body: at most one byte over the
    limit is kept (so the handler answers 413), the rest read to its end and dropped."""

    def __init__(self, delegate: tornado.httputil.HTTPMessageDelegate, limits: BodyLimits):
        self._delegate = delegate
        self._limits = limits
        self._limit = 0
        self._kept = 0
        self._handed_over = False  # the handler has run without the body: what comes is dropped

    def headers_received(self, start_line, headers):
        answer = self._delegate.headers_received(start_line, headers)
        if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
            return answer  # no body can follow (RFC 9112 6.3): no route's limit to look up
        self._limit, streams = self._limits.of(start_line.path.split("?", 1)[0])
        declared = whole_number(headers.get("Content-Length", ""))
        if not streams and declared is not None and declared > self._limit:
            self._handed_over = True
            self._delegate.finish()
        return answer

    def data_received(self, chunk: bytes):
        if self._handed_over:
            return None
        room = self._limit + 1 - self._kept
        if room <= 0:
            return None
        self._kept += min(len(chunk), room)
        return self._delegate.data_received(chunk[:room])

    def finish(self) -> None:
        if not self._handed_over:
            self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()
