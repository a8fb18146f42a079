"""The game through HTTP against the real app: play, bad input, ownership, claiming a place."""
import re

import pytest

from parlor.game.ranking import MIN_GAMES, RECENT_GAMES
from tests.helpers import Visitor, play_games, play_to_win, start_game


def guess_count(body: str) -> int:
    match = re.search(r'<span class="count">(\d+)</span>', body)
    return int(match.group(1)) if match else 0


@pytest.mark.gen_test(timeout=30)
async def test_a_whole_game_without_javascript(http_server, http_client, base_url, redis_sync):
    visitor = Visitor(http_client, base_url)
    earlier = await play_games(visitor, MIN_GAMES - 1)  # the board ranks players from MIN_GAMES games
    game_id = await start_game(visitor, 10)
    secret = int(redis_sync.hget(f"game:{game_id}", "secret"))
    wrong, other = [n for n in (1, 10, 2) if n != secret][:2]
    response = await visitor.post(f"/games/{game_id}/guesses", {"guess": str(wrong)})
    assert response.code == 303 and response.headers["Location"] == f"/games/{game_id}"
    page = (await visitor.get(f"/games/{game_id}")).body.decode()
    assert f'<span class="value">{wrong}</span> <span class="word">{"higher" if wrong < secret else "lower"}</span>' in page
    repeated = await visitor.post(f"/games/{game_id}/guesses", {"guess": str(wrong)})  # refused, not counted
    assert repeated.code == 409 and f"You already guessed {wrong}" in repeated.body.decode()
    await visitor.post(f"/games/{game_id}/guesses", {"guess": str(other)})
    await visitor.post(f"/games/{game_id}/guesses", {"guess": str(secret)})
    page = (await visitor.get(f"/games/{game_id}")).body.decode()
    assert "Correct! You found it in 3 guesses." in page
    again = re.search(r'<form id="again-form"[^>]*action="/games">.*?</form>', page, re.S).group(0)
    assert '<input type="hidden" name="max" value="10">' in again and "Play again" in again  # the same board
    assert 'id="claim-form"' in page  # a guest names themself for the board
    claimed = await visitor.post(f"/games/{game_id}/name", {"name": "  Sam the guest "})
    assert claimed.code == 303
    page = (await visitor.get(f"/games/{game_id}")).body.decode()
    assert "You are <strong>#1</strong>" in page
    board = (await visitor.get("/scores/10")).body.decode()
    assert f'data-name="Sam the guest" data-guest="true" data-guesses="{min(earlier + [3])}"' in board
    assert f'data-average="{(sum(earlier) + 3) / MIN_GAMES:.2f}" data-games="{MIN_GAMES}" data-forfeits="0"' in board
    again = await visitor.post(f"/games/{game_id}/name", {"name": "Sam again"})
    assert again.code == 409 and "on the board already" in again.body.decode()


@pytest.mark.gen_test
async def test_with_htmx_a_guess_returns_only_the_game_fragment(http_server, http_client, base_url):
    visitor = Visitor(http_client, base_url)
    game_id = await start_game(visitor, 100)
    response = await visitor.post(f"/games/{game_id}/guesses", {"guess": "50"}, headers={"HX-Request": "true"})
    body = response.body.decode()
    assert response.code == 200 and body.startswith('<section id="game"') and "<html" not in body
    assert guess_count(body) == 1


BAD_GUESSES = [
    ("١٢", "digits 0–9"), (" 12 ", "digits 0–9"), ("1_000", "digits 0–9"), ("+7", "digits 0–9"),
    ("-1", "digits 0–9"), ("", "digits 0–9"), ("12345678", "digits 0–9"), ("abc", "digits 0–9"),
    ("0", "between 1 and 10"), ("11", "between 1 and 10"), ("9999999", "between 1 and 10"),
]


@pytest.mark.parametrize("raw,message", BAD_GUESSES)
@pytest.mark.gen_test
async def test_bad_guesses_are_refused_and_not_counted(http_server, http_client, base_url, redis_sync, raw, message):
    visitor = Visitor(http_client, base_url)
    game_id = await start_game(visitor, 10)
    for headers in ({}, {"HX-Request": "true"}):
        response = await visitor.post(f"/games/{game_id}/guesses", {"guess": raw}, headers=headers)
        assert response.code == 400
        assert message in response.body.decode()
        assert 'id="game"' in response.body.decode()  # the reason is shown in the game
    assert redis_sync.hget(f"game:{game_id}", "count") == "0"
    assert redis_sync.llen(f"game:{game_id}:guesses") == 0


