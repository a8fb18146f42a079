"""What a board ranks, through HTTP: luck cannot be farmed by abandoning games or by throwaway
sessions, guests at one address share an entry without forfeiting each other's games, and look-alike
names are refused."""
import json
import time

import pytest

from parlor.game.games import Games
from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import MIN_GAMES, RECENT_GAMES, forfeit_guesses
from parlor.infra.config import Rate
from parlor.safety import Safety
from tests.helpers import Visitor, play_games, play_to_win, start_game, until

FARMED_GAMES = 1000


def entries(body: bytes) -> dict[str, dict]:
    return {entry["name"]: entry for entry in json.loads(body)["entries"]}


async def throwaway_start(http_client, base_url: str) -> Visitor:
    """A fresh session that starts a game at once, with an XSRF cookie it made up itself (as the
    attacker's script did): no page is loaded first."""
    visitor = Visitor(http_client, base_url)
    visitor.cookies["_xsrf"] = "farm-token"
    response = await visitor.post("/games", {"max": "10"})
    assert response.code == 303
    visitor.game = response.headers["Location"].rsplit("/", 1)[1]
    return visitor


@pytest.mark.gen_test(timeout=120)
async def test_a_script_that_finishes_only_lucky_games_ranks_below_an_honest_halver(
        http_server, http_client, base_url, redis_sync):
    """The attack: a fresh session per game, guess 1, name the board on a win, drop the rest.
    Every dropped game stays the forfeit it was recorded as when it started."""
    lucky = 0
    for _ in range(FARMED_GAMES):
        farmer = await throwaway_start(http_client, base_url)
        answer = await farmer.post(f"/games/{farmer.game}/guesses", {"guess": "1"})
        assert answer.code == 303
        if redis_sync.hget(f"game:{farmer.game}", "status") == "won":
            lucky += 1
            assert (await farmer.post(f"/games/{farmer.game}/name", {"name": "lucky farmer"})).code == 303
    assert lucky > 0  # about 100 of 1000
    # A signed-in gambler does the same in one session: each new game forfeits the open one.
    gambler = Visitor(http_client, base_url)
    await gambler.sign_up("gambler")
    for _ in range(3 * RECENT_GAMES):
        game_id = await start_game(gambler)
        await gambler.post(f"/games/{game_id}/guesses", {"guess": "1"})
    honest = Visitor(http_client, base_url)
    await honest.sign_up("honest")
    counts = await play_games(honest, RECENT_GAMES)
    board = entries((await honest.get("/scores/10.json?limit=100")).body)
    assert board["honest"]["average"] == round(sum(counts) / len(counts), 2) and board["honest"]["forfeits"] == 0
    assert board["honest"]["rank"] == 1
    farmed = board["lucky farmer"]
    assert farmed["guest"] and farmed["games"] == RECENT_GAMES and farmed["guesses"] == 1  # its best: a lucky one
    assert farmed["rank"] > board["honest"]["rank"] and farmed["average"] > board["honest"]["average"]
    assert farmed["forfeits"] >= RECENT_GAMES // 2  # nine in ten games are not lucky
    if "gambler" in board:  # on the board only if one of its last ten was lucky
        assert board["gambler"]["rank"] > board["honest"]["rank"]
    assert redis_sync.llen("recent:10:u:gambler") == RECENT_GAMES


@pytest.mark.gen_test(timeout=30)
async def test_an_abandoned_game_counts_as_a_forfeit_from_the_moment_it_starts(http_server, http_client, base_url):
    player = Visitor(http_client, base_url)
    await player.sign_up("quitter")
    counts = await play_games(player, MIN_GAMES)
    before = entries((await player.get("/scores/10.json")).body)["quitter"]
    assert before["games"] == MIN_GAMES and before["forfeits"] == 0
    await start_game(player)  # and never played
    after = entries((await player.get("/scores/10.json")).body)["quitter"]
    assert after["games"] == MIN_GAMES + 1 and after["forfeits"] == 1
    assert after["average"] == round((sum(counts) + forfeit_guesses(10)) / (MIN_GAMES + 1), 2)


