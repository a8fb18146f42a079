"""Lossless live delivery: resume after an event id over the WebSocket, SSE and the long poll;
reloads for cursors too old; several tabs; JSONP and API tokens; slow readers; connection limits."""
import asyncio
import json
import re
import socket
import struct
from base64 import b64encode
from urllib.parse import quote

import pytest
import tornado.httpclient

from tests.helpers import Visitor, close_tabs, next_frame, open_tabs, pushes, send_message, until, users

MESSAGE_ID_RE = re.compile(r'<article id="message-[a-z0-9-]+_[a-z0-9-]+-(\d+)"')


def key(event_id):
    return tuple(int(part) for part in event_id.split("-"))


class Received:
    """Events a client saw, checked for order and duplicates as they come."""

    def __init__(self):
        self.event_ids, self.message_ids = [], []

    def add(self, event_id, html):
        assert event_id is not None, html
        if self.event_ids:
            assert key(event_id) > key(self.event_ids[-1]), "an event came twice or out of order"
        self.event_ids.append(event_id)
        self.message_ids += [int(m) for m in MESSAGE_ID_RE.findall(html)]


async def send_many(visitor, peer, count):
    for n in range(count):
        response = await send_message(visitor, peer, f"m{n}", htmx=True)
        assert response.code == 200, response.body


async def token_for(visitor):
    response = await visitor.post("/account/token", {"action": "new", "password": "correct horse"})
    assert response.code == 200, response.body
    return re.search(r'id="new-token" class="token" readonly value="([^"]+)"', response.body.decode()).group(1)


