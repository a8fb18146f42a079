"""Leaving removes every Redis key of the account: a later account with the name inherits nothing
(no histogram, no "already published" marker, no rate bucket), and only the name's 30-day
reservation stays."""
import asyncio

import pytest

from parlor.game.ranking import MIN_GAMES
from parlor.infra.config import Config, Rate
from tests.helpers import Visitor, admin_visitor, play_games, send_message, start_game, until, users
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
