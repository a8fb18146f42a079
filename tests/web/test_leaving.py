"""Leaving removes every Redis key of the account: a later account with the name inherits nothing
(no histogram, no "already published" marker, no rate bucket), and only the name's 30-day
reservation stays."""
import asyncio
import json
import secrets
import time

import pytest

from parlor.game.ranking import MIN_GAMES
from parlor.infra.config import Config, Rate
from tests.helpers import (Visitor, admin_visitor, chat_dir, pair_messages, pair_rows, play_games, send_message,
                           start_game, until, users)
from tests.web.test_chat import picture

NAME = "zed-leaver"  # no other key of the test mentions it
RESERVATION = {f"reserved:{NAME}", f"look-alike:{NAME}"}  # the name and its look-alikes, for 30 days
ROOMY = Rate(100, 3600)  # limits on (their buckets last a while) but never reached


@pytest.fixture
def config(redis_url, tmp_path):
    return Config(data_dir=tmp_path, redis_url=redis_url, cookie_secret="test-secret-" + "x" * 20, eliza_delay=0.0,
                  message_limit=ROOMY, conversation_limit=ROOMY, image_limit=ROOMY, signup_limit=ROOMY,
                  guess_limit=ROOMY, game_limit=ROOMY, game_address_limit=ROOMY, search_limit=ROOMY)


def keys_naming(redis_sync, name: str) -> set[str]:
    return {key for key in redis_sync.scan_iter(count=1000) if name in key}


@pytest.mark.gen_test(timeout=60)
async def test_leaving_removes_every_key_that_names_the_account(http_server, http_client, base_url, redis_sync, app):
    leaver, peer, blocker = await users(app, http_client, base_url, NAME, "peer-one", "blocker")
    socket = await leaver.live()
    await play_games(leaver, MIN_GAMES)
    await start_game(leaver, 100)  # still open when the account goes
    await send_message(leaver, "peer-one", "hello")
    await send_message(peer, NAME, "hello back")
    await send_message(leaver, "peer-one", "", image=("p.png", "image/png", picture()))
    await send_message(leaver, "eliza", "hello eliza")
    assert (await leaver.post("/chat/peer-one/typing")).code == 204
    assert (await peer.post(f"/chat/{NAME}/typing")).code == 204
    assert (await leaver.post("/chat/peer-one/mute", {"action": "mute", "for": "day"})).code == 303
    assert (await peer.post(f"/chat/{NAME}/mute", {"action": "mute", "for": "always"})).code == 303
    assert (await leaver.get("/search?q=hello")).code == 200
    assert (await leaver.post("/blocks", {"peer": "blocker", "action": "block"})).code == 303
    assert (await blocker.post("/blocks", {"peer": NAME, "action": "block"})).code == 303
    assert (await Visitor(http_client, base_url).log_in(NAME, "wrong password")).code == 400
    redis_sync.set(f"login-attempts:{NAME}:203.0.113.5", 3, ex=60)  # failures from another address
    assert (await leaver.post("/chat/peer-one/report", {"reason": "spam"})).code == 200
    admin = await admin_visitor(app, http_client, base_url)
    assert (await admin.post(f"/admin/users/{NAME}/reset-link")).code == 200
    redis_sync.sadd("admins", NAME)  # an admin leaves too
    before = keys_naming(redis_sync, NAME)
    for kind in ("histogram:10:u:", "recent:10:u:", "scores:10:entry:u:", "history:u:", "open:u:", "events:",
                 "published:", "conversations:", "rate:messages:", "rate:games:u:", "typing:", "blocks:",
                 "blocked-by:", "presence:", "login-attempts:", "user-sessions:", "user:", "look-alike:",
                 "rate:reports:", "password-reset-of:", "muted-until:", "muted-by:", "rate:searches:"):
        assert any(key.startswith(kind) for key in before), kind  # the test covers every kind it names
    reset_link = redis_sync.get(f"password-reset-of:{NAME}")

    assert (await leaver.post("/account/delete", {"password": "correct horse"})).code == 303
    socket.close()
    await until(lambda: keys_naming(redis_sync, NAME) <= RESERVATION | {f"presence:{NAME}", f"conns:{NAME}"})
    await asyncio.sleep(0.2)  # the closed socket's own bookkeeping
    assert keys_naming(redis_sync, NAME) == RESERVATION
    assert not redis_sync.exists(reset_link) and not redis_sync.sismember("admins", NAME)
    assert redis_sync.zscore("muted-until:peer-one", NAME) is None  # nobody mutes the name any more

    redis_sync.delete(*RESERVATION)  # thirty days later
    newcomer = Visitor(http_client, base_url)
    await newcomer.sign_up(NAME, "someone else")
    stats = (await newcomer.get("/scores/10/stats.json")).body.decode()
    assert '"my_games": 0' in stats  # no histogram of the old account's games
    ws = await peer.live()
    await send_message(newcomer, "peer-one", "a new person")
    assert "a new person" in (await peer.get("/chat")).body.decode()  # listed, and pushed live:
    from tests.helpers import next_frame
    assert "a new person" in (await next_frame(ws))["content"]
    ws.close()


