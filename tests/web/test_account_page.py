"""The account page: password change, API token, the data download, and deleting the account."""
import io
import json
import re
import zipfile

import argon2
import pytest

from parlor.game.ranking import MIN_GAMES
from tests.helpers import Visitor, chat_dir, next_frame, play_games, send_message, users
from tests.web.test_chat import picture


async def token_for(visitor):
    response = await visitor.post("/account/token", {"action": "new", "password": "correct horse"})
    return re.search(r'id="new-token" class="token" readonly value="([^"]+)"', response.body.decode()).group(1)


@pytest.mark.parametrize("current,new,status,message", [
    ("wrong password", "a new password", 400, "not your current password"),
    ("correct horse", "short", 400, "8 to 256 characters"),
    ("correct horse", "x" * 257, 400, "8 to 256 characters"),
])
@pytest.mark.password_hasher(factory=argon2.PasswordHasher)
@pytest.mark.gen_test(timeout=30)
async def test_a_bad_password_change_is_refused_next_to_its_form(http_server, http_client, base_url,
                                                                  current, new, status, message, app):
    (alice,) = await users(app, http_client, base_url, "alice")
    response = await alice.post("/account/password", {"current": current, "new": new})
    assert response.code == status
    body = response.body.decode()
    assert re.search(r'<form id="password-form"[^>]*>\s*<input[^>]*>\s*<p class="form-error" role="alert">[^<]*'
                     + re.escape(message), body)
    assert (await Visitor(http_client, base_url).log_in("alice", "correct horse")).code == 303  # unchanged


@pytest.mark.password_hasher(factory=argon2.PasswordHasher)
@pytest.mark.gen_test(timeout=60)
async def test_changing_the_password_signs_out_every_other_session(http_server, http_client, base_url, app):
    (alice,) = await users(app, http_client, base_url, "alice")
    elsewhere = Visitor(http_client, base_url)
    assert (await elsewhere.log_in("alice")).code == 303
    elsewhere_ws = await elsewhere.live()
    here_ws = await alice.live()
    token = await token_for(alice)

    response = await alice.post("/account/password", {"current": "correct horse", "new": "battery staple"})
    assert response.code == 200 and "1 other session of yours was signed out" in response.body.decode()
    assert await next_frame(elsewhere_ws) is None and elsewhere_ws.close_code == 1008  # its open page too
    assert (await elsewhere.get("/account")).headers["Location"] == "/login?next=/account"
    assert "Signed in as <strong>alice</strong>" in (await alice.get("/account")).body.decode()
    assert here_ws.protocol is not None and here_ws.close_code is None  # this page stays
    assert (await Visitor(http_client, base_url).log_in("alice", "correct horse")).code == 400
    assert (await Visitor(http_client, base_url).log_in("alice", "battery staple")).code == 303
    assert (await alice.get(f"/poll?timeout=0&token={token}")).code == 401  # whoever made it may not have the new one
    assert "You have no token" in (await alice.get("/account")).body.decode()
    here_ws.close()


@pytest.mark.password_hasher(factory=argon2.PasswordHasher)
@pytest.mark.gen_test(timeout=60)
async def test_making_a_token_asks_for_the_password_and_failures_count_like_failed_logins(
        http_server, http_client, base_url, redis_sync, app):
    (alice,) = await users(app, http_client, base_url, "alice")
    token = await token_for(alice)
    for fields, message in (({"action": "new"}, "Give your password to make a token."),
                            ({"action": "new", "password": "not my password"}, "That is not your password.")):
        response = await alice.post("/account/token", fields)
        assert response.code == 400
        assert re.search(r'<form id="token-form"[^>]*>\s*<input[^>]*>\s*<p class="form-error" role="alert">'
                         + re.escape(message), response.body.decode())
        assert 'id="new-token"' not in response.body.decode()
    assert (await alice.get(f"/poll?timeout=0&token={token}")).code == 200  # the old token still works
    assert redis_sync.get("login-attempts:alice:127.0.0.1") == "1"  # the wrong password was counted
    for _ in range(9):
        await alice.post("/account/token", {"action": "new", "password": "not my password"})
    locked = await alice.post("/account/token", {"action": "new", "password": "correct horse"})
    assert locked.code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed logins" in locked.body.decode() and 'id="new-token"' not in locked.body.decode()
    assert (await alice.get(f"/poll?timeout=0&token={token}")).code == 200


@pytest.mark.gen_test(timeout=30)
async def test_a_revoked_token_is_refused(http_server, http_client, base_url, app):
    (alice,) = await users(app, http_client, base_url, "alice")
    token = await token_for(alice)
    assert (await alice.get(f"/poll?timeout=0&callback=got&token={token}")).code == 200
    assert (await alice.post("/account/token", {"action": "revoke"})).code == 200
    for path in (f"/poll?timeout=0&callback=got&token={token}", f"/poll?timeout=0&token={token}"):
        refused = await Visitor(http_client, base_url).get(path)
        assert refused.code == 401 and "not valid" in json.loads(refused.body)["error"]


