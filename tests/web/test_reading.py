"""Read state: a page says how far it has shown a conversation (a POST, or a frame on its
socket); the read marker moves there and never back, the peer sees "Seen" up to there, and the
reader's unread counts follow in every tab, kept in Redis so that any page shows the total."""
import json

import pytest

from tests.helpers import close_tabs, frames_within, open_tabs, pushes, users


async def three_from_alice(app) -> None:
    for n in (1, 2, 3):
        await app.chat.send("alice", "bob", f"number {n}", None)


async def quiet_tabs(app, visitors: dict) -> dict:
    """Tabs open, the presence pushes of their opening read."""
    tabs = await open_tabs(app, visitors)
    for ws in tabs.values():
        await frames_within(ws, 0.3)
    return tabs


def badge(frame: dict) -> str:
    """The unread total a frame swaps into the Chat link."""
    content = frame["content"]
    start = content.index('<span id="unread-total"')
    return content[start:content.index("</span></span>", start) + 14]


@pytest.mark.gen_test(timeout=60)
async def test_reading_up_to_a_message_moves_the_marker_and_every_count_follows(http_server, http_client, base_url,
                                                                                 app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await three_from_alice(app)
    assert redis_sync.hgetall("unread:bob") == {"alice": "3"}
    assert "<title>(3) " in (await bob.get("/scores")).body.decode()
    tabs = await quiet_tabs(app, {"alice": alice, "bob": bob, "bob 2": bob})

    read = bob.post("/chat/alice/read", {"up_to": "2"}, headers={"HX-Request": "true"})
    response, pushed = await pushes(tabs, read, {"alice": 1, "bob": 1, "bob 2": 1})
    assert response.code == 204
    assert 'class="seen-up-to" value="2"' in pushed["alice"][0]["content"]  # alice's messages up to 2: "Seen"
    for name in ("bob", "bob 2"):
        (frame,) = pushed[name]
        assert frame["kind"] == "read" and '<span class="unread-count">1 unread</span>' in frame["content"]
        assert badge(frame) == '<span id="unread-total" class="badge" data-count="1" hx-swap-oob="true">1<span class="sr"> unread</span></span>'
    assert redis_sync.hgetall("unread:bob") == {"alice": "1"}
    assert "<title>(1) " in (await bob.get("/scores")).body.decode()

    # Behind the marker, or at it: nothing moves, nobody is told.
    for up_to in ("1", "2"):
        assert (await bob.post("/chat/alice/read", {"up_to": up_to}, headers={"HX-Request": "true"})).code == 204
    _, _ = await pushes(tabs, bob.get("/chat/bob-is-not-here"), {})

    # The page's socket says the same with a frame of its read form: past the newest is the newest.
    socket = tabs["bob"]
    _, pushed = await pushes(tabs, socket.write_message(json.dumps({"to": "alice", "up_to": "99", "_xsrf": "x"})),
                             {"alice": 1, "bob": 1, "bob 2": 1})
    assert 'value="3"' in pushed["alice"][0]["content"] and 'data-count="0"' in badge(pushed["bob 2"][0])
    assert redis_sync.hgetall("unread:bob") == {}
    assert "<title>(" not in (await bob.get("/scores")).body.decode()
    close_tabs(tabs)


@pytest.mark.parametrize("up_to", ["", "0", "-1", "x", "1e3", "99999999999999999999999"])
@pytest.mark.gen_test(timeout=30)
async def test_a_read_needs_a_message_number(http_server, http_client, base_url, app, up_to):
    _, bob = await users(app, http_client, base_url, "alice", "bob")
    await three_from_alice(app)
    response = await bob.post("/chat/alice/read", {"up_to": up_to})
    assert response.code == 400 and "up_to must be a message number" in response.body.decode()
    assert (await bob.post("/chat/nobody/read", {"up_to": "1"})).code == 404


@pytest.mark.gen_test(timeout=30)
async def test_without_javascript_a_read_form_goes_back_to_the_conversation(http_server, http_client, base_url, app,
                                                                           redis_sync):
    _, bob = await users(app, http_client, base_url, "alice", "bob")
    await three_from_alice(app)
    response = await bob.post("/chat/alice/read", {"up_to": "1"})
    assert response.code == 303 and response.headers["Location"] == "/chat/alice"
    assert redis_sync.hgetall("unread:bob") == {"alice": "2"}


@pytest.mark.gen_test(timeout=60)
async def test_sending_counts_for_both_and_a_page_shows_where_the_unread_begin(http_server, http_client, base_url,
                                                                              app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await three_from_alice(app)
    await app.chat.mark_read("bob", "alice", 1)
    await app.chat.send("bob", "alice", "a reply, two still unread", None)
    # The author's own count is what it is (their reply reads nothing), the reader's grows.
    assert redis_sync.hgetall("unread:bob") == {"alice": "2"} and redis_sync.hgetall("unread:alice") == {"bob": "1"}
    opened = await app.chat.latest("bob", "alice")
    assert (opened.read_before, opened.peer_read) == (1, 0)
    page = (await bob.get("/chat/alice")).body.decode()
    assert 'data-read-before="1"' in page  # the "New messages" line goes after message 1
    assert "<title>(" not in page and redis_sync.hgetall("unread:bob") == {}
    page = (await alice.get("/chat/bob")).body.decode()
    assert page.count('<span class="status">Seen</span>') == 3  # bob read up to his reply, after all three


@pytest.mark.gen_test(timeout=60)
async def test_a_block_takes_its_unread_out_of_the_total_and_an_unblock_brings_them_back(
        http_server, http_client, base_url, app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await three_from_alice(app)
    tabs = await quiet_tabs(app, {"bob": bob})
    _, pushed = await pushes(tabs, bob.post("/blocks", {"peer": "alice", "action": "block"}), {"bob": 1})
    assert 'data-count="0"' in badge(pushed["bob"][0]) and redis_sync.hgetall("unread:bob") == {}
    _, pushed = await pushes(tabs, bob.post("/blocks", {"peer": "alice", "action": "unblock"}), {"bob": 1})
    assert 'data-count="3"' in badge(pushed["bob"][0]) and redis_sync.hgetall("unread:bob") == {"alice": "3"}
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=60)
async def test_unread_counts_go_with_an_account_that_leaves_and_stay_with_its_peers(
        http_server, http_client, base_url, app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await three_from_alice(app)
    await app.chat.send("bob", "alice", "one for alice", None)
    await app.leaving.leave("alice", "correct horse", "127.0.0.1")
    assert not redis_sync.exists("unread:alice")
    (ghost, count), = redis_sync.hgetall("unread:bob").items()
    assert ghost.startswith("deleted-") and count == "3"  # the conversation stays, and so do its unread
    assert "<title>(3) " in (await bob.get("/chat")).body.decode()