@pytest.mark.gen_test(timeout=90)
async def test_a_socket_that_drops_mid_stream_resumes_with_every_message_once(http_server, http_client,
                                                                              base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    ws = await bob.live()
    await until(lambda: app.hub.has_user("bob"))
    sending = asyncio.ensure_future(send_many(alice, "bob", 200))
    got = Received()
    while len(got.message_ids) < 60:
        frame = await next_frame(ws)
        got.add(frame.get("id"), frame["content"])
    ws.close()  # Wi-Fi drops; alice keeps sending
    await asyncio.sleep(0.3)
    ws = await bob.live(query=f"?after={got.event_ids[-1]}")
    while len(got.message_ids) < 200:
        frame = await next_frame(ws, 10)
        got.add(frame.get("id"), frame["content"])
    await sending
    assert got.message_ids == list(range(1, 201))
    with pytest.raises(asyncio.TimeoutError):
        await next_frame(ws, 0.5)  # and nothing more
    ws.close()


@pytest.mark.gen_test(timeout=90)
async def test_an_event_stream_resumes_with_last_event_id(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    stream = await bob.events()
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    await until(lambda: app.hub.has_user("bob"))
    sending = asyncio.ensure_future(send_many(alice, "bob", 200))
    got = Received()
    while len(got.message_ids) < 60:
        event = await stream.next_event()
        got.add(event["id"], event["data"])
    assert stream.retry == 2000
    stream.close()
    await asyncio.sleep(0.3)
    stream = await bob.events(last_event_id=got.event_ids[-1])
    while len(got.message_ids) < 200:
        event = await stream.next_event(10)
        got.add(event["id"], event["data"])
    await sending
    assert got.message_ids == list(range(1, 201))
    stream.close()


@pytest.mark.gen_test(timeout=90)
async def test_a_long_poll_resumes_after_its_cursor(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    first = json.loads((await bob.get("/poll?timeout=0")).body)
    assert first == {"reload": False, "events": [], "cursor": "0-0"}
    sending = asyncio.ensure_future(send_many(alice, "bob", 200))
    got, cursor = Received(), first["cursor"]
    while len(got.message_ids) < 200:
        response = await bob.get(f"/poll?after={cursor}&timeout=5")
        assert response.code == 200 and response.headers["Content-Type"].startswith("application/json")
        body = json.loads(response.body)
        for event in body["events"]:
            got.add(event["id"], event["html"])
            assert event["kind"] == "message" and event["data"]["peer"] == "alice"
        cursor = body["cursor"]
        if len(got.message_ids) == 60:
            await asyncio.sleep(0.3)  # away for a while
    await sending
    assert got.message_ids == list(range(1, 201))
    assert cursor == got.event_ids[-1]


@pytest.mark.gen_test(timeout=30)
async def test_a_long_poll_waits_for_the_next_event_and_answers_empty_at_its_timeout(
        http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    cursor = json.loads((await bob.get("/poll?timeout=0")).body)["cursor"]
    waiting = asyncio.ensure_future(bob.get(f"/poll?after={cursor}&timeout=10"))
    await until(lambda: app.hub.has_user("bob"))
    assert not waiting.done()
    await send_message(alice, "bob", "wake up")
    body = json.loads((await asyncio.wait_for(waiting, 5)).body)
    assert [e["data"]["message"]["body"] for e in body["events"]] == ["wake up"]
    empty = json.loads((await bob.get(f"/poll?after={body['cursor']}&timeout=1")).body)
    assert empty == {"reload": False, "events": [], "cursor": body["cursor"]}


@pytest.mark.gen_test(timeout=30)
async def test_a_client_that_goes_away_has_its_poll_cancelled(http_server, http_client, base_url, app):
    (bob,) = await users(app, http_client, base_url, "bob")
    reader, writer = await asyncio.open_connection("127.0.0.1", int(base_url.rsplit(":", 1)[1]))
    writer.write(f"GET /poll?timeout=20 HTTP/1.0\r\nCookie: {bob.cookie_header()}\r\n\r\n".encode())
    await until(lambda: app.hub.has_user("bob"))
    writer.close()
    await until(lambda: not app.hub.has_user("bob"), 5)  # well before its 20 s


@pytest.mark.config(events_max=5)
@pytest.mark.gen_test(timeout=60)
async def test_a_cursor_older_than_the_stream_is_told_to_reload(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "first")
    first = json.loads((await bob.get("/poll?after=0-0&timeout=0")).body)["cursor"]
    for n in range(10):
        await send_message(alice, "bob", f"more {n}")
    newest = await app.events.cursor("bob")
    ws = await bob.live(query=f"?after={first}")
    assert await next_frame(ws) == {"reload": True, "cursor": newest}
    ws.close()
    stream = await bob.events(last_event_id=first)
    event = await stream.next_event()
    assert event["event"] == "parlor-reload" and event["id"] == newest
    stream.close()
    body = json.loads((await bob.get(f"/poll?after={first}&timeout=0")).body)
    assert body == {"reload": True, "events": [], "cursor": newest}


@pytest.mark.parametrize("after", ["abc", "1-", "-1", "1-2-3", "1" * 16 + "-0", "１-0"])
@pytest.mark.gen_test(timeout=30)
async def test_a_malformed_cursor_is_a_400_everywhere(http_server, http_client, base_url, after, app):
    (bob,) = await users(app, http_client, base_url, "bob")
    response = await bob.get(f"/poll?after={quote(after)}")
    assert response.code == 400 and "event id" in json.loads(response.body)["error"]
    response = await bob.get(f"/events?after={quote(after)}")
    assert response.code == 400 and "event id" in response.body.decode()
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await bob.live(query=f"?after={quote(after)}")
    assert refused.value.code == 400


@pytest.mark.gen_test(timeout=60)
async def test_the_gap_between_a_page_and_its_first_connect_loses_nothing(http_server, http_client, base_url,
                                                                          app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(bob, "alice", "before the page")
    page = (await alice.get("/chat/bob")).body.decode()
    cursor = re.search(r'data-cursor="([0-9-]+)"', page).group(1)
    assert f"after={cursor}" in re.search(r'hx-ws:connect="([^"]+)"', page).group(1)
    assert f"after={cursor}" in re.search(r'data-sse="([^"]+)"', page).group(1)
    await send_message(bob, "alice", "after the page, before the socket")  # the page has not connected yet
    ws = await alice.live(query=f"?after={cursor}")
    frame = await next_frame(ws)
    assert frame["kind"] == "read"  # alice read bob's first message by opening the page
    frame = await next_frame(ws)
    assert "after the page, before the socket" in frame["content"] and key(frame["id"]) > key(cursor)
    assert "before the page" not in frame["content"]
    ws.close()


@pytest.mark.gen_test(timeout=60)
async def test_two_tabs_one_polling_one_on_a_socket_both_get_every_event(http_server, http_client, base_url,
                                                                          app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    ws = await bob.live()
    cursor = json.loads((await bob.get("/poll?timeout=0")).body)["cursor"]
    await until(lambda: app.hub.has_user("bob"))
    sending = asyncio.ensure_future(send_many(alice, "bob", 30))
    by_socket, by_poll = Received(), Received()
    while len(by_poll.message_ids) < 30:
        body = json.loads((await bob.get(f"/poll?after={cursor}&timeout=5")).body)
        for event in body["events"]:
            by_poll.add(event["id"], event["html"])
        cursor = body["cursor"]
    while len(by_socket.message_ids) < 30:
        frame = await next_frame(ws)
        by_socket.add(frame["id"], frame["content"])
    await sending
    assert by_socket.message_ids == by_poll.message_ids == list(range(1, 31))
    assert by_socket.event_ids == by_poll.event_ids
    ws.close()


@pytest.mark.gen_test(timeout=60)
async def test_jsonp_needs_a_token_and_a_valid_callback(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    anonymous = Visitor(http_client, base_url)
    response = await anonymous.get("/poll?callback=cb&timeout=0")
    assert response.code == 401
    response = await bob.get("/poll?callback=cb&timeout=0")  # the cookie alone opens nothing to a script tag
    assert response.code == 401 and "token" in json.loads(response.body)["error"]
    token = await token_for(bob)
    for bad in ["alert(1)//", "</script><script>x", "a-b", "1abc", ""]:
        response = await anonymous.get(f"/poll?callback={quote(bad)}&token={token}&timeout=0")
        assert response.code == 400, bad
    await send_message(alice, "bob", "for the script </script>")
    response = await anonymous.get(f"/poll?callback=app.onEvents&token={token}&after=0&timeout=0")
    assert response.code == 200 and response.headers["Content-Type"].startswith("application/javascript")
    text = response.body.decode()
    assert text.startswith("/**/ typeof app.onEvents === 'function' && app.onEvents({") and "</script" not in text
    body = json.loads(text[text.index("(") + 1:text.rindex(")")])
    assert [e["data"]["message"]["body"] for e in body["events"]] == ["for the script </script>"]
    response = await anonymous.get("/poll?callback=cb&token=not-a-token&timeout=0")
    assert response.code == 401


@pytest.mark.gen_test(timeout=60)
async def test_the_account_page_makes_shows_once_and_revokes_the_token(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await Visitor(http_client, base_url).get("/account")).code == 302
    assert "You have no token" in (await bob.get("/account")).body.decode()
    token = await token_for(bob)
    page = (await bob.get("/account")).body.decode()
    assert "You have a token" in page and token not in page  # shown once, stored hashed
    assert app.redis and await app.redis.get(f"api-token:{token}") is None
    await send_message(alice, "bob", "hello script")
    response = await Visitor(http_client, base_url).get(f"/poll?token={token}&after=0&timeout=0")
    assert response.code == 200 and len(json.loads(response.body)["events"]) == 1
    newer = await token_for(bob)  # a new one replaces the old
    assert (await Visitor(http_client, base_url).get(f"/poll?token={token}&timeout=0")).code == 401
    response = await bob.post("/account/token", {"action": "revoke"})
    assert response.code == 200 and "revoked" in response.body.decode()
    assert (await Visitor(http_client, base_url).get(f"/poll?token={newer}&timeout=0")).code == 401
    assert (await bob.post("/account/token", {"action": "steal"})).code == 400
    assert (await bob.post("/account/token", {"action": "new"}, xsrf=False)).code == 403


@pytest.mark.gen_test(timeout=60)
async def test_the_api_sends_a_message_with_the_token_only(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    token = await token_for(alice)
    script = Visitor(http_client, base_url)
    response = await script.fetch("/api/messages", "POST", json.dumps({"to": "bob", "body": "via api"}),
                                  {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert response.code == 201, response.body
    sent = json.loads(response.body)
    assert sent["to"] == "bob" and sent["message"]["body"] == "via api" and sent["message"]["author"] == "alice"
    again = await script.fetch(f"/api/messages?token={token}", "POST", "to=bob&body=form+too&client_id=abcdefgh12",
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert again.code == 201
    resend = await script.fetch(f"/api/messages?token={token}", "POST", "to=bob&body=form+too&client_id=abcdefgh12",
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert resend.code == 200 and json.loads(resend.body)["created"] is False
    # A cookie is not enough here, even with the XSRF token.
    response = await alice.post("/api/messages", {"to": "bob", "body": "cookie"})
    assert response.code == 401
    for body, status in [({"to": "nobody", "body": "x"}, 404), ({"to": "bob", "body": ""}, 400),
                         ({"to": ["bob"], "body": "x"}, 400), ("not json", 400)]:
        response = await script.fetch("/api/messages", "POST", body if isinstance(body, str) else json.dumps(body),
                                      {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        assert response.code == status and "error" in json.loads(response.body), body
    history = (await bob.get("/chat/alice")).body.decode()
    assert history.count('class="message theirs"') == 2


def handshake(port, cookie):
    key_bytes = b64encode(b"parlor-slow-read").decode()
    return (f"GET /live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key_bytes}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n").encode()


async def read_frames_until_close(reader):
    """Server frames (unmasked) until a close frame; returns its code."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if first & 0x0F == 0x8:
            return struct.unpack("!H", payload[:2])[0]


@pytest.mark.gen_test(timeout=90)
async def test_a_reader_that_never_reads_is_closed_and_others_get_every_event(http_server, http_client,
                                                                              base_url, app):
    (bob,) = await users(app, http_client, base_url, "bob")
    port = int(base_url.rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(handshake(port, bob.cookie_header()))
    assert b"101" in await reader.readuntil(b"\r\n\r\n")
    await until(lambda: app.hub.connection_count() == 1)
    writer.transport.pause_reading()  # from here on this client reads nothing
    good = await bob.live()
    await until(lambda: app.hub.connection_count() == 2)
    received = []

    async def read_all():
        while (frame := await next_frame(good, 30)) is not None:
            received.append(frame["id"])

    reading = asyncio.ensure_future(read_all())
    payload = "x" * 64 * 1024
    ids = []
    for n in range(300):
        ids += await app.hub.publish([("bob", "bulk", f'<p id="bulk">{n} {payload}</p>', {"n": n})])
        if app.hub.connection_count() == 1:
            break
        await asyncio.sleep(0.005)
    await until(lambda: app.hub.connection_count() == 1)  # the slow one was let go
    assert len(ids) < 300
    ids += await app.hub.publish([("bob", "bulk", "<p>after</p>", {})])
    await until(lambda: len(received) == len(ids))
    assert received == ids  # the other client got every event, in order
    writer.transport.resume_reading()
    assert await asyncio.wait_for(read_frames_until_close(reader), 10) == 1013
    writer.close()
    good.close()
    await reading


@pytest.mark.config(max_connections_per_user=2)
@pytest.mark.gen_test(timeout=60)
async def test_a_user_over_the_connection_limit_is_closed_with_1008(http_server, http_client, base_url, app):
    (bob,) = await users(app, http_client, base_url, "bob")
    tabs = [await bob.live(), await bob.live()]
    await until(lambda: app.hub.connection_count() == 2)
    third = await bob.live()
    assert await third.read_message() is None and third.close_code == 1008
    response = await bob.get("/poll?timeout=1")
    assert response.code == 429
    tabs[0].close()
    await until(lambda: app.hub.connection_count() == 1)
    fourth = await bob.live()
    await until(lambda: app.hub.connection_count() == 2)
    for ws in (tabs[1], fourth):
        ws.close()


@pytest.mark.gen_test(timeout=60)
async def test_typing_reaches_the_peer_at_most_every_few_seconds(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    tabs = await open_tabs(app, {"alice": alice})
    await bob.get("/chat/alice")
    response, pushed = await pushes(tabs, bob.post("/chat/alice/typing", headers={"HX-Request": "true"}), {"alice": 1})
    assert response.code == 204
    assert pushed["alice"] == [
        {"content": '<p id="typing-alice_bob" class="typing" hx-swap-oob="true">bob is typing…</p>'}]
    response, _ = await pushes(tabs, bob.post("/chat/alice/typing"))  # the second notice is swallowed
    assert response.code == 204
    _, pushed = await pushes(tabs, send_message(bob, "alice", "done typing"), {"alice": 1})
    (frame,) = pushed["alice"]
    assert "done typing" in frame["content"] and frame["kind"] == "message"
    assert '<p id="typing-alice_bob" class="typing" hx-swap-oob="true"></p>' in frame["content"]
    assert (await bob.post("/chat/nobody/typing")).code == 404
    assert (await Visitor(http_client, base_url).post("/chat/alice/typing")).code == 401
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=60)
async def test_presence_and_read_markers_are_pushed_live(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "are you there?")
    tabs = await open_tabs(app, {"alice": alice})
    tabs["bob"], pushed = await pushes(tabs, bob.live(), {"alice": 1})
    assert pushed["alice"] == [
        {"content": '<span id="presence-bob" class="presence online" hx-swap-oob="true">online</span>'}]
    page, pushed = await pushes(tabs, bob.get("/chat/alice"), {"alice": 1, "bob": 1})  # bob reads it
    assert 'id="presence-alice" class="presence online"' in page.body.decode()
    (frame,) = pushed["alice"]  # alice's messages up to it are "Seen"
    assert frame["kind"] == "read"
    assert frame["content"] == '<data id="seen-alice_bob" class="seen-up-to" value="1" hidden hx-swap-oob="true"></data>'
    (frame,) = pushed["bob"]  # bob's other tabs drop the unread mark, and his unread total is 0
    assert frame["kind"] == "read" and 'id="conversation-alice"' in frame["content"]
    assert 'class="unread-count"' not in frame["content"]
    assert '<span id="unread-total" class="badge" data-count="0" hx-swap-oob="true">0<' in frame["content"]
    page = (await alice.get("/chat/bob")).body.decode()
    assert 'class="message mine seen"' in page and '<span class="status">Seen</span>' in page
    bob_tab = tabs.pop("bob")

    async def bob_leaves():
        bob_tab.close()

    _, pushed = await pushes(tabs, bob_leaves(), {"alice": 1})
    assert pushed["alice"] == [
        {"content": '<span id="presence-bob" class="presence offline" hx-swap-oob="true">offline</span>'}]
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=60)
async def test_a_new_board_entry_is_an_event_of_its_player(http_server, http_client, base_url, app):
    from parlor.game.ranking import MIN_GAMES
    from tests.helpers import play_games

    (alice,) = await users(app, http_client, base_url, "alice")
    ws = await alice.live()
    await until(lambda: app.hub.has_user("alice"))
    counts = await play_games(alice, MIN_GAMES)  # the last one puts her on the board
    frame = await next_frame(ws)
    while frame.get("kind") != "score":  # the board push to this page may come first
        frame = await next_frame(ws)
    assert f"over {MIN_GAMES} games (best {min(counts)})" in frame["content"]
    assert 'id="my-best-10"' in frame["content"]
    page = (await alice.get("/scores/10")).body.decode()
    assert 'id="my-best-10"' in page and "#1" in page
    ws.close()


@pytest.mark.gen_test(timeout=30)
async def test_guests_get_public_pushes_over_sse(http_server, http_client, base_url, app):
    stream = await Visitor(http_client, base_url).events("?boards=10")
    assert stream.status == 200 and stream.headers["cache-control"] == "no-store"
    await until(lambda: app.hub.connection_count() == 1)
    app.hub.send_topic("board:10", '<ol id="board-10">\n<li>x</li></ol>')
    event = await stream.next_event()
    assert event == {"id": None, "event": None, "data": '<ol id="board-10">\n<li>x</li></ol>'}
    assert (await Visitor(http_client, base_url).get("/events?boards=7")).code == 400
    stream.close()
    await until(lambda: app.hub.connection_count() == 0)


@pytest.mark.gen_test(timeout=30)
async def test_a_client_that_stops_answering_pings_is_closed_and_leaves(http_server, http_client, base_url, app):
    (bob,) = await users(app, http_client, base_url, "bob")
    app.settings.update(websocket_ping_interval=0.3, websocket_ping_timeout=0.3)  # 25 s and 20 s in production
    port = int(base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(handshake(port, bob.cookie_header()))  # a client that never answers a ping
    assert b"101" in await reader.readuntil(b"\r\n\r\n")
    await until(lambda: app.hub.has_user("bob"))
    # Closed after the ping timeout, plus Tornado's 5 s wait for a close reply that never comes
    # (in production: 25 s + 20 s + 5 s, within a minute).
    await until(lambda: not app.hub.has_user("bob"), 8)
    assert await app.hub.online(["bob"]) == set()
    writer.close()


def held_joins(app, monkeypatch) -> asyncio.Event:
    """Make every hub join wait for the returned event, as joins queued behind thousands do."""
    release, join = asyncio.Event(), app.hub.join

    async def slow_join(*args, **kwargs):
        await release.wait()
        return await join(*args, **kwargs)

    monkeypatch.setattr(app.hub, "join", slow_join)
    return release


@pytest.mark.gen_test(timeout=30)
async def test_a_socket_answers_pings_while_its_join_waits(http_server, http_client, base_url, app, monkeypatch):
    (bob,) = await users(app, http_client, base_url, "bob")
    app.settings.update(websocket_ping_interval=0.3, websocket_ping_timeout=0.3)  # 25 s and 20 s in production
    release = held_joins(app, monkeypatch)
    ws = await bob.live()  # Tornado's client answers pings
    await asyncio.sleep(1.5)  # several ping rounds: each pong is read although the join still waits
    assert ws.protocol is not None and ws.close_code is None
    release.set()
    await until(lambda: app.hub.has_user("bob"))
    [event_id] = await app.hub.publish([("bob", "test", "<p>joined late</p>", {})])
    assert (await next_frame(ws))["id"] == event_id
    ws.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_socket_closed_while_joining_leaves_nothing_behind(http_server, http_client, base_url, app,
                                                                    monkeypatch):
    (bob,) = await users(app, http_client, base_url, "bob")
    release = held_joins(app, monkeypatch)
    ws = await bob.live()
    ws.close()
    await asyncio.sleep(0.3)  # the server has seen the close; the join still waits
    release.set()
    await until(lambda: app.hub.connection_count() == 0)
    await asyncio.sleep(0.2)
    assert not app.hub.has_user("bob") and await app.hub.online(["bob"]) == set()