@pytest.mark.gen_test(timeout=30)
async def test_starting_another_game_on_a_board_forfeits_the_open_one(http_server, http_client, base_url,
                                                                       redis_sync):
    player = Visitor(http_client, base_url)
    first = await start_game(player, 10)
    other_board = await start_game(player, 100)
    wrong = "5" if redis_sync.hget(f"game:{first}", "secret") != "5" else "6"
    await player.post(f"/games/{first}/guesses", {"guess": wrong})
    second = await start_game(player, 10)
    page = (await player.get(f"/games/{first}")).body.decode()
    assert 'data-status="forfeit"' in page and "counts as a forfeit" in page
    refused = await player.post(f"/games/{first}/guesses", {"guess": wrong})
    assert refused.code == 409 and "This game is over" in refused.body.decode()
    home = (await player.get("/")).body.decode()
    assert f'href="/games/{second}"' in home and f'href="/games/{first}"' not in home
    assert f'href="/games/{other_board}"' in home  # one open game per board: the other board's stays
    await play_to_win(player, other_board, 100)


@pytest.mark.gen_test(timeout=30)
async def test_guests_at_one_address_share_an_entry_and_do_not_forfeit_each_others_games(
        http_server, http_client, base_url, redis_sync):
    """A class of pupils behind one address: each plays their own game at the same time."""
    pupils = [Visitor(http_client, base_url) for _ in range(MIN_GAMES)]
    games = [await start_game(pupil) for pupil in pupils]
    for pupil, game_id in zip(pupils, games):
        await play_to_win(pupil, game_id)
        assert redis_sync.hget(f"game:{game_id}", "status") == "won"
    assert (await pupils[0].post(f"/games/{games[0]}/name", {"name": "Class 4b"})).code == 303
    (entry,) = json.loads((await pupils[0].get("/scores/10.json")).body)["entries"]
    assert (entry["name"], entry["guest"], entry["games"], entry["forfeits"]) == ("Class 4b", True, MIN_GAMES, 0)
    assert (await pupils[1].post(f"/games/{games[1]}/name", {"name": "Class 4c"})).code == 303
    (entry,) = json.loads((await pupils[1].get("/scores/10.json")).body)["entries"]
    assert entry["name"] == "Class 4c"  # the last name given from the address is shown


@pytest.mark.gen_test(timeout=30)
async def test_guests_at_other_addresses_have_entries_of_their_own(proxied_url, http_client, redis_sync):
    for address, name in (("203.0.113.7", "school"), ("2001:db8:1:2::5", "home")):
        guest = Visitor(http_client, proxied_url, address=address)
        await play_games(guest, MIN_GAMES - 1)
        game_id = await start_game(guest)
        await play_to_win(guest, game_id)
        assert (await guest.post(f"/games/{game_id}/name", {"name": name})).code == 303
    # The same /64 is the same household: its other addresses add to its entry.
    neighbour = Visitor(http_client, proxied_url, address="2001:db8:1:2:ffff::1")
    await play_games(neighbour, 1)
    board = entries((await neighbour.get("/scores/10.json")).body)
    assert set(board) == {"school", "home"} and board["home"]["games"] == MIN_GAMES + 1
    assert redis_sync.exists("recent:10:a:2001:db8:1:2::/64")


@pytest.mark.gen_test(timeout=30)
async def test_a_game_started_as_a_guest_counts_for_the_guests_even_when_won_after_login(
        http_server, http_client, base_url, redis_sync):
    """Else a guest could log in only when a game goes well."""
    await Visitor(http_client, base_url).sign_up("returning")
    visitor = Visitor(http_client, base_url)
    game_id = await start_game(visitor)
    assert (await visitor.log_in("returning")).code == 303
    await play_to_win(visitor, game_id)
    assert redis_sync.llen("recent:10:u:returning") == 0
    assert redis_sync.lindex("recent:10:a:127.0.0.1", 0).startswith(f"{game_id}:")
    assert 'id="claim-form"' in (await visitor.get(f"/games/{game_id}")).body.decode()


