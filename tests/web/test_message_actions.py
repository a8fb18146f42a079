"""Reply, reactions and edits over HTTP against the real app, Redis and SQLite files: live in
every tab of both people (WebSocket, SSE and long poll, resumed in order), as plain forms without
a script, and checked as a send is (who, blocks, suspensions, rate limits)."""
import asyncio
import io
import re
import json
import os
import sqlite3
import time
import zipfile
from urllib.parse import quote

import pytest

from parlor.chat.message_actions import EDIT_WINDOW_S, MAX_MESSAGE_CHARS, REACTIONS
from parlor.infra.config import Rate
from tests.helpers import (
    admin_visitor, close_tabs, frames_within, multipart, open_tabs, pair_file, pair_rows, pushes, send_message, until,
    users,
)
from tests.web.test_chat import picture
from tests.web.test_suspensions import suspend

HX = {"HX-Request": "true"}


async def reply(visitor, peer, body, reply_to, htmx=False):
    """The send form's POST, answering message `reply_to`."""
    if "_xsrf" not in visitor.cookies:
        await visitor.get("/login")
    data, content_type = multipart({"body": body, "client_id": os.urandom(12).hex(), "reply_to": str(reply_to)})
    headers = {"Content-Type": content_type, **(HX if htmx else {})}
    return await visitor.fetch(f"/chat/{peer}/messages?_xsrf={quote(visitor.cookies['_xsrf'])}", "POST", data, headers)


async def react(visitor, peer, message_id, emoji, htmx=True):
    return await visitor.post(f"/chat/{peer}/messages/{message_id}/reactions", {"emoji": emoji},
                              headers=HX if htmx else None)


async def edit(visitor, peer, message_id, body, htmx=True):
    return await visitor.post(f"/chat/{peer}/messages/{message_id}/edit", {"body": body}, headers=HX if htmx else None)


async def tabs_of(app, visitors: dict) -> dict:
    """A /live socket per tab name, once the pushes of their opening (presence) have passed."""
    tabs = await open_tabs(app, visitors)
    await asyncio.gather(*(frames_within(ws, 0.3) for ws in tabs.values()))
    return tabs


def rows(config, sql):
    return pair_rows(config.data_dir, "alice", "bob", sql)


async def cursor_of(visitor) -> str:
    return json.loads((await visitor.get("/poll?timeout=0")).body)["cursor"]


async def polled(visitor, after) -> list:
    return json.loads((await visitor.get(f"/poll?after={after}&timeout=0")).body)["events"]


