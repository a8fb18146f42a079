"""Rate limits over HTTP against the real app and Redis: over each one, a 429 with Retry-After
and the reason next to the form, and nothing stored. Password hashing: a per-address budget of
checks, and a bounded queue that answers 503 at once instead of making every login wait."""
import asyncio
import json
import math
import secrets
import statistics
import threading
import time

import argon2
import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing

from parlor.infra.config import Config, Rate
from parlor.web.services import HASH_THREADS, HASHES_WAITING
from tests.helpers import Visitor, chat_dir, pair_messages, send_message, signed_up, start_game, until, users
from tests.web.test_chat import picture


@pytest.fixture
def config(redis_url, tmp_path):
    """Small limits, so that a test reaches each one in a few requests."""
    return Config(data_dir=tmp_path, redis_url=redis_url, cookie_secret="test-secret-" + "x" * 20,
                  eliza_delay=0.0, message_limit=Rate(3, 60), conversation_limit=Rate(1, 3600),
                  image_limit=Rate(1, 60), signup_limit=Rate(4, 3600), login_limit=Rate(5, 60),
                  guess_limit=Rate(3, 60), game_limit=Rate(3, 60), game_address_limit=Rate(5, 60))


def from_address(address: str) -> dict:
    return {"X-Forwarded-For": address}


class CountingHasher(argon2.PasswordHasher):
    """argon2 as Parlor uses it, counting the passwords it checks."""

    def __init__(self):
        super().__init__()
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash, password):
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


def assert_refused(response, words, form_id, rate):
    body = response.body.decode()
    assert response.code == 429, body
    # The wait is for one action to refill: never more than the limit's period over its count.
    assert 1 <= int(response.headers["Retry-After"]) <= rate.seconds / rate.count
    assert words in body and f'id="{form_id}"' in body  # shown next to the form


@pytest.mark.gen_test(timeout=30)
async def test_messages_over_the_limit_are_refused_and_not_stored(http_server, http_client, base_url, config, app):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
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
    assert [body for _, _, body in pair_messages(config.data_dir, "alice", "bob")] == [f"message {n}" for n in range(3)]


@pytest.mark.gen_test(timeout=30)
async def test_new_conversations_over_the_limit_are_refused_and_make_no_file(http_server, http_client, base_url,
                                                                              config, app):
    alice, bob, _ = await users(app, http_client, base_url, "alice", "bob", "carol")
    assert (await send_message(alice, "bob", "a first conversation")).code == 303
    assert_refused(await send_message(alice, "carol", "a second one"), "started too many new conversations",
                   "send-form", config.conversation_limit)
    assert pair_messages(config.data_dir, "alice", "carol") is None
    assert (await send_message(alice, "bob", "the first goes on")).code == 303
    assert (await send_message(bob, "alice", "bob answers")).code == 303  # not new to bob either


@pytest.mark.gen_test(timeout=30)
async def test_pictures_over_the_limit_are_refused_and_charge_nothing_else(http_server, http_client, base_url,
                                                                           config, app):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    image = ("red.png", "image/png", picture())
    assert (await send_message(alice, "bob", image=image)).code == 303
    assert_refused(await send_message(alice, "bob", "again", image=image), "too many pictures", "send-form", config.image_limit)
    # The refused picture used none of the 3 messages: two more text messages still fit, then no more.
    assert (await send_message(alice, "bob", "text one")).code == 303
    assert (await send_message(alice, "bob", "text two")).code == 303
    assert (await send_message(alice, "bob", "text three")).code == 429
    assert [(kind, body) for _, kind, body in pair_messages(config.data_dir, "alice", "bob")] == [
        ("image", ""), ("text", "text one"), ("text", "text two")]


