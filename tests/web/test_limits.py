"""Rate limits over HTTP against the real app and Redis: over each one, a 429 with Retry-After
and the reason next to the form, and nothing stored."""
import json

import pytest

from parlor.config import Config, Rate
from tests.helpers import Visitor, send_message, start_game, users
from tests.web.test_chat import picture, stored_messages


@pytest.fixture
def config(redis_url, tmp_path):
    """Small limits, so that a test reaches each one in a few requests."""
    return Config(data_dir=tmp_path, redis_url=redis_url, cookie_secret="test-secret-" + "x" * 20,
                  eliza_delay=0.0, message_limit=Rate(3, 60), conversation_limit=Rate(1, 3600),
                  image_limit=Rate(1, 60), signup_limit=Rate(4, 3600), guess_limit=Rate(3, 60))


def assert_refused(response, words, form_id, rate):
    body = response.body.decode()
    assert response.code == 429, body
    # The wait is for one action to refill: never more than the limit's period over its count.
    assert 1 <= int(response.headers["Retry-After"]) <= rate.seconds / rate.count
    assert words in body and f'id="{form_id}"' in body  # shown next to the form


@pytest.mark.gen_test(timeout=30)
async def test_messages_over_the_limit_are_refused_and_not_stored(http_server, http_client, base_url, config, app):
    alice, _ = await users(http_client, base_url, "alice", "bob")
    for n in range(3):  # a burst up to the limit goes through at once
        assert (await send_message(alice, "bob", f"message {n}")).code == 303
    for htmx in (False, True):
        response = await send_message(alice, "bob", "one too many", htmx=htmx)
        assert_refused(response, "You are sending messages too fast", "send-form", config.message_limit)
        assert 15 <= int(response.headers["Retry-After"]) <= 20  # one more fits every 60/3 s
    token = await app.accounts.new_api_token("alice")
    api = await alice.fetch("/api/messages", "POST", json.dumps({"to": "bob", "body": "one too many"}),
                            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert api.code == 429 and int(api.headers["Retry-After"]) > 0 and "too fast" in json.loads(api.body)["error"]
    assert [body for _, _, body in stored_messages(config, "alice", "bob")] == [f"message {n}" for n in range(3)]


@pytest.mark.gen_test(timeout=30)
async def test_new_conversations_over_the_limit_are_refused_and_make_no_file(http_server, http_client, base_url,
                                                                              config):
    alice, bob, _ = await users(http_client, base_url, "alice", "bob", "carol")
    assert (await send_message(alice, "bob", "a first conversation")).code == 303
    assert_refused(await send_message(alice, "carol", "a second one"), "started too many new conversations",
                   "send-form", config.conversation_limit)
    assert stored_messages(config, "alice", "carol") is None
    assert (await send_message(alice, "bob", "the first goes on")).code == 303
    assert (await send_message(bob, "alice", "bob answers")).code == 303  # not new to bob either


@pytest.mark.gen_test(timeout=30)
async def test_pictures_over_the_limit_are_refused_and_charge_nothing_else(http_server, http_client, base_url,
                                                                           config):
    alice, _ = await users(http_client, base_url, "alice", "bob")
    image = ("red.png", "image/png", picture())
    assert (await send_message(alice, "bob", image=image)).code == 303
    assert_refused(await send_message(alice, "bob", "again", image=image), "too many pictures", "send-form", config.image_limit)
    # The refused picture used none of the 3 messages: two more text messages still fit, then no more.
    assert (await send_message(alice, "bob", "text one")).code == 303
    assert (await send_message(alice, "bob", "text two")).code == 303
    assert (await send_message(alice, "bob", "text three")).code == 429
    assert [(kind, body) for _, kind, body in stored_messages(config, "alice", "bob")] == [
        ("image", ""), ("text", "text one"), ("text", "text two")]


@pytest.mark.gen_test(timeout=60)
async def test_signups_from_one_address_over_the_limit_are_refused(http_server, http_client, base_url, redis_sync,
                                                                 config):
    await users(http_client, base_url, "first", "second", "third")
    visitor = Visitor(http_client, base_url)
    taken = await visitor.post("/signup", {"username": "first", "password": "long enough"})
    assert taken.code == 409  # a name that is taken costs no sign-up
    await visitor.sign_up("fourth")
    for htmx in (False, True):
        response = await Visitor(http_client, base_url).post(
            "/signup", {"username": "fifth", "password": "long enough"}, headers={"HX-Request": "true"} if htmx else None)
        assert_refused(response, "Too many accounts were made from your address", "signup-form", config.signup_limit)
        assert 600 <= int(response.headers["Retry-After"]) <= 900  # one more every 3600/4 s
    assert not redis_sync.exists("user:fifth")


@pytest.mark.gen_test(timeout=30)
async def test_guesses_over_the_limit_are_refused_and_not_counted(http_server, http_client, base_url, redis_sync,
                                                                  config):
    (alice,) = await users(http_client, base_url, "alice")
    game_id = await start_game(alice, 1000)
    secret = int(redis_sync.hget(f"game:{game_id}", "secret"))
    wrong = [str(n) for n in range(1, 6) if n != secret]
    for guess in wrong[:3]:
        assert (await alice.post(f"/games/{game_id}/guesses", {"guess": guess})).code == 303
    for htmx in (False, True):
        response = await alice.post(f"/games/{game_id}/guesses", {"guess": wrong[3]},
                                    headers={"HX-Request": "true"} if htmx else None)
        assert_refused(response, "Too many guesses at once", "guess-form", config.guess_limit)
    assert redis_sync.hget(f"game:{game_id}", "count") == "3"
    assert [g.split(":")[0] for g in redis_sync.lrange(f"game:{game_id}:guesses", 0, -1)] == wrong[:3]


@pytest.mark.gen_test(timeout=30)
async def test_the_tutorials_create_conversation_counts_as_a_new_conversation(http_server, http_client, base_url,
                                                                             config):
    """create_conversation_db makes a file without a message: the new-conversation limit still
    applies (40 calls made 40 files), and no message is counted."""
    alice, _, _, _ = await users(http_client, base_url, "alice", "bob", "carol", "dave")
    created = await alice.post("/create_conversation_db", {"user_one": "alice", "user_two": "bob"})
    assert created.code == 200
    for peer in ("carol", "dave"):
        refused = await alice.post("/create_conversation_db", {"user_one": "alice", "user_two": peer})
        assert refused.code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "started too many new conversations" in json.loads(refused.body)["error"]
    assert sorted(p.name for p in (config.data_dir / "conversations").glob("*.db")) == ["alice_bob.db"]
    for n in range(3):  # the message limit (3) is whole: creating counted no message
        assert (await send_message(alice, "bob", f"message {n}")).code == 303