@pytest.mark.gen_test(timeout=60)
async def test_what_names_a_left_account_names_its_ghost_so_no_admin_action_reaches_its_names_next_owner(
        http_server, http_client, base_url, redis_sync, app):
    """Reports are kept 90 days, a left name is free after 30: a report on bob, bob's own report,
    his invite and the audit entries about him all name his ghost, and acting on the report
    reaches the ghost's message, never a newcomer called bob."""
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    admin = await admin_visitor(app, http_client, base_url)
    for n in range(3):
        await send_message(bob, "alice", f"rude {n}")
    await send_message(carol, "bob", "hello bob")
    rude = pair_rows(app.config.data_dir, "alice", "bob", "SELECT id FROM messages WHERE body = 'rude 2'")[0][0]
    assert (await alice.post(f"/chat/bob/messages/{rude}/report", {"reason": "harassment"})).code == 200
    assert (await bob.post("/chat/carol/report", {"reason": "spam"})).code == 200
    invite = await admin.post("/admin/invites", {"uses": "2", "expiry": "3600"})
    code = invite.headers["Location"].removeprefix("/admin/invites#invite-")
    redis_sync.rpush(f"invite:{code}:users", "bob")  # as if bob had signed up with it
    assert (await admin.post("/admin/users/bob/reset-link")).code == 200  # an audit entry about bob

    assert (await bob.post("/account/delete", {"password": "correct horse"})).code == 303
    ghost = next(name for name in redis_sync.zrange("conversations:alice", 0, -1) if name.startswith("deleted-"))
    redis_sync.delete("reserved:bob", "look-alike:bob")  # thirty days later
    newcomer = Visitor(http_client, base_url)
    await newcomer.sign_up("bob", "someone else")
    for n in range(3):  # the newcomer's conversation with alice has a message with the reported id
        await send_message(newcomer, "alice", f"kind {n}")

    page = (await admin.get("/admin/reports")).body.decode()
    assert 'href="/admin/users/bob"' not in page and f"a deleted user ({ghost})" in page
    assert "Suspend bob" not in page
    reports = {tuple(redis_sync.hmget(key, "reporter", "reported")): key for key in redis_sync.keys("report:*")}
    assert set(reports) == {("alice", ghost), (ghost, "carol")}
    report_id = reports[("alice", ghost)].split(":", 1)[1]
    suspend = await admin.post(f"/admin/reports/{report_id}", {"action": "suspend", "length": "3600",
                                                               "reason": "rude"})
    assert suspend.code == 404 and not redis_sync.exists("suspension:bob")
    deleted = await admin.post(f"/admin/reports/{report_id}", {"action": "delete"})
    assert deleted.code == 200
    assert pair_messages(app.config.data_dir, "alice", ghost, "body")[rude - 1] == ("",)  # the ghost's message
    assert pair_messages(app.config.data_dir, "alice", "bob", "body") == [("kind 0",), ("kind 1",), ("kind 2",)]
    again = await alice.post(f"/chat/bob/messages/{rude}/report", {"reason": "harassment"})
    assert again.code == 200 and "received" in again.body.decode()
    assert redis_sync.zcard("reports") == 2  # the newcomer's message is a report of its own
    assert redis_sync.lrange(f"invite:{code}:users", 0, -1) == [ghost]
    entries, _ = await app.audit.entries(0, 1000)
    assert [(e.action, e.target) for e in entries if e.action == "made a password-reset link"] == [
        ("made a password-reset link", ghost)]


async def api_send(http_client, url: str, token: str, to: str, body: str):
    return await http_client.fetch(url + "/api/messages", method="POST", raise_error=False,
                                   body=json.dumps({"to": to, "body": body, "client_id": secrets.token_hex(8)}),
                                   headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.gen_test(timeout=60)
async def test_deleting_an_account_while_another_process_sends_for_it_leaves_nothing_under_its_name(
        http_server, http_client, base_url, redis_sync, app, second_app, attempt):
    """A deletes her account on one process while she (API token) and B keep sending through
    another: every message answered before the deletion is in the ghost's file, none after it
    is, no file is made anew under her name, and B's list does not show her name again."""
    other, other_url = second_app
    a, b = f"leaver-{attempt}", f"stayer-{attempt}"
    leaver, _ = await users(app, http_client, base_url, a, b)
    tokens = {a: await app.accounts.new_api_token(a), b: await app.accounts.new_api_token(b)}
    answered: dict[str, list[tuple[str, float]]] = {a: [], b: []}
    stop = asyncio.Event()

    async def keep_sending(me: str, peer: str) -> None:
        n = 0
        while not stop.is_set():
            text = f"{me} {n}"
            answer = await api_send(http_client, other_url, tokens[me], peer, text)
            if answer.code == 201:
                answered[me].append((text, time.monotonic()))
            n += 1

    senders = [asyncio.ensure_future(keep_sending(a, b)), asyncio.ensure_future(keep_sending(b, a))]
    await until(lambda: len(answered[a]) >= 5 and len(answered[b]) >= 5)
    assert (await leaver.post("/account/delete", {"password": "correct horse"})).code == 303
    deleted_at = time.monotonic()
    await asyncio.sleep(0.5)  # they go on sending a while
    stop.set()
    await asyncio.gather(*senders)

    files = sorted(path.name for path in chat_dir(app.config.data_dir).glob("*.db*"))
    assert not [name for name in files if a in name], files  # nothing under the deleted name
    ghost = next(name.split("_")[0] for name in files if name.startswith("deleted-") and name.endswith(".db"))
    stored = [body for (body,) in pair_messages(app.config.data_dir, ghost, b, "body")]
    authors = {author for (author,) in pair_messages(app.config.data_dir, ghost, b, "author")}
    assert authors <= {ghost, b}
    assert [text for text, at in answered[a] if at > deleted_at] == []  # none of hers after the answer
    assert set(stored) == {text for me in (a, b) for text, _ in answered[me]}  # every answered one kept
    assert a not in redis_sync.zrange(f"conversations:{b}", 0, -1)