@pytest.mark.password_hasher(factory=argon2.PasswordHasher)
@pytest.mark.gen_test(timeout=60)
async def test_signups_from_one_address_over_the_limit_are_refused(http_server, http_client, base_url, redis_sync,
                                                                 config):
    await signed_up(http_client, base_url, "first", "second", "third")
    visitor = Visitor(http_client, base_url)
    taken = await visitor.post("/signup", {"username": "first", "password": "long enough"})
    assert taken.code == 409  # said so while under the limit; it counts: trying names costs sign-ups
    for htmx in (False, True):
        response = await Visitor(http_client, base_url).post(
            "/signup", {"username": "fifth", "password": "long enough"}, headers={"HX-Request": "true"} if htmx else None)
        assert_refused(response, "Too many accounts were made from your address", "signup-form", config.signup_limit)
        assert 600 <= int(response.headers["Retry-After"]) <= 900  # one more every 3600/4 s
    assert not redis_sync.exists("user:fifth")


@pytest.mark.gen_test(timeout=30)
async def test_guesses_over_the_limit_are_refused_and_not_counted(http_server, http_client, base_url, redis_sync,
                                                                  config, app):
    (alice,) = await users(app, http_client, base_url, "alice")
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


@pytest.mark.password_hasher(factory=argon2.PasswordHasher)
@pytest.mark.gen_test(timeout=60)
async def test_over_the_signup_limit_a_taken_name_gets_the_same_429_as_a_free_one(http_server, http_client,
                                                                                  base_url, config):
    """Name enumeration: over the limit, nothing says whether a name exists."""
    await signed_up(http_client, base_url, "first", "second", "third", "fourth")
    answers = [await Visitor(http_client, base_url).post("/signup", {"username": name, "password": "long enough"})
               for name in ("first", "free-name")]
    for answer in answers:
        assert_refused(answer, "Too many accounts were made from your address", "signup-form", config.signup_limit)
    assert "is taken" not in answers[0].body.decode()


@pytest.mark.password_hasher(factory=CountingHasher)
@pytest.mark.gen_test(timeout=60)
async def test_password_checks_over_the_address_limit_are_refused_before_any_hashing(proxied_url, http_client,
                                                                                     app, config, password_hasher):
    hasher = password_hasher
    (alice,) = await users(app, http_client, proxied_url, "alice")
    attacker = Visitor(http_client, proxied_url)
    for _ in range(5):  # fresh names: the lockout of one name from one address never starts
        bogus = {"username": "x-" + secrets.token_hex(6), "password": "guess guess"}
        assert (await attacker.post("/login", bogus, headers=from_address("198.51.100.7"))).code == 400
    assert hasher.verified == 5
    for htmx in (False, True):
        response = await attacker.post("/login", {"username": "alice", "password": "correct horse"},
                                       headers={**from_address("198.51.100.7"), **({"HX-Request": "true"} if htmx else {})})
        assert_refused(response, "Too many password tries from your address", "login-form", config.login_limit)
    # The account page's password forms draw on the same budget.
    leave = await alice.post("/account/delete", {"password": "correct horse"}, headers=from_address("198.51.100.7"))
    assert_refused(leave, "Too many password tries from your address", "leave-form", config.login_limit)
    assert hasher.verified == 5  # nothing more was hashed
    assert (await Visitor(http_client, proxied_url).log_in("alice")).code == 303  # from 127.0.0.1
    ipv6 = Visitor(http_client, proxied_url)  # one IPv6 network is one address: its /64
    for n in range(6):
        answer = await ipv6.post("/login", {"username": "alice", "password": "wrong"}, headers=from_address(f"2001:db8::{n}"))
    assert answer.code == 429


async def timed_login(http, base_url: str, address: str) -> float:
    """Seconds for alice's login from this address (its form already loaded)."""
    visitor = Visitor(http, base_url)
    await visitor.get("/login")
    started = time.monotonic()
    response = await visitor.post("/login", {"username": "alice", "password": "correct horse"},
                                  headers=from_address(address))
    took = time.monotonic() - started
    assert response.code == 303, response.body
    return took


FLOOD_LOGINS = 200  # bogus logins from one address at least ...
FLOOD_PER_S = 40  # ... at this pace (the 10 a second already kept both threads busy)
FLOOD_HEAD_START_S = 2.5  # the flood runs this long before the timed logins: the burst is long spent


