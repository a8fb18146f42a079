"""Suspensions through /admin: the account's sessions, API token and live connections end at once on
every process (two apps on one Redis, as two processes); it cannot log in, and the login page says
until when and why; its board entries are hidden; its peers see it suspended and cannot write to it;
lifting it (by an admin, or when its time is up) restores all of that."""
import asyncio
import json
import re
import time

import pytest

from parlor.accounts.suspensions import suspension_key
from parlor.game.ranking import MIN_GAMES
from tests.helpers import Visitor, admin_visitor, next_frame, play_games, send_message, users
from tests.web.test_signing_out import PROMPTLY_S, Feeds, other_process, token_for  # noqa: F401 (a fixture)

REASON = "Spamming the chat after two warnings."


async def suspend(admin: Visitor, name: str, length: str = "3600", reason: str = REASON):
    return await admin.post(f"/admin/users/{name}/suspension", {"action": "suspend", "length": length,
                                                                 "reason": reason})


def names_on(body: bytes) -> set[str]:
    return {entry["name"] for entry in json.loads(body)["entries"]}


@pytest.mark.gen_test(timeout=60)
async def test_a_suspension_ends_every_session_token_and_live_connection_on_every_process(
        http_server, http_client, base_url, app, other_process):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    token = await token_for(alice)
    phone = Visitor(http_client, base_url)
    assert (await phone.log_in("alice")).code == 303
    elsewhere = Visitor(http_client, other_process)
    elsewhere.cookies = dict(phone.cookies)
    assert (await elsewhere.get("/account")).code == 200  # the other process remembers that session now
    by_cookie = await Feeds.open(http_client, other_process, cookies=alice.cookies)
    by_token = await Feeds.open(http_client, other_process, token=token)
    admin = await admin_visitor(app, http_client, base_url)

    answer = await suspend(admin, "alice")
    assert answer.code == 200 and "alice is suspended until" in answer.body.decode()
    await by_cookie.assert_ended(PROMPTLY_S)
    await by_token.assert_ended(PROMPTLY_S)
    by_cookie.stream.close()
    by_token.stream.close()
    for visitor in (alice, phone, elsewhere):  # every session, on either process
        assert (await visitor.get("/account")).headers["Location"].startswith("/login")
    assert (await Visitor(http_client, base_url).get(f"/poll?timeout=0&token={token}")).code == 401
    sent = await send_message(bob, "alice", "are you there?")
    assert sent.code == 403 and "alice is suspended" in sent.body.decode()


@pytest.mark.gen_test(timeout=60)
async def test_a_suspended_socket_closes_and_sends_nothing_more(http_server, http_client, base_url, app, redis_sync):
    """A page sends its text over its socket (hx-ws:send): after the suspension that socket is
    closed (1008, signed out), so nothing more is sent on it."""
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    socket = await alice.live()
    await asyncio.sleep(0.2)
    socket.write_message(json.dumps({"to": "bob", "body": "before", "client_id": "client-id-before"}))
    assert "before" in (await next_frame(socket))["content"]
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "alice")).code == 200
    while await next_frame(socket) is not None:
        pass
    assert socket.close_code == 1008 and socket.close_reason == "signed out"
    with pytest.raises(Exception):
        await socket.write_message(json.dumps({"to": "bob", "body": "sent when suspended",
                                               "client_id": "client-id-after"}))
    conversation = (await bob.get("/chat/alice")).body.decode()
    assert "before" in conversation and "sent when suspended" not in conversation


@pytest.mark.gen_test(timeout=60)
async def test_a_suspended_account_cannot_log_in_and_is_told_until_when_and_why(
        http_server, http_client, base_url, app):
    await users(app, http_client, base_url, "alice")
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "alice", length="86400")).code == 200
    answer = await Visitor(http_client, base_url).log_in("alice")
    page = answer.body.decode()
    assert answer.code == 403 and "parlor_session" not in answer.headers.get("Set-Cookie", "")
    assert re.search(r"This account is suspended until \d+ \w+ \d{4} \d\d:\d\d UTC", page)
    assert REASON in page
    # Only someone who knows the password learns of it.
    wrong = await Visitor(http_client, base_url).log_in("alice", "not the password")
    assert wrong.code == 400 and "suspended" not in wrong.body.decode()
    assert (await admin.post("/admin/users/alice/suspension", {"action": "lift"})).code == 200
    assert (await Visitor(http_client, base_url).log_in("alice")).code == 303