@pytest.mark.gen_test(timeout=60)
async def test_a_reply_quotes_its_original_in_every_tab_and_a_deleted_original_says_so(http_server, http_client,
                                                                                        base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "first line\nsecond line")
    tabs = await tabs_of(app, {"alice": alice, "alice 2": alice, "bob": bob})
    sent, pushed = await pushes(tabs, reply(bob, "alice", "an answer", 1, htmx=True), {n: 1 for n in tabs})
    assert sent.code == 200
    for (frame,) in pushed.values():
        assert frame["kind"] == "message"
        assert 'class="quote" href="/chat/alice_bob/messages/1"' in frame["content"]  # the pair: right for both
        assert "first line" in frame["content"] and "second line" not in frame["content"]
    assert rows(config, "SELECT reply_to, body FROM messages WHERE id = 2") == [(2 - 1, "an answer")]
    # Over the page's socket too.
    ws = tabs["bob"]
    await ws.write_message(json.dumps({"to": "alice", "body": "by socket", "client_id": "socket-reply-1",
                                       "reply_to": "2"}))
    await until(lambda: rows(config, "SELECT reply_to FROM messages WHERE id = 3") == [(2,)])
    close_tabs(tabs)
    # The quote leads to the original: htmx gets the message, a plain link the page that ends with it.
    jump = await alice.get("/chat/bob/messages/1")
    assert jump.code == 302 and jump.headers["Location"] == "/chat/bob/messages?before=2#message-alice_bob-1"
    assert "first line" in (await alice.get("/chat/bob/messages?before=2")).body.decode()
    assert (await bob.get("/chat/alice_bob/messages/1", headers=HX)).body.decode().startswith(
        '<article id="message-alice_bob-1"')
    # The copy pushed to both carries no menu: each viewer's is fetched when it opens, and is theirs.
    assert 'hx-get="/chat/alice_bob/messages/2/actions" hx-trigger="toggle once"' in pushed["bob"][0]["content"]
    assert "Delete…" not in pushed["bob"][0]["content"]
    bobs = (await bob.get("/chat/alice_bob/messages/2/actions", headers=HX)).body.decode()
    alices = (await alice.get("/chat/alice_bob/messages/2/actions", headers=HX)).body.decode()
    assert "Delete…" in bobs and "Edit…" in bobs and "Report…" not in bobs and 'name="_xsrf"' in bobs
    assert "Delete…" not in alices and "Edit…" not in alices and 'href="/chat/bob/messages/2/report"' in alices
    assert 'href="/chat/bob/messages/2/reply"' in alices and 'value="👍"' in alices
    # Without a script, Reply is a page whose composer answers the message.
    page = (await bob.get("/chat/alice/messages/1/reply")).body.decode()
    assert 'name="reply_to" value="1"' in page and "first line" in page
    assert (await alice.post("/chat/bob/messages/1/delete")).code == 303
    page = (await bob.get("/chat/alice")).body.decode()
    assert "deleted message" in page and "first line" not in page
    assert rows(config, "SELECT reply_to FROM messages WHERE id = 2") == [(1,)]
    # A reply to a deleted or missing message is refused, and nothing is stored.
    for gone in (1, 99):
        refused = await reply(bob, "alice", "too late", gone)
        assert refused.code == 404 and "no message with that number to reply to" in refused.body.decode()
        assert (await bob.get(f"/chat/alice/messages/{gone}/reply")).code == 404
    assert rows(config, "SELECT COUNT(*) FROM messages") == [(3,)]
    # A script answers through the API, with its token.
    page = (await bob.post("/account/token", {"action": "new", "password": "correct horse"})).body.decode()
    token = re.search(r'id="new-token" class="token" readonly value="([^"]+)"', page).group(1)
    api = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for reply_to, status in ((2, 201), ("3", 201), ("x", 400), (1, 404)):
        answer = await bob.fetch("/api/messages", "POST", json.dumps({"to": "alice", "body": "by script",
                                                                      "reply_to": reply_to}), api)
        assert answer.code == status, answer.body
        if status == 201:
            assert json.loads(answer.body)["message"]["reply_to"] == int(reply_to)


@pytest.mark.gen_test(timeout=60)
async def test_a_reaction_shows_its_count_and_who_and_a_second_tap_takes_it_back_live(http_server, http_client,
                                                                                       base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "react to me")
    cursor = await cursor_of(bob)
    tabs = await tabs_of(app, {"alice": alice, "alice 2": alice, "bob": bob})
    every_tab = {name: 1 for name in tabs}
    answer, pushed = await pushes(tabs, react(bob, "alice", 1, "👍"), every_tab)
    assert answer.code == 200 and 'aria-label="👍 1: bob"' in answer.body.decode()
    assert 'aria-pressed="true"' in answer.body.decode()
    for name, (frame,) in pushed.items():
        assert frame["kind"] == "reacted" and 'id="reactions-alice_bob-1"' in frame["content"]
        assert 'aria-label="👍 1: bob"' in frame["content"]
        assert f'aria-pressed="{"true" if name == "bob" else "false"}"' in frame["content"]  # each sees their own
    _, pushed = await pushes(tabs, react(alice, "bob", 1, "👍"), every_tab)
    assert 'aria-label="👍 2: bob, alice"' in pushed["bob"][0]["content"]
    _, pushed = await pushes(tabs, react(bob, "alice", 1, "👍"), every_tab)  # again: taken back
    assert 'aria-label="👍 1: alice"' in pushed["alice"][0]["content"]
    close_tabs(tabs)
    assert rows(config, "SELECT user, emoji FROM reactions") == [("alice", "👍")]
    # Resumed from a cursor, the long poll gets all three, in order.
    events = await polled(bob, cursor)
    assert [(e["kind"], e["data"]["reactions"]) for e in events] == [
        ("reacted", [{"emoji": "👍", "users": ["bob"]}]), ("reacted", [{"emoji": "👍", "users": ["bob", "alice"]}]),
        ("reacted", [{"emoji": "👍", "users": ["alice"]}])]
    # Every offered emoji works, once per person; without a script, back to the message.
    for emoji in REACTIONS:
        answer = await react(bob, "alice", 1, emoji, htmx=False)
        assert answer.code == 303 and answer.headers["Location"] == "/chat/alice#message-alice_bob-1"
    assert len(rows(config, "SELECT * FROM reactions WHERE user = 'bob'")) == len(REACTIONS)
    page = (await alice.get("/chat/bob")).body.decode()
    assert 'aria-label="👍 2: alice, bob"' in page and 'aria-label="🎉 1: bob"' in page