@pytest.mark.password_hasher(factory=argon2.PasswordHasher)
@pytest.mark.gen_test(timeout=120)
async def test_a_login_flood_from_one_address_does_not_slow_anyone_elses_login(proxied_url, http_client, app,
                                                                              config):
    """200 logins or more with fresh names from one address; a real login from another address
    meanwhile takes at most twice its unloaded time. Each login timed during the flood is paired
    with one timed while the flood pauses, so a machine that gets busier meanwhile slows both."""
    await users(app, http_client, proxied_url, "alice")
    real = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    first = await timed_login(real, proxied_url, "203.0.113.99")  # the first request of a process costs more
    # The flood outlasts the five timed logins even at the most each may take (twice the unloaded
    # time, and its form's page), with a second to spare: a busy machine makes every login slower.
    flood_logins = max(FLOOD_LOGINS, math.ceil(FLOOD_PER_S * (FLOOD_HEAD_START_S + 5 * 3 * first + 1)))
    flood = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=flood_logins)
    attacker = Visitor(flood, proxied_url)
    await attacker.get("/login")
    answers, in_flight, flowing, sent_at = [], [0], asyncio.Event(), []

    async def bogus_login():
        fields = {"username": "x-" + secrets.token_hex(6), "password": "guess guess"}
        in_flight[0] += 1
        try:
            answers.append((await attacker.post("/login", fields, headers=from_address("198.51.100.7"))).code)
        finally:
            in_flight[0] -= 1

    async def attack():
        due, sent = time.monotonic(), []
        for _ in range(flood_logins):
            if not flowing.is_set():  # paused: the pace resumes where it stopped, no catching up
                paused = time.monotonic()
                await flowing.wait()
                due += time.monotonic() - paused
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent.append(asyncio.ensure_future(bogus_login()))
            sent_at.append(time.monotonic())
            due += 1 / FLOOD_PER_S
        await asyncio.gather(*sent)

    flowing.set()
    flooding = asyncio.ensure_future(attack())
    await asyncio.sleep(FLOOD_HEAD_START_S)
    loaded, unloaded = [], []
    for n in range(5):
        loaded.append(await timed_login(real, proxied_url, f"203.0.113.{10 + n}"))
        flowing.clear()
        await until(lambda: in_flight[0] == 0)  # the flood's requests answered: the server is idle
        unloaded.append(await timed_login(real, proxied_url, f"203.0.113.{20 + n}"))
        flowing.set()
    during = not flooding.done()
    await flooding
    real.close()
    flood.close()
    print(f"LOGIN-TIMING unloaded {statistics.median(unloaded):.3f} s, during the flood "
          f"{statistics.median(loaded):.3f} s ({', '.join(f'{t:.3f}' for t in loaded)}); flood answers: "
          f"{answers.count(400)} checked, {answers.count(429)} refused (429), {answers.count(503)} busy (503)")
    assert during  # the real logins ran while the flood went on
    assert statistics.median(loaded) <= 2 * statistics.median(unloaded)
    # The address's burst, then 429s, but for what its bucket refilled while the flood went on.
    limit = config.login_limit
    refilled = int((sent_at[-1] - sent_at[0]) * limit.count / limit.seconds)
    assert len(answers) == flood_logins and answers.count(400) <= limit.count + refilled


