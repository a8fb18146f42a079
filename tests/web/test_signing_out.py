"""Every way a session or an API token ends also ends its live connections (the WebSocket closed
with 1008, the event stream ended, the long poll answered), on every process: here two apps
share one Redis, each with its own hub and subscription, as two processes do."""
import asyncio
import json
import re
import time

import pytest
import tornado.web

from parlor.accounts.sessions import SESSION_CACHE_S
from parlor.live.hub import SESSION_CHECK_EVERY_S
from tests.helpers import Visitor, next_frame, send_message, users
from tests.sse import SseClient

PROMPTLY_S = 3.0  # a notice travels through Redis pub/sub: well under this


@pytest.fixture
def other_process(second_app):
    """A second app on the same Redis and data dir, served on its own port: its base URL."""
    return second_app[1]


def session_id(app, visitor) -> str:
    return tornado.web.decode_signed_value(app.settings["cookie_secret"], "parlor_session",
                                           visitor.cookies["parlor_session"]).decode()


class Feeds:
    """A WebSocket, an event stream and a long poll, opened on a process with these credentials."""

    @classmethod
    async def open(cls, http_client, base_url: str, cookies: dict | None = None, token: str | None = None):
        feeds = cls()
        visitor = Visitor(http_client, base_url)
        visitor.cookies = dict(cookies or {})
        query = f"?token={token}" if token else ""
        feeds.ws = None if token else await visitor.live()  # the socket takes no token
        feeds.stream = await SseClient.open(base_url, "/events" + query, {"Cookie": visitor.cookie_header()})
        assert feeds.stream.status == 200
        separator = "&" if token else "?"
        feeds.poll = asyncio.ensure_future(visitor.get(f"/poll{query}{separator}timeout=20"))
        await asyncio.sleep(0.3)  # all three joined their hub
        assert not feeds.poll.done()
        return feeds

    async def assert_ended(self, within: float) -> None:
        started = time.monotonic()
        if self.ws is not None:
            while (frame := await next_frame(self.ws, within)) is not None:
                assert "message" not in frame.get("kind", ""), frame  # nothing private comes first
            assert self.ws.close_code == 1008
        rest = await asyncio.wait_for(self.stream.body(), within)
        assert "\nid:" not in rest  # the stream ended without an event
        answer = await asyncio.wait_for(self.poll, within)
        assert answer.code == 200 and json.loads(answer.body)["events"] == []
        assert time.monotonic() - started < within


async def log_out(app, alice, alice_password):
    assert (await alice.post("/logout")).code == 303


async def log_in_again(app, alice, alice_password):
    assert (await alice.log_in("alice")).code == 303  # the same browser: a new session replaces the old


async def log_in_as_someone_else(app, alice, alice_password):
    assert (await alice.log_in("bob")).code == 303


async def change_password_elsewhere(app, alice, alice_password):
    other = Visitor(alice.http, alice.base_url)
    assert (await other.log_in("alice")).code == 303
    changed = await other.post("/account/password", {"current": "correct horse", "new": "battery staple"})
    assert changed.code == 200


async def delete_the_account(app, alice, alice_password):
    assert (await alice.post("/account/delete", {"password": "correct horse"})).code == 303


async def end_every_session(app, alice, alice_password):
    assert await app.sessions.end_all("alice")


async def expire(app, alice, alice_password):
    await app.redis.pexpire(f"session:{session_id(app, alice)}", 1)


@pytest.mark.parametrize("end,within", [
    (log_out, PROMPTLY_S), (log_in_again, PROMPTLY_S), (log_in_as_someone_else, PROMPTLY_S),
    (change_password_elsewhere, PROMPTLY_S), (delete_the_account, PROMPTLY_S), (end_every_session, PROMPTLY_S),
    # No notice tells of expiry: each process asks Redis about its connections' sessions.
    (expire, SESSION_CHECK_EVERY_S + PROMPTLY_S),
], ids=lambda value: getattr(value, "__name__", None))
@pytest.mark.gen_test(timeout=60)
async def test_a_session_that_ends_ends_its_live_connections_on_every_process(
        http_server, http_client, base_url, app, other_process, end, within):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    feeds = await Feeds.open(http_client, other_process, cookies=alice.cookies)
    await end(app, alice, "correct horse")
    if end is not expire:
        await send_message(bob, "alice", "after the end")  # must not reach the ended session's pages
    await feeds.assert_ended(within)
    feeds.stream.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_session_that_ends_leaves_the_other_sessions_connections_open(
        http_server, http_client, base_url, app, other_process):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    phone = Visitor(http_client, base_url)
    assert (await phone.log_in("alice")).code == 303
    stays = await Feeds.open(http_client, other_process, cookies=phone.cookies)
    ends = await Feeds.open(http_client, other_process, cookies=alice.cookies)
    assert (await alice.post("/logout")).code == 303
    await ends.assert_ended(PROMPTLY_S)
    await send_message(bob, "alice", "still here")
    frame = await next_frame(stays.ws, 5)
    assert "still here" in frame["content"]
    assert "still here" in (await stays.stream.next_event(5))["data"]
    assert "still here" in json.loads((await asyncio.wait_for(stays.poll, 5)).body)["events"][0]["html"]
    stays.ws.close()
    stays.stream.close()
    ends.stream.close()


async def token_for(visitor) -> str:
    response = await visitor.post("/account/token", {"action": "new", "password": "correct horse"})
    return re.search(r'id="new-token" class="token" readonly value="([^"]+)"', response.body.decode()).group(1)


@pytest.mark.parametrize("end", ["revoke", "replace", "change the password"])
@pytest.mark.gen_test(timeout=60)
async def test_an_api_token_that_ends_ends_its_live_connections_on_every_process(
        http_server, http_client, base_url, app, other_process, end):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    token = await token_for(alice)
    feeds = await Feeds.open(http_client, other_process, token=token)
    if end == "revoke":
        assert (await alice.post("/account/token", {"action": "revoke"})).code == 200
    elif end == "replace":
        await token_for(alice)
    else:
        changed = await alice.post("/account/password", {"current": "correct horse", "new": "battery staple"})
        assert changed.code == 200
    await send_message(bob, "alice", "after the end")
    await feeds.assert_ended(PROMPTLY_S)
    feeds.stream.close()


@pytest.mark.parametrize("end", [log_out, log_in_again, log_in_as_someone_else, change_password_elsewhere,
                                 delete_the_account, end_every_session], ids=lambda value: value.__name__)
@pytest.mark.gen_test(timeout=60)
async def test_a_session_that_ends_is_signed_out_at_once_on_a_process_that_remembers_it(
        http_server, http_client, base_url, app, other_process, end):
    """Each process remembers a session's data for a few seconds (a page needs no Redis read);
    the sign-out notice makes it forget at once, well before that memory lapses."""
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    elsewhere = Visitor(http_client, other_process)
    elsewhere.cookies = dict(alice.cookies)
    assert (await elsewhere.get("/account")).code == 200  # remembered there now
    await end(app, alice, "correct horse")
    started = time.monotonic()
    while (await elsewhere.get("/account")).code == 200:
        await asyncio.sleep(0.02)
    assert time.monotonic() - started < min(PROMPTLY_S, SESSION_CACHE_S / 2)
    assert (await elsewhere.get("/account")).headers["Location"].startswith("/login")
