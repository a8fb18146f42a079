"""A crash between a message's commit and its publication: the message is in the pair's file but
no event carries it. Its resend (same client_id), or the pair's next message, publishes it then,
and a message is never published twice."""
import json

import pytest

from tests.helpers import send_message, users


async def crashed_send(app, sender: str, peer: str, body: str, client_id: str):
    """What a send does before the process dies: the commit, and nothing after it."""
    async with app.chat.logs.conversation(sender, peer, create=True) as conversation:
        message, created, _ = await conversation.add(sender, body, client_id, None)
    assert created
    return message


async def bodies(visitor) -> list[str]:
    """The message bodies of every event the visitor has, in order."""
    answer = json.loads((await visitor.get("/poll?after=0&timeout=0")).body)
    return [e["data"]["message"]["body"] for e in answer["events"] if e["kind"] == "message"]


@pytest.mark.gen_test(timeout=30)
async def test_a_resend_publishes_a_message_a_crash_left_unpublished(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await send_message(alice, "bob", "before the crash")).code == 303
    await crashed_send(app, "alice", "bob", "lost in the crash", "resent-client-id-1")
    assert await bodies(bob) == ["before the crash"]  # stored, but no event
    # The sender saw no answer, so the form is sent again: stored once, and published now.
    assert (await send_message(alice, "bob", "lost in the crash", client_id="resent-client-id-1")).code == 303
    assert await bodies(bob) == ["before the crash", "lost in the crash"]
    assert (await send_message(alice, "bob", "lost in the crash", client_id="resent-client-id-1")).code == 303
    assert await bodies(bob) == await bodies(alice) == ["before the crash", "lost in the crash"]  # once


@pytest.mark.gen_test(timeout=30)
async def test_the_next_message_publishes_the_ones_a_crash_left_before_it(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await send_message(bob, "alice", "first")).code == 303
    await crashed_send(app, "alice", "bob", "second, never answered", "crashed-client-id-1")
    await crashed_send(app, "bob", "alice", "third, never answered", "crashed-client-id-2")
    assert (await send_message(alice, "bob", "fourth")).code == 303
    expected = ["first", "second, never answered", "third, never answered", "fourth"]
    assert await bodies(bob) == await bodies(alice) == expected  # in the file's order


@pytest.mark.gen_test(timeout=30)
async def test_a_guarded_publish_appends_once(http_server, http_client, base_url, app, redis_sync):
    await users(app, http_client, base_url, "alice")
    event = [("alice", "test", "<p>x</p>", {})]
    assert len(await app.hub.publish(event, guard=("published:test", 5))) == 1
    assert await app.hub.publish(event, guard=("published:test", 5)) == []  # a second process, a retry
    assert await app.hub.publish(event, guard=("published:test", 4)) == []  # older than the marker
    assert len(await app.hub.publish(event, guard=("published:test", 6))) == 1
    assert redis_sync.xlen("events:alice") == 2 and redis_sync.get("published:test") == "6"


@pytest.mark.gen_test(timeout=30)
async def test_even_a_pairs_first_message_is_published_by_its_resend(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await app.chat._mark_new_pair("alice", "bob")  # as a send does before its commit
    await crashed_send(app, "alice", "bob", "the very first", "first-client-id-1")
    assert await bodies(bob) == []
    assert (await send_message(alice, "bob", "the very first", client_id="first-client-id-1")).code == 303
    assert await bodies(bob) == ["the very first"]
