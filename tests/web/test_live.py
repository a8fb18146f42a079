"""/live over real WebSocket clients: origin checks, public topics, personal rooms, limits."""
import asyncio
import json
import threading
import time

import argon2
import pytest
import tornado.httpclient
import tornado.websocket

from parlor.users import Accounts
from tests.helpers import Visitor, next_frame, until


async def read(ws, timeout=5.0):
    """The next frame's fragment (the online count included); None once closed."""
    frame = await next_frame(ws, timeout, skip_online=False)
    return None if frame is None else frame.get("content")


@pytest.mark.parametrize("origin", [
    "http://evil.example", "null", "http://localhost.evil.example", "http://evil.example/http://localhost",
    "file://", "ftp://localhost",
])
@pytest.mark.gen_test
async def test_foreign_origin_is_refused(http_server, http_client, base_url, origin):
    visitor = Visitor(http_client, base_url)
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await visitor.live(origin=origin)
    assert refused.value.code == 403
    with pytest.raises(tornado.httpclient.HTTPClientError):
        await visitor.live(origin=base_url + ".evil.example")  # a look-alike suffix
    ws = await visitor.live()  # same origin is fine
    ws.close()


@pytest.mark.gen_test
async def test_allowed_origins_flag_lets_another_site_in(http_server, http_client, base_url, app):
    app.config = app.config.__class__(**{**app.config.__dict__, "allowed_origins": ("https://embed.example",)})
    ws = await Visitor(http_client, base_url).live(origin="https://embed.example")
    ws.close()


@pytest.mark.gen_test
async def test_online_count_is_pushed_when_a_user_connects(http_server, http_client, base_url):
    guest_ws = await Visitor(http_client, base_url).live()
    user = Visitor(http_client, base_url)
    await user.sign_up("olive")
    user_ws = await user.live()
    pushed = await read(guest_ws)
    assert 'id="online-count"' in pushed and 'hx-swap-oob="true"' in pushed
    assert '<span class="count">1</span>' in pushed
    user_ws.close()
    pushed = await read(guest_ws)
    assert '<span class="count">0</span>' in pushed
    guest_ws.close()


@pytest.mark.gen_test(timeout=30)
async def test_personal_events_reach_only_their_user(http_server, http_client, base_url, app):
    guest_ws = await Visitor(http_client, base_url).live()
    alice, bob = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    alice_tabs = [await alice.live(), await alice.live()]
    bob_ws = await bob.live()
    await until(lambda: app.hub.connection_count() == 4)
    [event_id] = await app.hub.publish([("alice", "test", '<p id="secret">for alice</p>', {"n": 1})])
    await until(lambda: app.hub.has_user("alice"))
    for tab in alice_tabs:
        frame = await next_frame(tab)
        assert frame == {"id": event_id, "kind": "test", "content": '<p id="secret">for alice</p>'}
    app.hub.send_public('<p id="news">for everyone</p>')
    # The others' next message is the public one: the personal one never came to them.
    for ws in (guest_ws, bob_ws):
        assert (await next_frame(ws))["content"] == '<p id="news">for everyone</p>'
    for ws in (guest_ws, bob_ws, *alice_tabs):
        ws.close()


@pytest.mark.gen_test
async def test_oversized_client_message_closes_with_1009(http_server, http_client, base_url):
    ws = await Visitor(http_client, base_url).live()
    await ws.write_message("x" * (64 * 1024 + 1))
    assert await read(ws) is None
    assert ws.close_code == 1009


class RecordingHasher(argon2.PasswordHasher):
    """A real argon2 hasher that notes when each verification runs."""

    def __init__(self):
        super().__init__()
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def verify(self, hash, password):
        start = time.monotonic()
        try:
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.spans.append((start, time.monotonic()))


@pytest.mark.gen_test(timeout=60)
async def test_a_push_is_delivered_while_ten_logins_are_hashing(http_server, http_client, base_url, app):
    hasher = RecordingHasher()
    app.accounts = Accounts(app.redis, app.hash_pool, hasher)
    await Visitor(http_client, base_url).sign_up("hasty")
    ws = await Visitor(http_client, base_url).live()
    logins = [asyncio.ensure_future(Visitor(http_client, base_url).log_in("hasty")) for _ in range(10)]
    arrivals = []
    while not all(login.done() for login in logins):
        app.hub.send_public('<p id="tick">tick</p>')
        message = await read(ws)
        if "tick" in message:
            arrivals.append(time.monotonic())
        await asyncio.sleep(0.005)
    assert [login.result().code for login in logins] == [303] * 10
    assert len(hasher.spans) == 10
    # Test client and server share one event loop: a push can only arrive while a hash is running
    # if hashing does not block that loop.
    during_a_hash = [t for t in arrivals if any(start < t < end for start, end in hasher.spans)]
    assert during_a_hash, "no push was delivered while a password was being hashed"
    ws.close()


@pytest.mark.gen_test(timeout=30)
async def test_pushes_of_every_frame_size_arrive_whole_and_uncompressed(http_server, http_client, base_url, app):
    # Pushes are framed once and the same bytes written to every socket: sound only while /live
    # never compresses (a deflate frame would differ per socket).
    sockets = [await Visitor(http_client, base_url).live() for _ in range(2)]
    asking = tornado.httpclient.HTTPRequest(base_url.replace("http://", "ws://") + "/live",
                                            headers={"Origin": base_url})
    sockets.append(await tornado.websocket.websocket_connect(asking, compression_options={}))
    assert "permessage-deflate" in asking.headers["Sec-WebSocket-Extensions"]  # the client offers it
    assert "Sec-WebSocket-Extensions" not in sockets[-1].headers  # the server does not take it
    await until(lambda: app.hub.connection_count() == 3)
    for size in (10, 300, 70_000):
        html = f'<p id="big">{"ü" * size}</p>'
        app.hub.send_public(html)
        for ws in sockets:
            while True:  # online counts may come first
                frame = json.loads(await ws.read_message())
                if frame.get("content", "").startswith('<p id="big">'):
                    break
            assert frame == {"content": html}
    for ws in sockets:
        ws.close()