@pytest.mark.gen_test(timeout=60)
async def test_the_data_download_holds_exactly_my_conversations_and_games(http_server, http_client, base_url, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(alice, "bob", "hi bob", image=("red.png", "image/png", picture()))
    await send_message(bob, "alice", "hi alice")
    await send_message(alice, "eliza", "I feel fine")
    await send_message(bob, "carol", "a secret between bob and carol")
    await play_games(alice, MIN_GAMES)
    stored_picture = (await alice.get("/chat/bob/images/1")).body

    response = await alice.get("/account/data")
    assert response.code == 200 and response.headers["Content-Type"] == "application/zip"
    assert re.fullmatch(r'attachment; filename="parlor-alice-\d{4}-\d\d-\d\d\.zip"',
                        response.headers["Content-Disposition"])
    archive = zipfile.ZipFile(io.BytesIO(response.body))
    assert sorted(archive.namelist()) == ["account.json", "conversations/bob.json", "conversations/bob/1.png",
                                          "conversations/eliza.json", "games.json"]
    with_bob = json.loads(archive.read("conversations/bob.json"))
    assert [(m["author"], m["body"]) for m in with_bob["messages"]] == [("alice", "hi bob"), ("bob", "hi alice")]
    assert with_bob["messages"][0]["image"] == "conversations/bob/1.png"
    assert archive.read("conversations/bob/1.png") == stored_picture
    assert [m["author"] for m in json.loads(archive.read("conversations/eliza.json"))["messages"]] == ["alice", "eliza"]
    games = json.loads(archive.read("games.json"))
    assert [g["board"] for g in games["finished_games"]] == [10] * MIN_GAMES
    assert games["best_on_boards"][0]["name"] == "alice" and games["best_on_boards"][0]["games"] == MIN_GAMES
    assert json.loads(archive.read("account.json"))["username"] == "alice"
    assert not any(b"carol" in archive.read(name) for name in archive.namelist())
    assert (await Visitor(http_client, base_url).get("/account/data")).code == 302  # to the login page


@pytest.mark.gen_test(timeout=90)
async def test_a_deleted_account_is_gone_and_its_name_inherits_nothing(http_server, http_client, base_url,
                                                                       app, config, redis_sync):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(alice, "bob", "hello from alice")
    await send_message(bob, "alice", "hello from bob")
    await send_message(alice, "eliza", "hello eliza")
    await play_games(alice, MIN_GAMES)
    assert b'data-name="alice"' in (await bob.get("/scores/10/fragment")).body
    assert (await carol.post("/blocks", {"peer": "alice", "action": "block"})).code == 303
    token = await token_for(alice)
    alice_ws = await alice.live()

    refused = await alice.post("/account/delete", {"password": "not my password"})
    assert refused.code == 400 and "That is not your password." in refused.body.decode()
    response = await alice.post("/account/delete", {"password": "correct horse"})
    assert response.code == 303 and response.headers["Location"] == "/"
    assert "parlor_session" not in alice.cookies
    assert await next_frame(alice_ws) is None and alice_ws.close_code == 1008

    assert (await Visitor(http_client, base_url).log_in("alice")).code == 400
    assert (await Visitor(http_client, base_url).get(f"/poll?timeout=0&token={token}")).code == 401
    assert b'data-name="alice"' not in (await bob.get("/scores/10/fragment")).body
    assert "You have blocked no one" in (await carol.get("/account")).body.decode()
    listing = (await bob.get("/chat")).body.decode()
    assert "deleted user" in listing and 'href="/chat/alice' not in listing
    ghost = re.search(r'href="/chat/(deleted-[0-9a-f]+)["#]', listing).group(1)
    page = (await bob.get(f"/chat/{ghost}")).body.decode()
    assert re.search(r'<p class="author">deleted user</p>\s*<p class="body">hello from alice</p>', page)
    assert "hello from bob" in page and "This account was deleted" in page
    assert (await send_message(bob, ghost, "are you there?")).code == 403
    assert (await bob.get("/chat/alice")).code == 404
    taken = await Visitor(http_client, base_url).post("/signup", {"username": "alice", "password": "long enough"})
    assert taken.code == 409 and "is taken" in taken.body.decode()
    assert 29 * 86400 < redis_sync.ttl("reserved:alice") <= 30 * 86400
    assert sorted(p.name for p in chat_dir(config.data_dir).glob("*.db")) == [f"bob_{ghost}.db"]

    redis_sync.delete("reserved:alice", "look-alike:alice")  # thirty days later
    newcomer = Visitor(http_client, base_url)
    await newcomer.sign_up("alice", "a new person")
    assert "No conversations yet" in (await newcomer.get("/chat")).body.decode()
    assert "hello from" not in (await newcomer.get("/chat/bob")).body.decode()
    assert b'data-name="alice"' not in (await newcomer.get("/scores/10/fragment")).body
    assert redis_sync.smembers("blocked-by:alice") == set()
    assert 'href="/chat/alice' not in (await bob.get("/chat")).body.decode()
