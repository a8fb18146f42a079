"""handlers/wire.py: a push framed for the WebSocket and for SSE, once for every connection."""
import json
import struct

import pytest

from parlor.live.events import Event, Push, Reload
from parlor.web.handlers.wire import sse_text, ws_text, ws_wire


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
def test_a_push_is_framed_once_as_a_server_text_frame(size):
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte UTF-8: the length is in bytes
    wire = ws_wire(Push(text))
    payload = json.dumps({"content": text}).encode()
    assert wire[0] == 0x81  # FIN, text; no RSV bits (no compression), one frame
    length, header = wire[1] & 0x7F, 2
    assert not wire[1] & 0x80  # a server never masks
    if length == 126:
        length, header = struct.unpack("!H", wire[2:4])[0], 4
    elif length == 127:
        length, header = struct.unpack("!Q", wire[2:10])[0], 10
    assert length == len(payload) and wire[header:] == payload


def test_each_framing_is_made_once_and_shared_by_every_connection():
    push = Event("1-0", "message", "<p>hi</p>", "{}")
    assert ws_wire(push) is ws_wire(push) and sse_text(push) is sse_text(push)
    assert json.loads(ws_text(push)) == {"id": "1-0", "kind": "message", "content": "<p>hi</p>"}


@pytest.mark.parametrize("push, expected", [
    (Push("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n"),  # every line break ends a data line
    (Event("5-1", "read", "<i>x</i>", "{}"), "id: 5-1\ndata: <i>x</i>\n\n"),
    (Reload("9-0"), "id: 9-0\nevent: parlor-reload\ndata: reload\n\n"),
])
def test_sse_text(push, expected):
    assert sse_text(push) == expected