@pytest.mark.gen_test(timeout=90)
async def test_board_entries_hide_while_suspended_and_come_back_when_lifted(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await play_games(alice, MIN_GAMES)
    await play_games(bob, MIN_GAMES)
    before = await bob.get("/scores/10.json")
    assert names_on(before.body) == {"alice", "bob"}
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "alice")).code == 200
    hidden = await bob.get("/scores/10.json")
    assert names_on(hidden.body) == {"bob"} and hidden.headers["ETag"] != before.headers["ETag"]
    assert 'data-name="alice"' not in (await bob.get("/scores/10/fragment")).body.decode()
    assert (await admin.post("/admin/users/alice/suspension", {"action": "lift", "reason": "apologised"})).code == 200
    shown = await bob.get("/scores/10.json")
    assert names_on(shown.body) == {"alice", "bob"}
    assert json.loads(shown.body)["entries"] == json.loads(before.body)["entries"]  # as it was: the games were kept


@pytest.mark.gen_test(timeout=90)
async def test_a_suspension_hides_the_entries_at_once_before_any_notice(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await play_games(alice, MIN_GAMES)
    assert 'data-name="alice"' in (await bob.get("/scores/10/fragment")).body.decode()  # cached now
    await app.listener.stop()  # the board's notice is late: only the cache's own check can tell
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "alice")).code == 200
    assert 'data-name="alice"' not in (await bob.get("/scores/10/fragment")).body.decode()


@pytest.mark.gen_test(timeout=60)
async def test_peers_see_a_suspended_account_as_suspended_and_history_stays(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "a message before")
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "alice")).code == 200
    conversation = (await bob.get("/chat/alice")).body.decode()
    assert '<span class="suspended">suspended</span>' in conversation and "a message before" in conversation
    assert "alice is suspended: nothing can be sent to them" in conversation and 'id="send-form"' not in conversation
    assert '<span class="suspended">suspended</span>' in (await bob.get("/chat")).body.decode()
    assert (await admin.post("/admin/users/alice/suspension", {"action": "lift"})).code == 200
    assert "suspended" not in (await bob.get("/chat/alice")).body.decode()
    assert (await send_message(bob, "alice", "welcome back")).code == 303


@pytest.mark.gen_test(timeout=60)
async def test_a_suspension_whose_time_is_up_is_lifted_by_the_sweep(http_server, http_client, base_url, app, redis_sync):
    await users(app, http_client, base_url, "alice")
    admin = await admin_visitor(app, http_client, base_url)
    assert (await suspend(admin, "alice", length="3600")).code == 200
    past = int(time.time() * 1000) - 1000  # an hour later
    redis_sync.hset(suspension_key("alice"), "until_ms", past)
    redis_sync.zadd("suspended", {"alice": past})
    assert (await Visitor(http_client, base_url).log_in("alice")).code == 303  # over, before any sweep
    await app.sweep()
    assert not redis_sync.exists(suspension_key("alice")) and redis_sync.zscore("suspended", "alice") is None
    log = (await admin.get("/admin/log")).body.decode()
    assert "(expiry)" in log and "ended the suspension of" in log


@pytest.mark.parametrize("length,reason,words", [
    ("12", REASON, "Choose how long"), ("", REASON, "Choose how long"), ("3600", "   ", "Give a reason"),
    ("3600", "x" * 501, "at most 500"),
])
@pytest.mark.gen_test(timeout=30)
async def test_a_suspension_needs_a_length_from_the_list_and_a_reason(
        http_server, http_client, base_url, app, redis_sync, length, reason, words):
    await users(app, http_client, base_url, "alice")
    admin = await admin_visitor(app, http_client, base_url)
    answer = await suspend(admin, "alice", length, reason)
    assert answer.code == 400 and words in answer.body.decode()
    assert not redis_sync.exists(suspension_key("alice"))


@pytest.mark.gen_test(timeout=30)
async def test_an_admin_cannot_be_suspended_nor_suspend_themself(http_server, http_client, base_url, app):
    admin = await admin_visitor(app, http_client, base_url)
    await admin_visitor(app, http_client, base_url, name="other-admin")
    answer = await suspend(admin, "other-admin")
    assert answer.code == 409 and "parlor admin revoke other-admin" in answer.body.decode()
    assert (await suspend(admin, "boss")).code == 400
