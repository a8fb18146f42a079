"""/live over real WebSocket clients: origin checks, public topics, personal rooms, limits, and
chat messages sent over the socket."""
import asyncio
import json
import re
import threading
import time

import argon2
import pytest
import tornado.httpclient
import tornado.websocket

from parlor.web.services import HASH_THREADS, HASHES_WAITING
from tests.helpers import Visitor, chat_dir, close_tabs, next_frame, open_tabs, pair_messages, pushes, until, users


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


@pytest.mark.config(allowed_origins=("https://embed.example",))
@pytest.mark.gen_test
async def test_allowed_origins_flag_lets_another_site_in(http_server, http_client, base_url, app):
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


@pytest.mark.password_hasher(factory=RecordingHasher)
@pytest.mark.gen_test(timeout=60)
async def test_a_push_is_delivered_while_logins_fill_every_hashing_slot(http_server, http_client, base_url, app,
                                                                       password_hasher):
    """As many logins at once as the app hashes or queues (more are refused with 503)."""
    hasher, at_once = password_hasher, HASH_THREADS + HASHES_WAITING
    await Visitor(http_client, base_url).sign_up("hasty")
    ws = await Visitor(http_client, base_url).live()
    logins = [asyncio.ensure_future(Visitor(http_client, base_url).log_in("hasty")) for _ in range(at_once)]
    arrivals = []
    while not all(login.done() for login in logins):
        app.hub.send_public('<p id="tick">tick</p>')
        message = await read(ws)
        if "tick" in message:
            arrivals.append(time.monotonic())
        await asyncio.sleep(0.005)
    assert [login.result().code for login in logins] == [303] * at_once
    assert len(hasher.spans) == at_once
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


def send_frame(to: str, body: str, client_id: str | None) -> str:
    """What htmx's hx-ws:send sends for the send form: its fields and its request headers."""
    fields = {"to": to, "body": body, "headers": {"HX-Request": "true"}}
    if client_id is not None:
        fields["client_id"] = client_id
    return json.dumps(fields)


SENT = "author, body, client_id"  # the stored columns a message sent over the socket sets


@pytest.mark.gen_test(timeout=30)
async def test_a_message_sent_over_the_socket_is_stored_once_pushed_and_answered(
        http_server, http_client, base_url, app, config):
    alice, bob = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    tabs = await open_tabs(app, {"alice": alice, "bob": bob})
    send = send_frame("bob", "over the socket", "client-0000001")
    _, pushed = await pushes(tabs, tabs["alice"].write_message(send), {"bob": 1, "alice": 2})
    (to_bob,) = pushed["bob"]
    assert to_bob["kind"] == "message" and "over the socket" in to_bob["content"]
    event, answer = sorted(pushed["alice"], key=lambda f: "id" not in f)  # her own event, and the answer
    assert "over the socket" in event["content"] and 'data-client-id="client-0000001"' in event["content"]
    assert answer["content"] == '<span id="send-state-client-0000001" class="status" hx-swap-oob="true">Sent</span>'
    assert pair_messages(config.data_dir, "alice", "bob", SENT) == [("alice", "over the socket", "client-0000001")]
    # The same frame again (a page that resent it): stored once, pushed once (bob gets nothing
    # more), answered again.
    _, pushed = await pushes(tabs, tabs["alice"].write_message(send), {"alice": 1})
    assert pushed["alice"][0]["content"] == answer["content"]
    assert pair_messages(config.data_dir, "alice", "bob", SENT) == [("alice", "over the socket", "client-0000001")]
    close_tabs(tabs)