@pytest.mark.parametrize("name", ["\u0430lice1", "alice1\u034f", "ALICE1", "alice1\u180b", "alicel", "ａｌｉｃｅ１",
                                  "aIice1", "\u0410LICE1"])
@pytest.mark.gen_test(timeout=30)
async def test_a_guest_name_that_looks_like_a_username_is_refused(http_server, http_client, base_url, redis_sync,
                                                                   name):
    await Visitor(http_client, base_url).sign_up("alice1")
    guest = Visitor(http_client, base_url)
    game_id = await start_game(guest)
    await play_to_win(guest, game_id)
    refused = await guest.post(f"/games/{game_id}/name", {"name": name})
    assert refused.code == 400 and "looks like one" in refused.body.decode()
    assert redis_sync.hget("scores:10:entry:a:127.0.0.1", "name") is None


@pytest.mark.config(guest_name_limit=Rate(3, 3600))
@pytest.mark.gen_test(timeout=30)
async def test_refused_guest_names_are_counted_so_names_cannot_be_tried_out(http_server, http_client, base_url,
                                                                            redis_sync, app):
    """A refused name does not use the won game up, so a guest could try names one after another
    and learn which are usernames. Refusals count per address; past the limit a free name and a
    taken one get the same 429, and the game is still there to name later."""
    for name in ("alice", "bob", "carol"):
        await app.accounts.create(name, "correct horse")
    guest = Visitor(http_client, base_url)
    game_id = await start_game(guest)
    await play_to_win(guest, game_id)
    for name in ("alice", "b0b", "carol"):  # a name, a look-alike, a name: three refusals
        refused = await guest.post(f"/games/{game_id}/name", {"name": name})
        assert refused.code == 400 and "belongs to a registered player" in refused.body.decode()
    for name in ("dave", "free-name"):  # dave is no account, and neither is the other
        over = await guest.post(f"/games/{game_id}/name", {"name": name})
        assert over.code == 429 and "Too many names were refused from your address" in over.body.decode()
        assert int(over.headers["Retry-After"]) > 0 and "registered player" not in over.body.decode()
    other = Visitor(http_client, base_url)  # a new session at the same address is counted with it
    other_game = await start_game(other)
    await play_to_win(other, other_game)
    assert (await other.post(f"/games/{other_game}/name", {"name": "alice"})).code == 429
    assert redis_sync.hget("scores:10:entry:a:127.0.0.1", "name") is None


@pytest.mark.parametrize("taken,look_alike", [("alice1", "alicel"), ("mallory", "rnallory"), ("bob0", "bobo"),
                                              ("ann-lee", "ann-1ee")])
@pytest.mark.gen_test(timeout=30)
async def test_a_username_that_looks_like_a_taken_one_is_refused(http_server, http_client, base_url, redis_sync,
                                                                 taken, look_alike):
    await Visitor(http_client, base_url).sign_up(taken)
    refused = await Visitor(http_client, base_url).post("/signup", {"username": look_alike, "password": "long enough"})
    assert refused.code == 409 and f"looks too much like “{taken}”" in refused.body.decode()
    assert not redis_sync.exists(f"user:{look_alike}")


@pytest.mark.gen_test(timeout=30)
async def test_a_left_names_look_alikes_stay_reserved_with_it(http_server, http_client, base_url, redis_sync):
    leaver = Visitor(http_client, base_url)
    await leaver.sign_up("alice1")
    assert (await leaver.post("/account/delete", {"password": "correct horse"})).code == 303
    refused = await Visitor(http_client, base_url).post("/signup", {"username": "alicel", "password": "long enough"})
    assert refused.code == 409
    assert 0 < redis_sync.ttl("look-alike:alicel") <= 30 * 86400


