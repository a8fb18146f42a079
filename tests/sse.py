"""A Server-Sent Events client for tests: /events read as a browser's EventSource reads it."""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class SseClient:
    """A Server-Sent Events reader over a plain socket (HTTP/1.0, so the body is not chunked)."""

    def __init__(self, reader, writer, status: int, headers: dict[str, str]):
        self.reader, self.writer, self.status, self.headers = reader, writer, status, headers
        self.retry: int | None = None

    @classmethod
    async def open(cls, base_url: str, path: str, headers: dict[str, str]) -> "SseClient":
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        lines = [f"GET {path} HTTP/1.0", f"Host: {parts.netloc}", "Accept: text/event-stream",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
        status_line, *header_lines = head.strip().split("\r\n")
        response_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        return cls(reader, writer, int(status_line.split()[1]), response_headers)

    async def next_event(self, timeout: float = 5.0, skip_online: bool = True) -> dict | None:
        """The next event as {"id", "event", "data"} (None at the end of the stream)."""
        while True:
            event = {"id": None, "event": None, "data": []}
            while True:
                raw = await asyncio.wait_for(self.reader.readline(), timeout)
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if line == "":
                    break
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(": ")
                if field == "data":
                    event["data"].append(value)
                elif field == "retry":
                    self.retry = int(value)
                elif field in ("id", "event"):
                    event[field] = value
            if not event["data"] and event["id"] is None:
                continue  # the retry line, or a keepalive
            event["data"] = "\n".join(event["data"])
            if not (skip_online and 'id="online-count"' in event["data"]):
                return event

    async def body(self) -> str:
        return (await self.reader.read()).decode()

    def close(self) -> None:
        self.writer.close()