@pytest.mark.password_hasher(factory=CountingHasher)
@pytest.mark.gen_test(timeout=60)
async def test_when_every_hashing_slot_is_taken_a_password_check_is_refused_at_once(proxied_url, app, password_hasher):
    """Many addresses at once (each within its budget): the checks beyond the queue get 503 with
    Retry-After at once, instead of waiting behind the others."""
    hasher = password_hasher
    http = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=40)
    visitors = [Visitor(http, proxied_url) for _ in range(30)]
    await asyncio.gather(*(v.get("/login") for v in visitors))
    finished = {}

    async def login(n: int, visitor: Visitor):
        bogus = {"username": "x-" + secrets.token_hex(6), "password": "guess guess"}
        response = await visitor.post("/login", bogus, headers=from_address(f"198.51.100.{n}"))
        finished[n] = (response, time.monotonic())

    await asyncio.gather(*(login(n, v) for n, v in enumerate(visitors)))
    http.close()
    busy = [(r, t) for r, t in finished.values() if r.code == 503]
    checked = [(r, t) for r, t in finished.values() if r.code == 400]
    assert len(busy) + len(checked) == 30 and len(busy) >= 30 - 2 * (HASH_THREADS + HASHES_WAITING)
    assert hasher.verified == len(checked)
    for response, _ in busy:
        assert response.headers["Retry-After"] == "1"
        assert "checking too many passwords" in response.body.decode() and 'id="login-form"' in response.body.decode()
    # Refused at once: before the first password check that was let in had finished.
    assert max(t for _, t in busy) < min(t for _, t in checked)
def assert_game_refused(response, words, rate, htmx):
    body = response.body.decode()
    assert response.code == 429, body
    assert 1 <= int(response.headers["Retry-After"]) <= rate.seconds / rate.count
    assert words in body  # a readable page, or the error fragment for htmx
    assert body.startswith("<!doctype html>") != htmx


@pytest.mark.gen_test(timeout=30)
async def test_game_starts_over_the_visitors_limit_are_refused_and_store_nothing(
        http_server, http_client, base_url, redis_sync, config):
    player = Visitor(http_client, base_url)
    for _ in range(3):
        await start_game(player)
    games = redis_sync.keys("game:*")
    for htmx in (False, True):
        response = await player.post("/games", {"max": "10"}, headers={"HX-Request": "true"} if htmx else None)
        assert_game_refused(response, "You are starting games too fast", config.game_limit, htmx)
    assert redis_sync.keys("game:*") == games


@pytest.mark.gen_test(timeout=30)
async def test_game_starts_over_the_addresss_limit_are_refused_and_make_no_session(
        http_server, http_client, base_url, redis_sync, config):
    """The attack: a script with an XSRF cookie of its own starts games from fresh sessions."""
    async def fresh_start(htmx=False):
        script = Visitor(http_client, base_url)
        script.cookies["_xsrf"] = "made-up"
        return await script.post("/games", {"max": "10"}, headers={"HX-Request": "true"} if htmx else None)

    for _ in range(5):
        assert (await fresh_start()).code == 303
    sessions = redis_sync.keys("session:*")
    for htmx in (False, True):
        response = await fresh_start(htmx)
        assert_game_refused(response, "Too many games were started from your address", config.game_address_limit,
                            htmx)
        assert "parlor_session" not in response.headers.get("Set-Cookie", "")
    assert redis_sync.keys("session:*") == sessions and len(redis_sync.keys("game:*")) == 5
    assert all(0 < redis_sync.ttl(key) <= 12 * 3600 for key in sessions)  # a guest's session is short-lived
@pytest.mark.gen_test(timeout=30)
async def test_the_tutorials_create_conversation_counts_as_a_new_conversation(http_server, http_client, base_url,
                                                                             config, app):
    """create_conversation_db makes a file without a message: the new-conversation limit still
    applies (40 calls made 40 files), and no message is counted."""
    alice, _, _, _ = await users(app, http_client, base_url, "alice", "bob", "carol", "dave")
    created = await alice.post("/create_conversation_db", {"user_one": "alice", "user_two": "bob"})
    assert created.code == 200
    for peer in ("carol", "dave"):
        refused = await alice.post("/create_conversation_db", {"user_one": "alice", "user_two": peer})
        assert refused.code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "started too many new conversations" in json.loads(refused.body)["error"]
    assert sorted(p.name for p in chat_dir(config.data_dir).glob("*.db")) == ["alice_bob.db"]
    for n in range(3):  # the message limit (3) is whole: creating counted no message
        assert (await send_message(alice, "bob", f"message {n}")).code == 303