@pytest.mark.parametrize("emoji", ["", "x", "👍👍", "💩", "<script>", "\u2764", "👍\u200d"])
@pytest.mark.gen_test(timeout=30)
async def test_only_the_offered_emoji_are_taken(http_server, http_client, base_url, config, app, emoji):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "hi")
    answer = await react(bob, "alice", 1, emoji)
    assert answer.code == 400 and "React with one of" in answer.body.decode()
    assert 'id="reactions-alice_bob-1"' in answer.body.decode()  # the reactions stay, with the reason
    assert rows(config, "SELECT COUNT(*) FROM reactions") == [(0,)]


@pytest.mark.gen_test(timeout=60)
async def test_an_edit_replaces_the_text_for_both_live_with_the_list_preview_and_keeps_no_old_text(
        http_server, http_client, base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    secret = "first words " + os.urandom(6).hex()
    await send_message(alice, "bob", secret)
    cursor = await cursor_of(bob)
    stream = await bob.events(last_event_id=cursor)
    tabs = await tabs_of(app, {"alice": alice, "alice 2": alice, "bob": bob})
    answer, pushed = await pushes(tabs, edit(alice, "bob", 1, "better words"), {n: 1 for n in tabs})
    assert answer.code == 200 and answer.body.decode().startswith('<article id="message-alice_bob-1" class="message mine edited')
    for name, (frame,) in pushed.items():
        assert frame["kind"] == "edited"
        assert "better words" in frame["content"] and secret not in frame["content"]
        assert '<span hx-swap-oob="innerHTML:.quoting-alice_bob-1">better words</span>' in frame["content"]
        assert 'class="edited-mark"' in frame["content"]
        assert 'id="conversation-' in frame["content"]  # it is the newest: the list row's preview follows
    close_tabs(tabs)
    sse = await stream.next_event()
    while sse["id"] is None:  # state pushes (presence) carry no id
        sse = await stream.next_event()
    assert "better words" in sse["data"] and 'class="edited-mark"' in sse["data"]
    stream.close()
    (event,) = await polled(bob, cursor)
    assert event["kind"] == "edited" and event["data"]["message"]["body"] == "better words"
    assert "edited_at" in event["data"]["message"]
    assert "better words" in (await bob.get("/chat")).body.decode()
    path = pair_file(config.data_dir, "alice", "bob")
    on_disk = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    assert secret.encode() not in on_disk and b"better words" in on_disk
    # Without a script: a page with the form, then back to the conversation.
    form = (await alice.get("/chat/bob/messages/1/edit")).body.decode()
    assert "<textarea" in form and "better words" in form
    plain = await edit(alice, "bob", 1, "plain words", htmx=False)
    assert plain.code == 303 and plain.headers["Location"] == "/chat/bob#message-alice_bob-1"
    assert rows(config, "SELECT body FROM messages") == [("plain words",)]


@pytest.mark.gen_test(timeout=60)
async def test_nobody_edits_anothers_message_and_an_edit_is_checked_as_a_send(http_server, http_client, base_url,
                                                                            config, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(alice, "bob", "alice wrote this")
    await send_message(alice, "bob", "", image=("p.png", "image/png", picture()))
    for visitor, peer in ((bob, "alice"), (carol, "alice"), (carol, "bob"), (bob, "alice_bob")):
        for htmx in (False, True):
            forged = await edit(visitor, peer, 1, "forged")
            assert forged.code == 404, (peer, forged.code)
    assert (await bob.get("/chat/alice/messages/1/edit")).code == 404
    assert (await alice.post("/chat/bob/messages/1/edit", {"body": "no token"}, xsrf=False)).code == 403
    for body, status, words in (("", 400, "Write a message"), ("   ", 400, "Write a message"),
                                ("x" * (MAX_MESSAGE_CHARS + 1), 400, f"at most {MAX_MESSAGE_CHARS} characters")):
        refused = await edit(alice, "bob", 1, body)
        assert refused.code == status and words in refused.body.decode()
        assert '<textarea' in refused.body.decode()  # the form again, with the reason
    refused = await edit(alice, "bob", 2, "a caption")
    assert refused.code == 400 and "Only a text message" in refused.body.decode()
    assert (await edit(alice, "bob", 99, "nothing there")).code == 404
    old = int((time.time() - EDIT_WINDOW_S - 60) * 1000)
    with sqlite3.connect(pair_file(config.data_dir, "alice", "bob")) as db:
        db.execute("UPDATE messages SET sent_at = ? WHERE id = 1", (old,))
    refused = await edit(alice, "bob", 1, "too late")
    assert refused.code == 403 and "24 hours" in refused.body.decode()
    assert "Edit…" not in (await alice.get("/chat/bob/messages/1", headers=HX)).body.decode()  # not offered either
    assert rows(config, "SELECT body, edited_at FROM messages WHERE id = 1") == [("alice wrote this", None)]


@pytest.mark.gen_test(timeout=60)
async def test_blocks_and_suspensions_stop_reactions_and_edits_as_they_stop_sends(http_server, http_client,
                                                                                 base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "before the block")
    assert (await bob.post("/blocks", {"peer": "alice", "action": "block"})).code == 303
    for answer in (await react(alice, "bob", 1, "👍"), await edit(alice, "bob", 1, "after the block")):
        assert answer.code == 403 and "could not be delivered" in answer.body.decode()
    blocker = await react(bob, "alice", 1, "👍")
    assert blocker.code == 403 and "You blocked alice" in blocker.body.decode()
    assert (await bob.post("/blocks", {"peer": "alice", "action": "unblock"})).code == 303
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "bob")).code == 200
    for answer in (await react(alice, "bob", 1, "👍"), await edit(alice, "bob", 1, "to a suspended peer")):
        assert answer.code == 403 and "bob is suspended" in answer.body.decode()
    assert rows(config, "SELECT body, edited_at FROM messages") == [("before the block", None)]
    assert rows(config, "SELECT COUNT(*) FROM reactions") == [(0,)]


