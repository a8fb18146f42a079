"""A WebSocket frame fuzzer: raw frames over a socket to /live, one case per row. Every case ends
in a close with the code RFC 6455 asks for, or is served (the socket still answers a ping), and
another client is served all the while."""
import asyncio
import inspect
import os
import struct
from base64 import b64encode

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.websocket import WebSocketProtocol13

from parlor.web.handlers.websocket import (
    TORNADO_COOKIE_CACHE,
    TORNADO_PING_TASK,
    TORNADO_PRIVATES,
    shed_upgrade_request,
)
from tests.helpers import Visitor, next_frame, until

LIMIT = 64 * 1024  # server.MAX_WEBSOCKET_MESSAGE
SERVED = "served"


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, masked: bool = True,
          length: int | None = None) -> bytes:
    """One frame as a client sends it (masked unless told otherwise); `length` may lie."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    return frame(0x8, (struct.pack("!H", code) if code is not None else b"") + reason)


TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

CASES = [
    # (id, frames, expected: SERVED or the close code)
    ("text", [frame(TEXT, b"hello")], SERVED),
    ("empty text", [frame(TEXT)], SERVED),
    ("binary", [frame(BINARY, bytes(range(256)))], SERVED),
    ("unsolicited pong", [frame(PONG, b"x")], SERVED),
    ("fragmented text", [frame(TEXT, b"hel", fin=False), frame(CONTINUATION, b"lo")], SERVED),
    ("ping between fragments", [frame(TEXT, b"a", fin=False), frame(PING, b"p"), frame(CONTINUATION, b"b")], SERVED),
    ("utf-8 split across fragments", [frame(TEXT, "é".encode()[:1], fin=False),
                                      frame(CONTINUATION, "é".encode()[1:])], SERVED),
    ("message at the limit", [frame(BINARY, b"x" * LIMIT)], SERVED),
    *[(f"reserved opcode {op}", [frame(op, b"x")], 1002) for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)],
    *[(f"reserved bit {rsv}", [frame(TEXT, b"x", rsv=rsv)], 1002) for rsv in (4, 2, 1)],
    ("fragmented ping", [frame(PING, b"x", fin=False)], 1002),
    ("fragmented close", [frame(CLOSE, struct.pack("!H", 1000), fin=False)], 1002),
    ("control frame of 126 bytes", [frame(PING, b"x" * 126)], 1002),
    ("continuation with nothing to continue", [frame(CONTINUATION, b"x")], 1002),
    ("new message inside a fragmented one", [frame(TEXT, b"a", fin=False), frame(TEXT, b"b")], 1002),
    ("unmasked frame", [frame(TEXT, b"x", masked=False)], 1002),
    ("masked then unmasked", [frame(TEXT, b"ok"), frame(TEXT, b"x", masked=False)], 1002),
    ("unmasked continuation", [frame(TEXT, b"a", fin=False), frame(CONTINUATION, b"b", masked=False)], 1002),
    ("invalid utf-8 text", [frame(TEXT, b"\xff\xfe")], 1007),
    ("overlong utf-8 encoding", [frame(TEXT, b"\xc0\xaf")], 1007),
    ("utf-16 surrogate in utf-8", [frame(TEXT, b"\xed\xa0\x80")], 1007),
    ("invalid utf-8 across fragments", [frame(TEXT, b"\xce", fin=False), frame(CONTINUATION, b"\xff")], 1007),
    ("over the limit", [frame(BINARY, b"x" * (LIMIT + 1))], 1009),
    ("a length of 2**63 - 1, no body", [frame(BINARY, length=(1 << 63) - 1)], 1009),
    ("fragments over the limit together", [frame(TEXT, b"a" * 40_000, fin=False),
                                           frame(CONTINUATION, b"b" * 40_000)], 1009),
    ("close without a code", [close_frame()], None),
    ("close 1000 with a reason", [close_frame(1000, b"bye")], 1000),
    *[(f"close {code}", [close_frame(code)], code) for code in (1001, 1002, 1003, 1007, 1011, 3000, 4999)],
    ("close of one byte", [frame(CLOSE, b"\x03")], 1002),
    *[(f"invalid close code {code}", [close_frame(code)], 1002)
      for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)],
    ("close reason not utf-8", [close_frame(1000, b"\xff")], 1007),
]


class RawSocket:
    """A WebSocket client that sends whatever bytes it is told to."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "RawSocket":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = b64encode(os.urandom(16)).decode()
        writer.write((f"GET /live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Origin: http://127.0.0.1:{port}\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer)

    async def next_frame(self, timeout: float = 5.0) -> tuple[int, bytes] | None:
        """(opcode, payload) of the server's next frame; None once the connection is gone."""
        try:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            assert not second & 0x80, "a server's frames are never masked"
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return first & 0x0F, await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def outcome(self) -> str | int | None:
        """SERVED if the socket still answers a ping; else the code of the server's close frame."""
        try:
            self.writer.write(frame(PING, b"still there?"))
            await self.writer.drain()
        except ConnectionError:
            pass
        while True:
            received = await self.next_frame()
            assert received is not None, "the connection was dropped without a close frame"
            opcode, payload = received
            if opcode == PONG and payload == b"still there?":
                return SERVED
            if opcode == CLOSE:
                assert await self.next_frame() is None, "the connection stayed open after the close"
                return struct.unpack("!H", payload[:2])[0] if payload else None

    def close(self) -> None:
        self.writer.close()


@pytest.mark.parametrize("frames,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.gen_test(timeout=30)
async def test_a_hostile_frame_is_closed_with_the_right_code_and_others_are_served(
        http_server, http_client, base_url, app, frames, expected):
    bystander = await Visitor(http_client, base_url).live()
    await until(lambda: app.hub.connection_count() == 1)
    port = int(base_url.rsplit(":", 1)[1])
    hostile = await RawSocket.open(port)
    await until(lambda: app.hub.connection_count() == 2)
    app.hub.send_public('<p id="news">before</p>')
    for data in frames:
        hostile.writer.write(data)
    app.hub.send_public('<p id="news">during</p>')
    assert await hostile.outcome() == expected
    hostile.close()
    app.hub.send_public('<p id="news">after</p>')
    assert [(await next_frame(bystander))["content"] for _ in range(3)] == [
        '<p id="news">before</p>', '<p id="news">during</p>', '<p id="news">after</p>']
    await until(lambda: app.hub.connection_count() == 1)  # the hostile one left the hub
    bystander.close()


def test_the_tornado_internals_strict_protocol_relies_on_are_still_there():
    """handlers/websocket.py overrides and calls private parts of Tornado: an upgrade that renames
    or reshapes one must fail here, not silently serve a lax protocol."""
    for name, expected in TORNADO_PRIVATES.items():
        method = getattr(WebSocketProtocol13, name)
        prefix = "async " if inspect.iscoroutinefunction(method) else ""
        assert prefix + str(inspect.signature(method)) == expected, name
    assert f"self.{TORNADO_PING_TASK}" in inspect.getsource(WebSocketProtocol13.__init__)
    assert f"self.{TORNADO_PING_TASK}" in inspect.getsource(WebSocketProtocol13.start_pinging)


def test_a_shed_upgrade_request_holds_no_parsed_cookies_headers_or_arguments():
    request = HTTPServerRequest(start_line=RequestStartLine("GET", "/live?boards=10", "HTTP/1.1"),
                                headers=HTTPHeaders({"Host": "parlor.test", "Cookie": "parlor_session=abc"}))
    request.arguments = {"boards": [b"10"]}
    assert request.cookies["parlor_session"].value == "abc"
    assert TORNADO_COOKIE_CACHE in vars(request)  # where Tornado keeps what it parsed
    shed_upgrade_request(request)
    assert TORNADO_COOKIE_CACHE not in vars(request) and request.headers == HTTPHeaders()
    assert request.arguments == {} and dict(request.cookies) == {}