@pytest.mark.gen_test
async def test_someone_elses_game_is_not_found(http_server, http_client, base_url, redis_sync):
    owner, stranger = Visitor(http_client, base_url), Visitor(http_client, base_url)
    game_id = await start_game(owner)
    await start_game(stranger)  # the stranger has a session of their own
    assert (await stranger.get(f"/games/{game_id}")).code == 404
    response = await stranger.post(f"/games/{game_id}/guesses", {"guess": "5"})
    assert response.code == 404 and "no such game" in response.body.decode()
    assert redis_sync.hget(f"game:{game_id}", "count") == "0"
    assert (await owner.get("/games/not-a-real-game")).code == 404


@pytest.mark.gen_test
async def test_a_finished_game_takes_no_more_guesses(http_server, http_client, base_url, redis_sync):
    visitor = Visitor(http_client, base_url)
    game_id = await start_game(visitor)
    count = await play_to_win(visitor, game_id)
    response = await visitor.post(f"/games/{game_id}/guesses", {"guess": "5"})
    assert response.code == 409 and "This game is over" in response.body.decode()
    assert redis_sync.hget(f"game:{game_id}", "count") == str(count)


@pytest.mark.parametrize("board", ["7", "abc", "", "100000000000", "²", "１０", "١٠"])
@pytest.mark.gen_test
async def test_a_game_only_starts_on_a_configured_board(http_server, http_client, base_url, redis_sync, board):
    response = await Visitor(http_client, base_url).post("/games", {"max": board})
    assert response.code == 400 and "Choose one of the boards" in response.body.decode()
    assert redis_sync.keys("game:*") == []


@pytest.mark.gen_test
async def test_the_guests_running_game_is_still_playable_after_login(http_server, http_client, base_url,
                                                                    redis_sync):
    await Visitor(http_client, base_url).sign_up("returning")
    visitor = Visitor(http_client, base_url)
    game_id = await start_game(visitor, 100)
    below = redis_sync.hget(f"game:{game_id}", "secret") != "1"
    await visitor.post(f"/games/{game_id}/guesses", {"guess": "1" if below else "100"})  # a wrong guess
    old_session = visitor.cookies["parlor_session"]
    assert (await visitor.log_in("returning")).code == 303
    assert visitor.cookies["parlor_session"] != old_session
    home = (await visitor.get("/")).body.decode()
    assert f'href="/games/{game_id}"' in home  # listed among the games in progress
    await play_to_win(visitor, game_id, 100, low=2 if below else 1, high=100 if below else 99)
    page = (await visitor.get(f"/games/{game_id}")).body.decode()
    assert "Correct!" in page and 'id="claim-form"' in page  # it counts for the guests, as it began


@pytest.mark.parametrize("name", ["returning", "RETURNING", "ｒｅｔｕｒｎｉｎｇ", "eliza"])
@pytest.mark.gen_test
async def test_a_guest_cannot_take_a_registered_name(http_server, http_client, base_url, redis_sync, name):
    await Visitor(http_client, base_url).sign_up("returning")
    guest = Visitor(http_client, base_url)
    game_id = await start_game(guest)
    await play_to_win(guest, game_id)
    response = await guest.post(f"/games/{game_id}/name", {"name": name})
    assert response.code == 400 and "belongs to a registered player" in response.body.decode()
    assert redis_sync.zcard("scores:10") == 0


@pytest.mark.gen_test
async def test_a_guest_name_with_markup_is_escaped_everywhere(http_server, http_client, base_url):
    guest = Visitor(http_client, base_url)
    await play_games(guest, MIN_GAMES - 1)
    game_id = await start_game(guest)
    await play_to_win(guest, game_id)
    name = "<script>x</script>"
    assert (await guest.post(f"/games/{game_id}/name", {"name": name})).code == 303
    for path in ("/scores/10", "/scores/10/fragment", "/", "/scores"):
        body = (await guest.get(path)).body.decode()
        assert "<script>x" not in body
        assert "&lt;script&gt;x&lt;/script&gt;" in body
    as_json = (await guest.get("/scores/10.json")).body.decode()
    assert "<script>" not in as_json and "\\u003cscript>x\\u003c/script>" in as_json


@pytest.mark.gen_test
async def test_the_boards_page_says_what_a_board_ranks(http_server, http_client, base_url):
    body = (await Visitor(http_client, base_url).get("/scores")).body.decode()
    assert f"average guesses over their last {RECENT_GAMES} games" in body
    assert f"at least {MIN_GAMES} to be ranked" in body
