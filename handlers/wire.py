"""The wire formats of live pushes: WebSocket frames (JSON text in one RFC 6455 frame) and
Server-Sent Events text. Each is made once per push, by the first connection that sends it, and
kept on the push (Push.framed) for every other connection: framing costs once per event, not
once per socket."""
from __future__ import annotations

import json
import re
import struct

from parlor.live.events import Event, Push, Reload

LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")  # what ends a line in an SSE stream (every form must be split)


def websocket_text_frame(text: str) -> bytes:
    """One unfragmented, unmasked, uncompressed text frame from a server (RFC 6455 5.2): the same
    bytes for every socket that gets this text."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


def ws_text(push: Push) -> str:
    """The JSON a WebSocket client gets: {"content": html} for state (hx-ws swaps "content"),
    {"id", "kind", "content"} for an event, {"reload": true, "cursor"} for a reload."""
    text = push.framed.get("ws_text")
    if text is None:
        if isinstance(push, Event):
            text = json.dumps({"id": push.id, "kind": push.kind, "content": push.html})
        elif isinstance(push, Reload):
            text = json.dumps({"reload": True, "cursor": push.cursor})
        else:
            text = json.dumps({"content": push.html})
        push.framed["ws_text"] = text
    return text


def ws_wire(push: Push) -> bytes:
    """ws_text as a whole WebSocket frame, header and all."""
    wire = push.framed.get("ws")
    if wire is None:
        wire = push.framed["ws"] = websocket_text_frame(ws_text(push))
    return wire


def sse_text(push: Push) -> str:
    """The Server-Sent Events text of a push: an event carries its id (a reconnect's
    Last-Event-ID), a reload is the named event parlor-reload."""
    text = push.framed.get("sse")
    if text is None:
        if isinstance(push, Reload):
            text = f"id: {push.cursor}\nevent: parlor-reload\ndata: reload\n\n"
        elif isinstance(push, Event):
            text = f"id: {push.id}\n" + sse_data(push.html)
        else:
            text = sse_data(push.html)
        push.framed["sse"] = text
    return text


def sse_data(text: str) -> str:
    """`text` as SSE data lines: one per line of it, then the blank line that ends the event."""
    return "".join(f"data: {line}\n" for line in LINE_BREAK_RE.split(text)) + "\n"


# The answer to a page's heartbeat ({"ping"}): a frame with no content, so htmx swaps nothing.
PONG = websocket_text_frame('{"pong": true}')
