"""Blocking, through HTTP and real WebSockets against the real app, Redis and SQLite files."""
import json
import re

import pytest

from tests.helpers import (
    QUIET_S,
    chat_dir,
    close_tabs,
    frames_within,
    open_tabs,
    pair_messages,
    pushes,
    send_message,
    until,
    users,
)


async def block(visitor, peer, action="block", next_path=None):
    fields = {"peer": peer, "action": action, **({"next": next_path} if next_path else {})}
    return await visitor.post("/blocks", fields)


@pytest.fixture
def bob_blocked_alice(http_server, http_client, base_url, io_loop, app):
    """alice wrote "hello bob", then bob blocked her: alice, bob and the answer to his block form."""
    async def set_up():
        alice, bob = await users(app, http_client, base_url, "alice", "bob")
        await send_message(alice, "bob", "hello bob")
        return alice, bob, await block(bob, "alice")
    return io_loop.run_sync(set_up)


@pytest.mark.gen_test(timeout=60)
async def test_blocking_someone_goes_back_to_a_list_without_them(bob_blocked_alice):
    _, bob, response = bob_blocked_alice
    assert response.code == 303 and response.headers["Location"] == "/chat"
    assert 'id="conversation-alice"' not in (await bob.get("/chat")).body.decode()  # hidden from his list


