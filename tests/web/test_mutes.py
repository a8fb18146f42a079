"""Muting a conversation (handlers/moderation.py MuteHandler, parlor/chat/mutes.py) over the real
app: for an hour, a day or until unmuted, as a plain form; a muted peer's messages still arrive
and count as unread in the list, but not in the Chat badge or the title, live in every tab, and
no longer once the mute has ended."""
import re
import time

import pytest

from parlor.chat.mutes import UNTIL_UNMUTED_MS, muted_key
from tests.helpers import close_tabs, open_tabs, pushes, send_message, users


def badge(html: str) -> str:
    """The Chat badge's count in a page or a pushed fragment."""
    return re.search(r'<span id="unread-total" class="badge" data-count="(\d+)"', html).group(1)


def muted_peers(html: str) -> str:
    return re.search(r'<data id="muted-peers" value="([^"]*)"', html).group(1)


@pytest.mark.parametrize("choice,lasts_s", [("hour", 3600), ("day", 86400), ("always", None)])
@pytest.mark.gen_test(timeout=30)
async def test_a_plain_form_mutes_for_an_hour_a_day_or_until_unmuted(http_server, http_client, base_url, app,
                                                                     redis_sync, choice, lasts_s):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    page = (await alice.get("/chat/bob")).body.decode()
    assert "Mute for an hour" in page and "Mute for a day" in page and "Mute until I unmute" in page
    answer = await alice.post("/chat/bob/mute", {"action": "mute", "for": choice})
    assert answer.code == 303 and answer.headers["Location"] == "/chat/bob"
    until = int(redis_sync.zscore(muted_key("alice"), "bob"))
    expected = UNTIL_UNMUTED_MS if lasts_s is None else time.time() * 1000 + lasts_s * 1000
    assert abs(until - expected) < 5000
    page = (await alice.get("/chat/bob")).body.decode()
    assert 'class="muted-mark"' in page and "Unmute bob" in page and muted_peers(page) == f"bob:{until}"
    assert (await alice.post("/chat/bob/mute", {"action": "unmute"})).code == 303
    page = (await alice.get("/chat/bob")).body.decode()
    assert 'class="muted-mark"' not in page and muted_peers(page) == ""


@pytest.mark.parametrize("form,says", [
    ({"action": "mute", "for": "week"}, "an hour, a day, or until you unmute"),
    ({"action": "mute", "for": ""}, "an hour, a day, or until you unmute"),
    ({"action": "silence"}, "action must be mute or unmute"),
])
@pytest.mark.gen_test(timeout=30)
async def test_a_bad_mute_is_refused_and_mutes_nothing(http_server, http_client, base_url, app, redis_sync, form, says):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    answer = await alice.post("/chat/bob/mute", form)
    assert answer.code == 400 and says in answer.body.decode()
    assert redis_sync.zcard(muted_key("alice")) == 0


@pytest.mark.gen_test(timeout=30)
async def test_a_muted_peers_messages_count_in_the_list_but_not_in_the_badge_or_title(
        http_server, http_client, base_url, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(bob, "alice", "before the mute")
    tabs = await open_tabs(app, {"alice": alice})
    _, pushed = await pushes(tabs, alice.post("/chat/bob/mute", {"action": "mute", "for": "day"}), {"alice": 1})
    assert badge(pushed["alice"][0]["content"]) == "0"  # muting takes bob's unread out of the badge at once
    assert muted_peers(pushed["alice"][0]["content"]).startswith("bob:")
    _, pushed = await pushes(tabs, send_message(bob, "alice", "while muted"), {"alice": 1})
    assert "while muted" in pushed["alice"][0]["content"] and badge(pushed["alice"][0]["content"]) == "0"
    _, pushed = await pushes(tabs, send_message(carol, "alice", "from carol"), {"alice": 1})
    assert badge(pushed["alice"][0]["content"]) == "1"  # carol is not muted
    close_tabs(tabs)
    listing = (await alice.get("/chat")).body.decode()
    assert "<title>(1) " in listing and badge(listing) == "1"
    row = re.search(r'<li id="conversation-bob".*?</li>', listing, re.S).group(0)
    assert "2 unread" in row and "muted" in row  # still unread in the list


@pytest.mark.gen_test(timeout=30)
async def test_a_mute_that_ended_counts_again(http_server, http_client, base_url, app, redis_sync):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await alice.post("/chat/bob/mute", {"action": "mute", "for": "hour"})).code == 303
    await send_message(bob, "alice", "one")
    assert "<title>Chat" in (await alice.get("/chat")).body.decode()
    redis_sync.zadd(muted_key("alice"), {"bob": int(time.time() * 1000) - 1})  # the hour is over
    page = (await alice.get("/chat")).body.decode()
    assert "<title>(1) " in page and muted_peers(page) == ""
    tabs = await open_tabs(app, {"alice": alice})
    _, pushed = await pushes(tabs, send_message(bob, "alice", "two"), {"alice": 1})
    assert badge(pushed["alice"][0]["content"]) == "2"
    close_tabs(tabs)
