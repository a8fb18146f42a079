"""Lean load-generating clients: HTTP/1.1 on kept-alive connections and raw WebSockets.

The generator has one core, like the server; Tornado's own clients cost about a millisecond a
request, which would make the ratios measure the generator. These cost tens of microseconds.
"""
from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import time
from typing import Callable

CONTENT_LENGTH_RE = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
ETAG_RE = re.compile(rb"\r\netag: *([^\r\n]+)", re.IGNORECASE)


class Response:
    __slots__ = ("status", "head", "body")

    def __init__(self, status: int, head: bytes, body: bytes):
        self.status, self.head, self.body = status, head, body

    def header(self, name: str) -> str | None:
        match = re.search(rb"\r\n" + re.escape(name.encode()) + rb": *([^\r\n]*)", self.head, re.IGNORECASE)
        return match.group(1).decode() if match else None


class HttpPool:
    """Up to `size` persistent connections to one server; a request takes an idle one."""

    def __init__(self, url: str, size: int):
        host, port = url.rsplit("//", 1)[1].rstrip("/").split(":")
        self.host, self.port = host, int(port)
        self._idle: list = []
        self._waiters: list[asyncio.Future] = []
        self._opened = 0
        self._size = size
        self._all: list[asyncio.StreamWriter] = []

    async def _take(self):
        if self._idle:
            return self._idle.pop()
        if self._opened < self._size:
            self._opened += 1
            connection = await asyncio.open_connection(self.host, self.port)
            self._all.append(connection[1])
            return connection
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter

    def _give_back(self, connection) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    async def request(self, method: str, path: str, headers: str = "", body: bytes = b"") -> Response:
        """headers: extra header lines, each ending in CRLF."""
        reader, writer = await self._take()
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{headers}"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        match = CONTENT_LENGTH_RE.search(head)
        data = await reader.readexactly(int(match.group(1))) if match else b""
        self._give_back((reader, writer))
        return Response(int(head[9:12]), head, data)

    def close(self) -> None:
        for writer in self._all:
            writer.close()


class WebSocket(asyncio.Protocol):
    """A client WebSocket that hands each text frame to `on_text(payload, arrival_time)` and
    answers pings; nothing else."""

    def __init__(self, on_text: Callable[[bytes, float], None] | None = None):
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self._buffer = bytearray()
        self._upgraded = False

    @classmethod
    async def connect(cls, url: str, path: str, headers: str = "",
                      on_text: Callable[[bytes, float], None] | None = None) -> "WebSocket":
        host, port = url.rsplit("//", 1)[1].rstrip("/").split(":")
        loop = asyncio.get_running_loop()
        _, socket = await loop.create_connection(lambda: cls(on_text), host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        socket.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {url.rstrip('/')}\r\n"
            f"{headers}\r\n".encode())
        await socket.opened
        return socket

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[9:12])
            del buffer[:end + 4]
            if status != b"101":
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(f"upgrade refused: {status.decode()}"))
                self.transport.close()
                return
            self._upgraded = True
            self.opened.set_result(None)
        now = time.perf_counter()
        position, size = 0, len(buffer)
        while size - position >= 2:
            opcode, length = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length, header = struct.unpack_from("!H", buffer, position + 2)[0], 4
            elif length == 127:
                if size - position < 10:
                    break
                length, header = struct.unpack_from("!Q", buffer, position + 2)[0], 10
            if size - position < header + length:
                break
            payload = bytes(buffer[position + header:position + header + length])
            position += header + length
            if opcode == 1 and self.on_text is not None:
                self.on_text(payload, now)
            elif opcode == 9:
                self._send(0xA, payload)
            elif opcode == 8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.transport.close()
        del buffer[:position]

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        # Masking (RFC 6455 5.3) as one integer XOR: a byte at a time costs the generator too much.
        key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
        if size < 126:
            header = bytes([0x80 | opcode, 0x80 | size])
        elif size <= 0xFFFF:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        self.transport.write(header + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_many(count: int, open_one: Callable[[int], "asyncio.Future"], at_once: int = 200) -> list:
    """Open `count` connections, `at_once` handshakes in flight at a time; in order."""
    gate = asyncio.Semaphore(at_once)

    async def one(i):
        async with gate:
            return await open_one(i)

    return await asyncio.gather(*(one(i) for i in range(count)))