@pytest.mark.parametrize("body, refusal", [
    ("x" * 4001, "A message is at most 4000 characters; this one has 4001."),
    ("   ", "Write a message or attach a picture."),
])
@pytest.mark.gen_test(timeout=30)
async def test_a_refused_send_over_the_socket_answers_with_the_reason(
        http_server, http_client, base_url, app, config, body, refusal):
    alice, bob = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    tabs = await open_tabs(app, {"alice": alice})
    _, pushed = await pushes(tabs, tabs["alice"].write_message(send_frame("bob", body, "client-0000002")), {"alice": 1})
    assert pushed["alice"][0]["content"] == (
        f'<span id="send-state-client-0000002" class="status failed" role="alert" hx-swap-oob="true">Not sent: {refusal}</span>')
    assert not pair_messages(config.data_dir, "alice", "bob", SENT)
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=30)
async def test_a_send_over_the_socket_goes_through_blocks_like_a_post(http_server, http_client, base_url, config,
                                                                      app):
    alice, bob = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    assert (await bob.post("/blocks", {"peer": "alice", "action": "block"})).code == 303
    tabs = await open_tabs(app, {"alice": alice, "bob": bob})
    _, pushed = await pushes(tabs, tabs["alice"].write_message(send_frame("bob", "let me in", "client-0000003")),
                             {"alice": 1})
    form = pushed["alice"][0]["content"]
    assert "Your message could not be delivered." in form and not pair_messages(config.data_dir, "alice", "bob", SENT)
    _, pushed = await pushes(tabs, tabs["alice"].write_message(send_frame("nobody-here", "hello", "client-0000004")),
                             {"alice": 1})
    assert "There is no user by that name." in pushed["alice"][0]["content"]
    close_tabs(tabs)


@pytest.mark.parametrize("frame", [
    "hello", "{", "[]", "null", '{"to": 5, "body": "x"}', '{"body": "no one to"}',
    '{"to": "bob", "body": ["x"]}', '{"to": "bob", "body": "x", "client_id": 7}',
    "[" * 30_000, '{"a":' * 10_000, '{"to": "bob", "up_to": "x"}', '{"to": "bob", "up_to": {"a": 1}}',
    '{"to": ["bob"], "up_to": "1"}',
])
@pytest.mark.gen_test(timeout=30)
async def test_frames_that_are_not_a_send_are_ignored_and_the_socket_stays(
        http_server, http_client, base_url, config, app, frame):
    alice, bob = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    tabs = await open_tabs(app, {"alice": alice})

    async def garbage_then_a_send():
        await tabs["alice"].write_message(frame)
        await tabs["alice"].write_message(send_frame("bob", "still here", "client-0000005"))

    _, pushed = await pushes(tabs, garbage_then_a_send(), {"alice": 2})  # her own message, and its state
    assert any('id="send-state-client-0000005"' in f["content"] and "failed" not in f["content"] for f in pushed["alice"])
    assert pair_messages(config.data_dir, "alice", "bob", SENT) == [("alice", "still here", "client-0000005")]
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=30)
async def test_a_guest_socket_cannot_send(http_server, http_client, base_url, app, config):
    alice, guest = Visitor(http_client, base_url), Visitor(http_client, base_url)
    await alice.sign_up("alice")
    tabs = await open_tabs(app, {"guest": guest})
    await pushes(tabs, tabs["guest"].write_message(send_frame("alice", "from nobody", "client-0000006")))  # no answer
    assert list(chat_dir(config.data_dir).glob("*.db")) == []
    close_tabs(tabs)


@pytest.mark.config(max_connections_per_address=4, max_anonymous_connections_per_address=3)
@pytest.mark.gen_test(timeout=30)
async def test_live_connections_from_one_address_are_capped_on_every_process(
        http_server, http_client, base_url, app, second_app):
    """Anonymous streams held by one address took a site down: an address holds at most so many
    live connections on all processes together, fewer without an account (a 429 for a stream,
    1008 for a socket), and a closed one makes room again."""
    _, other_url = second_app
    (alice,) = await users(app, http_client, base_url, "alice")
    streams = [await Visitor(http_client, url).events("?boards=10") for url in (base_url, base_url, other_url)]
    assert [stream.status for stream in streams] == [200, 200, 200]
    refused = await Visitor(http_client, other_url).events("?boards=10")
    assert refused.status == 429
    socket = await Visitor(http_client, base_url).live()
    assert await socket.read_message() is None and socket.close_code == 1008
    assert socket.close_reason == "too many connections from this address"
    mine = await alice.events("?boards=10")  # an account's still fits, the fourth ...
    assert mine.status == 200
    fifth = await alice.events("?boards=10")  # ... and nothing more
    assert fifth.status == 429
    streams[0].close()
    await until(lambda: app.hub.connection_count() == 2)
    again = await Visitor(http_client, other_url).events("?boards=10")
    assert again.status == 200
    for stream in (*streams[1:], refused, mine, fifth, again):
        stream.close()