@pytest.mark.config(message_limit=Rate(3, 60))
@pytest.mark.gen_test(timeout=60)
async def test_reactions_and_edits_count_against_the_message_limit(http_server, http_client, base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await send_message(alice, "bob", "one")).code == 303
    assert (await react(alice, "bob", 1, "👍")).code == 200
    assert (await edit(alice, "bob", 1, "two")).code == 200
    refused = await reply(alice, "bob", "a reply over the limit", 1)  # the page still answers message 1
    assert refused.code == 429 and 'name="reply_to" value="1"' in refused.body.decode()
    assert "a reply over the limit" in refused.body.decode()
    for over in (await react(alice, "bob", 1, "🎉"), await edit(alice, "bob", 1, "three")):
        assert over.code == 429 and "too fast" in over.body.decode() and int(over.headers["Retry-After"]) >= 1
    assert rows(config, "SELECT body FROM messages") == [("two",)]
    assert rows(config, "SELECT emoji FROM reactions") == [("👍",)]


@pytest.mark.gen_test(timeout=60)
async def test_the_data_download_has_replies_reactions_and_edits_and_leaving_takes_ones_reactions(
        http_server, http_client, base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "question")
    await reply(bob, "alice", "answer", 1)
    await react(bob, "alice", 1, "❤️")
    await react(alice, "bob", 2, "🎉")
    await edit(alice, "bob", 1, "a better question")
    archive = zipfile.ZipFile(io.BytesIO((await alice.get("/account/data")).body))
    messages = json.loads(archive.read("conversations/bob.json"))["messages"]
    assert messages[0]["body"] == "a better question" and "edited_at" in messages[0]
    assert messages[0]["reactions"] == [{"emoji": "❤️", "users": ["bob"]}]
    assert messages[1]["reply_to"] == 1 and messages[1]["reactions"] == [{"emoji": "🎉", "users": ["alice"]}]
    # The tutorial's history keeps its shape: the same fields as before, none added.
    history = json.loads((await alice.post("/get_message_history", {"user_one": "alice", "user_two": "bob"})).body)
    assert [sorted(m) for m in history["history"]] == [["author", "id", "kind", "message", "sent_at"]] * 2
    assert (await bob.post("/account/delete", {"password": "correct horse"})).code == 303
    files = list((config.data_dir / "conversations").glob("*.db"))
    assert len(files) == 1  # alice's conversation with the deleted user

    with sqlite3.connect(files[0]) as db:
        assert db.execute("SELECT user, emoji FROM reactions").fetchall() == [("alice", "🎉")]