@pytest.mark.gen_test(timeout=30)
async def test_guest_entries_expire(http_server, http_client, base_url, redis_sync, app):
    from parlor.game.ranking import GUEST_ENTRY_TTL_S

    guest = Visitor(http_client, base_url)
    counts = await play_games(guest, MIN_GAMES)
    game_id = await start_game(guest)
    await play_to_win(guest, game_id)
    assert (await guest.post(f"/games/{game_id}/name", {"name": "passing by"})).code == 303
    assert len(counts) and redis_sync.ttl("recent:10:a:127.0.0.1") > GUEST_ENTRY_TTL_S - 60
    assert await app.leaderboards.sweep_guests() == 0  # not yet
    week_ago = int((time.time() - GUEST_ENTRY_TTL_S - 1) * 1000)
    redis_sync.zadd("scores:10:guests", {"a:127.0.0.1": week_ago})  # as if its last game were a week old
    assert await app.leaderboards.sweep_guests() == 1
    assert json.loads((await guest.get("/scores/10.json")).body)["entries"] == []
    assert not redis_sync.exists("recent:10:a:127.0.0.1", "scores:10:entry:a:127.0.0.1")


@pytest.mark.gen_test(timeout=60)
async def test_a_win_on_one_process_shows_at_once_in_the_others_fragment(
        http_server, http_client, base_url, second_app):
    other, other_url = second_app
    scraper = Visitor(http_client, other_url)
    player = Visitor(http_client, base_url)
    await player.sign_up("alice")
    await play_games(player, MIN_GAMES - 1)
    before = await scraper.get("/scores/10/fragment")
    assert 'data-name="alice"' not in before.body.decode()  # the other process holds this one
    await other.listener.stop()  # its notice of the win is late (pub/sub is not read-your-writes)
    await play_games(player, 1)  # the win that puts her on the board
    after = await scraper.get("/scores/10/fragment")
    assert 'data-name="alice"' in after.body.decode() and after.headers["ETag"] != before.headers["ETag"]


@pytest.mark.lease_timing(fresh_s=0.1, join_wait_s=0.1, lease_s=1.0)
@pytest.mark.gen_test(timeout=60)
async def test_a_win_is_answered_only_when_no_other_process_can_answer_the_board_from_before_it(
        http_server, http_client, base_url, app, second_app, redis_sync):
    other, other_url = second_app
    scraper, player = Visitor(http_client, other_url), Visitor(http_client, base_url)
    await player.sign_up("alice")
    # Her other games, won elsewhere (a process that keeps no copies): one more win ranks her.
    elsewhere = Games(app.redis, Leaderboards(app.redis, (10,)), safety=Safety.unlimited(app.redis))
    for _ in range(MIN_GAMES - 1):
        game_id = await elsewhere.start("p1", 10, user="alice")
        await elsewhere.guess(game_id, "p1", redis_sync.hget(f"game:{game_id}", "secret"), "alice")
    game_id = await start_game(player)
    await app.processes.beat()
    assert app.processes.others == {other.processes.process}  # the two know each other
    await until(lambda: other.processes.trusts(other.processes.clock()))
    before = await scraper.get("/scores/10/fragment")  # kept by the other process, trusted for 1 s
    await other.listener.stop()  # and its notice of the win never comes
    await play_to_win(player, game_id)
    after = await scraper.get("/scores/10/fragment")
    version = redis_sync.hget("scores:10:meta", "version")
    assert f'data-version="{version}"' in after.body.decode() and after.headers["ETag"] != before.headers["ETag"]
    assert 'data-forfeits="1"' in before.body.decode() and 'data-forfeits="0"' in after.body.decode()