@pytest.mark.gen_test(timeout=60)
async def test_a_blocked_sender_is_refused_without_being_told_and_nothing_is_stored(bob_blocked_alice, config, app):
    alice, _, _ = bob_blocked_alice
    token = await app.accounts.new_api_token("alice")
    page = await send_message(alice, "bob", "are you ignoring me?")
    fragment = await send_message(alice, "bob", "are you ignoring me?", htmx=True)
    api = await alice.fetch("/api/messages", "POST", json.dumps({"to": "bob", "body": "are you ignoring me?"}),
                            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    for refused in (page, fragment, api):
        body = refused.body.decode().lower()
        assert refused.code == 403 and "could not be delivered" in body
        assert "blocked" not in body
    # The form shown again (and the API's answer) says nothing of blocks at all; the whole page
    # has her own "Block bob" button, as before.
    assert "block" not in fragment.body.decode().lower() and "block" not in api.body.decode().lower()
    assert pair_messages(config.data_dir, "alice", "bob", "body") == [("hello bob",)]


@pytest.mark.gen_test(timeout=60)
async def test_the_blocker_cannot_write_either_and_is_offered_to_unblock(bob_blocked_alice):
    # Bob cannot write to her either while he blocks her; his page says why, and offers to unblock.
    _, bob, _ = bob_blocked_alice
    page = (await bob.get("/chat/alice")).body.decode()
    assert "You blocked alice" in page and "Unblock alice" in page and 'id="send-form"' not in page
    assert "You blocked alice" in (await send_message(bob, "alice", "one last word")).body.decode()
    account = (await bob.get("/account")).body.decode()
    assert 'id="blocked-alice"' in account and "Unblock alice" in account


@pytest.mark.gen_test(timeout=60)
async def test_unblocking_lets_the_messages_through_again(bob_blocked_alice, config):
    alice, bob, _ = bob_blocked_alice
    response = await block(bob, "alice", "unblock", "/account")
    assert response.code == 303 and response.headers["Location"] == "/account"
    assert "You have blocked no one" in (await bob.get("/account")).body.decode()
    assert (await send_message(alice, "bob", "hi again")).code == 303
    assert 'id="conversation-alice"' in (await bob.get("/chat")).body.decode()
    assert pair_messages(config.data_dir, "alice", "bob", "body") == [("hello bob",), ("hi again",)]


@pytest.mark.gen_test(timeout=60)
async def test_a_blocked_peer_gets_neither_presence_nor_typing_from_the_blocker(
        http_server, http_client, base_url, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(alice, "bob", "hi bob")
    await send_message(carol, "bob", "hi bob")
    assert (await block(bob, "alice")).code == 303
    tabs = await open_tabs(app, {"alice": alice, "carol": carol})
    await until(lambda: app.hub.has_user("alice") and app.hub.has_user("carol"))
    # carol, whom bob did not block, sees him come online and type; alice sees neither.
    tabs["bob"], pushed = await pushes(tabs, bob.live(), {"carol": 1})
    assert pushed["carol"] == [
        {"content": '<span id="presence-bob" class="presence online" hx-swap-oob="true">online</span>'}]
    # Notices are handled in order: with bob's handled (carol saw it), so were alice's and carol's
    # coming online. On a busy machine theirs may be handled after bob's tab joined; such a push is
    # on its way to his tab by now, and is no push of the actions below.
    late = await frames_within(tabs["bob"], QUIET_S)
    assert all(re.fullmatch(r'<span id="presence-(alice|carol)" class="presence online" hx-swap-oob="true">'
                            r"online</span>", frame["content"]) for frame in late), late
    typing, pushed = await pushes(tabs, bob.post("/chat/carol/typing"), {"carol": 1})
    assert typing.code == 204 and "bob is typing" in pushed["carol"][0]["content"]
    typing, _ = await pushes(tabs, bob.post("/chat/alice/typing"))  # alice gets nothing
    assert typing.code == 204
    typing, _ = await pushes(tabs, alice.post("/chat/bob/typing"))  # nor does bob hear her typing
    assert typing.code == 204
    assert 'id="presence-bob" class="presence offline"' in (await alice.get("/chat/bob")).body.decode()
    assert 'id="presence-bob" class="presence offline"' in (await alice.get("/chat")).body.decode()
    assert 'id="presence-bob" class="presence online"' in (await carol.get("/chat/bob")).body.decode()
    close_tabs(tabs)


@pytest.mark.parametrize("fields,status,message", [
    ({"peer": "bob", "action": "ban"}, 400, "action must be block or unblock"),
    ({"peer": "nobody-here", "action": "block"}, 404, "There is no user by that name"),
    ({"peer": "../etc", "action": "block"}, 404, "There is no user by that name"),
    ({"peer": "alice", "action": "block"}, 400, "yourself"),
    ({"peer": "eliza", "action": "block"}, 400, "Only people can be blocked"),
    ({"peer": "no_such", "action": "unblock"}, 400, "There is no user by that name"),
])
@pytest.mark.gen_test(timeout=30)
async def test_bad_block_requests_are_refused_with_a_message(http_server, http_client, base_url, redis_sync,
                                                              fields, status, message, app):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    response = await alice.post("/blocks", fields)
    assert response.code == status and message in response.body.decode()
    assert redis_sync.keys("blocks:*") == []


@pytest.mark.gen_test(timeout=30)
async def test_a_blocked_person_cannot_make_the_conversation_file_either(http_server, http_client, base_url, config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await block(bob, "alice")).code == 303
    for me, peer in ((alice, "bob"), (bob, "alice")):
        refused = await me.post("/create_conversation_db", {"user_one": "alice", "user_two": "bob"})
        assert refused.code == 403 and refused.headers["Content-Type"].startswith("application/json")
    assert list(chat_dir(config.data_dir).glob("*.db")) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_blocked_person_is_not_shown_seen_when_the_blocker_reads(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(bob, "alice", "did you read this?")
    assert (await block(alice, "bob")).code == 303
    bob_ws = await bob.live()
    await until(lambda: app.hub.has_user("bob"))
    assert "did you read this?" in (await alice.get("/chat/bob")).body.decode()  # alice reads it
    frames = await frames_within(bob_ws, 1.0)
    assert not [f for f in frames if "Seen" in f.get("content", "") or f.get("kind") == "read"], frames
    assert ">Seen<" not in (await bob.get("/chat/alice")).body.decode()
    refused = await send_message(bob, "alice", "hello?")  # the refused send shows the conversation again
    assert refused.code == 403 and ">Seen<" not in refused.body.decode()
    bob_ws.close()
    # Unblocked and read again, "Seen" shows as it does for anyone.
    await block(alice, "bob", "unblock")
    await send_message(bob, "alice", "and this?")
    await alice.get("/chat/bob")
    assert ">Seen<" in (await bob.get("/chat/alice")).body.decode()
