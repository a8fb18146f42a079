"""RFC 6455 where Tornado's WebSocket protocol is lax: a connection that breaks the protocol is
closed with a close frame that says why, not only by dropping the TCP connection; unmasked
client frames and invalid close codes are refused, not served or echoed back. Also the two
things a live socket does that Tornado has no public API for: send a frame made once for many
sockets, and let go of what it parsed from its upgrade request.

This is the one module that touches Tornado's private parts; TORNADO_PRIVATES lists each with
the signature relied on, and tests/web/test_websocket_frames.py fails if Tornado changes one."""
from __future__ import annotations

import asyncio
import socket
import struct

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketProtocol13

PROTOCOL_ERROR = 1002
INVALID_PAYLOAD = 1007  # text that is not UTF-8
LINGER_S = 1.0  # a failed connection's socket stays open this long after our close frame
# Close codes a peer may send (RFC 6455 7.4.1 and IANA's registry): 1004-1006 and 1015 are
# reserved for reporting, never sent; 0-999 and 1016-2999 are not used; 3000-4999 are private.
VALID_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015)) | frozenset(range(3000, 5000))
# What of Tornado's that is not public API this module relies on (Tornado 6.6): WebSocketProtocol13's
# methods with their signatures, the attribute that holds its ping task, and the attribute
# where HTTPServerRequest.cookies keeps what it parsed.
TORNADO_PRIVATES = {
    "_receive_frame_loop": "async (self) -> None",  # runs once the handshake is over
    "_receive_frame": "async (self) -> None",  # reads one frame
    "_read_bytes": "async (self, n: int) -> bytes",  # the first read of a frame holds the mask bit
    "_handle_message": "(self, opcode: int, data: bytes) -> 'Optional[Future[None]]'",
    "_abort": "(self) -> None",  # how Tornado fails a connection
    "_write_frame": "(self, fin: bool, opcode: int, data: bytes, flags: int = 0) -> 'Future[None]'",
}
TORNADO_PING_TASK = "_ping_coroutine"  # set in WebSocketProtocol13.__init__: its ping loop, cancelled when it lingers
TORNADO_COOKIE_CACHE = "_cookies"  # where HTTPServerRequest.cookies keeps the header it parsed


def shed_upgrade_request(request: HTTPServerRequest) -> None:
    """Forget what was parsed from a WebSocket's upgrade request (its cookies, headers and
    arguments): an open socket never reads them again, and it lives for hours, so they would be
    a large share of an idle socket's memory. The parsed cookies sit in Tornado's private cache
    (TORNADO_COOKIE_CACHE), which nothing public empties."""
    request.__dict__.pop(TORNADO_COOKIE_CACHE, None)
    request.headers = HTTPHeaders()
    request.arguments, request.query_arguments, request.body_arguments, request.files = {}, {}, {}, {}


class StrictProtocol(WebSocketProtocol13):
    """Tornado's RFC 6455 protocol with the checks above; LiveSocket speaks it. Tornado has no
    public hook to see a frame's mask bit or a close frame before it acts on them, nor to send a
    close frame when it fails a connection: these overrides of its private methods are the way."""

    def send_frame(self, frame: bytes) -> asyncio.Future | None:
        """Write a whole frame made once for every socket (handlers/wire.py), not framed again
        per socket as write_message would; None if the connection is closed. Sound because
        /live offers no compression, so a frame is never per socket."""
        try:
            return self.stream.write(frame)
        except StreamClosedError:
            return None

    _failure = PROTOCOL_ERROR  # the close code sent when Tornado aborts a connection
    _open = False  # frames are being read: the handshake is over
    _at_frame_start = False

    async def _receive_frame_loop(self) -> None:
        self._open = True
        await super()._receive_frame_loop()

    async def _receive_frame(self) -> None:
        self._at_frame_start = True
        await super()._receive_frame()

    async def _read_bytes(self, n: int) -> bytes:
        data = await super()._read_bytes(n)
        if self._at_frame_start:
            self._at_frame_start = False
            if not data[1] & 0x80:  # RFC 6455 5.1: a server closes on an unmasked client frame
                self._fail(PROTOCOL_ERROR, "client frames must be masked")
                raise StreamClosedError()  # the frame loop ends as for a closed connection
        return data

    def _handle_message(self, opcode: int, data: bytes):
        if opcode == 0x1:
            self._failure = INVALID_PAYLOAD  # Tornado aborts when the text does not decode
            try:
                return super()._handle_message(opcode, data)
            finally:
                self._failure = PROTOCOL_ERROR
        if opcode == 0x8 and not self.client_terminated:
            code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else None
            if len(data) == 1 or (code is not None and code not in VALID_CLOSE_CODES):
                self._fail(PROTOCOL_ERROR, "invalid close code")
                return None
            try:
                data[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._fail(INVALID_PAYLOAD, "close reason is not UTF-8")
                return None
        return super()._handle_message(opcode, data)

    def _fail(self, code: int, reason: str = "") -> None:
        self._failure = code
        self._abort(reason)

    def _abort(self, reason: str = "") -> None:
        """Fail the connection; once frames flow, first tell the client why (RFC 6455 7.1.7)."""
        if self._lingering:
            return  # the socket closes when the linger ends
        if self._open and not self.stream.closed():
            if not self.server_terminated:
                try:
                    self._write_frame(True, 0x8, struct.pack(">H", self._failure) + reason.encode())
                except StreamClosedError:
                    pass
                self.server_terminated = True
            if not self.stream.closed():
                self._linger()
                return
        super()._abort()

    _lingering = False

    def _linger(self) -> None:
        """Send the close frame and a FIN, but close the socket a moment later. Closing it while
        the client's data is unread (the rest of an oversized message) sends a reset, which can
        destroy the close frame before the client reads it."""
        self._lingering = True
        self.client_terminated = self.server_terminated = True  # no more frames either way
        if self._ping_coroutine:
            self._ping_coroutine.cancel()
            self._ping_coroutine = None
        stream = self.stream

        def stop_writing(_=None) -> None:
            if not stream.closed():
                try:
                    stream.socket.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        try:
            stream.write(b"").add_done_callback(stop_writing)  # once what is queued has gone out
        except StreamClosedError:
            pass
        IOLoop.current().call_later(LINGER_S, super()._abort)
