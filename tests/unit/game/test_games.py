"""parlor/game/games.py against a real Redis: the server keeps the secret and counts every guess."""
import asyncio
import json
import re
import time

import pytest
import redis.asyncio as aioredis

from parlor.game.games import (
    GAME_TTL_S,
    GAMES_SHOWN,
    GUEST_HISTORY_TTL_S,
    GUESTS_UNRANKED,
    MAX_GUESSES,
    NO_SUCH_GAME,
    Games,
    Guess,
    clean_guest_name,
    folded,
    parse_guess,
)
from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import HISTORY_LENGTH, MIN_GAMES, forfeit_guesses
from parlor.infra.config import Rate
from parlor.refusals import Refused
from parlor.safety import Safety
from tests.unit.game.playing import BIG_BOARD, NAME_RULE, nobody, win


NOT_A_NUMBER = "A guess is a whole number written with the digits 0–9, nothing else."


async def guess_wrong(games, redis_sync, game_id, times, user, player="p1"):
    """Guess wrong `times` times, a different number each time; returns the secret."""
    secret = int(redis_sync.hget(f"game:{game_id}", "secret"))
    wrong = (n for n in range(1, BIG_BOARD + 1) if n != secret)
    for _ in range(times):
        await games.guess(game_id, player, str(next(wrong)), user)
    return secret


@pytest.mark.parametrize("raw", ["١٢", " 12 ", "1_000", "+7", "-1", "", "12345678", "1e3", "0x1", "٣", "１２", None])
def test_guesses_are_ascii_digits_only(raw):
    with pytest.raises(Refused) as refused:
        parse_guess(raw)
    assert refused.value.kind == "invalid" and str(refused.value) == NOT_A_NUMBER


def test_guest_names():
    assert clean_guest_name("  Sam  ") == "Sam"
    for bad in ("ab", "x" * 25, "tab\there", "new\nline", "", None):
        with pytest.raises(Refused):
            clean_guest_name(bad)
    assert folded("ＡＤＭＩＮ") == "admin"


@pytest.mark.gen_test
async def test_the_secret_is_in_range_and_the_game_is_only_its_players(games, redis_sync):
    secrets_seen = set()
    for _ in range(60):
        game_id = await games.start("p1", 10)
        secrets_seen.add(int(redis_sync.hget(f"game:{game_id}", "secret")))
    assert secrets_seen <= set(range(1, 11)) and len(secrets_seen) > 3  # drawn, not fixed
    game = await games.load(game_id, "p1")
    assert game.status == "playing" and game.count == 0
    assert await games.load(game_id, "someone-else") is None


@pytest.mark.gen_test(timeout=60)
async def test_a_game_reaching_1000_guesses_ends_as_a_forfeit(games, redis_sync):
    game_id = await games.start("p1", BIG_BOARD, address="198.51.100.1")
    secret = await guess_wrong(games, redis_sync, game_id, MAX_GUESSES - 1, None)
    game = await games.guess(game_id, "p1", str(BIG_BOARD if secret != BIG_BOARD else BIG_BOARD - 1), None)
    assert game.status == "unranked" and game.count == MAX_GUESSES
    with pytest.raises(Refused) as over:
        await games.guess(game_id, "p1", str(secret), None)
    assert over.value.kind == "conflict"
    assert redis_sync.lrange(f"recent:{BIG_BOARD}:a:198.51.100.1", 0, -1) == [f"{game_id}:0"]  # still a forfeit
    assert '"status":"unranked"' in redis_sync.lindex("history:g:p1", 0)


@pytest.mark.gen_test
async def test_a_signed_in_win_counts_for_the_users_entry_at_once(games, redis_sync):
    game_id = await games.start("p1", 10, user="alice")
    assert redis_sync.lrange("recent:10:u:alice", 0, -1) == [f"{game_id}:0"]  # a forfeit until won
    secret = redis_sync.hget(f"game:{game_id}", "secret")
    game = await games.guess(game_id, "p1", secret, "alice")
    assert game.status == "won" and game.member == "u:alice"
    assert redis_sync.lrange("recent:10:u:alice", 0, -1) == [f"{game_id}:1"]
    assert redis_sync.hget("scores:10:entry:u:alice", "guest") == "0"
    assert redis_sync.zscore("scores:10", "u:alice") is None  # one game is no standing
    assert len(await games.history("alice", "p1")) == 1


@pytest.mark.gen_test(timeout=30)
async def test_a_guess_returns_the_players_standing_only_when_it_changed_their_entry(games, redis_sync):
    from parlor.game.ranking import MIN_GAMES

    async def win(user):
        game_id = await games.start("p1", 10, user=user)
        return await games.guess(game_id, "p1", redis_sync.hget(f"game:{game_id}", "secret"), user)

    assert [(await win("alice")).standing for _ in range(MIN_GAMES - 1)] == [None] * (MIN_GAMES - 1)  # unranked
    ranked = await win("alice")  # the game that puts her on the board
    assert ranked.standing.member == "u:alice" and ranked.standing.rank == 1 and ranked.standing.games == MIN_GAMES
    for _ in range(MIN_GAMES):
        assert (await win(None)).standing is None  # a guest's entry: nobody to tell



@pytest.mark.gen_test(timeout=30)
async def test_the_standing_comes_with_the_win_that_first_changes_a_board_and_not_with_one_that_leaves_it(
        games, redis_sync):
    for _ in range(MIN_GAMES - 1):
        await games.start("p1", 10, user="alice")  # each forfeited by the next: enough games, none won
    first = await win(games, redis_sync, "p1", user="alice")  # the board's first change (its version 1)
    assert first.standing.member == "u:alice" and first.standing.rank == 1
    slow = await win(games, redis_sync, "p1", user="alice", wrong=forfeit_guesses(10))  # counts as its forfeit did
    assert slow.status == "won" and slow.standing is None

@pytest.mark.gen_test(timeout=60)
async def test_a_right_answer_on_the_1000th_guess_is_still_a_forfeit(games, redis_sync):
    game_id = await games.start("p1", BIG_BOARD, user="alice")
    secret = await guess_wrong(games, redis_sync, game_id, MAX_GUESSES - 1, "alice")
    game = await games.guess(game_id, "p1", str(secret), "alice")
    assert game.status == "unranked"
    assert redis_sync.lrange(f"recent:{BIG_BOARD}:u:alice", 0, -1) == [f"{game_id}:0"]


@pytest.mark.gen_test
async def test_a_number_already_guessed_is_refused_and_not_counted(games, redis_sync):
    game_id = await games.start("p1", 100)
    secret = int(redis_sync.hget(f"game:{game_id}", "secret"))
    low = 1 if secret != 1 else 2  # a wrong guess, and which way the secret lies from it
    await games.guess(game_id, "p1", str(low), None)
    for again in (str(low), "0" + str(low)):  # written another way, it is the same number
        with pytest.raises(Refused) as repeated:
            await games.guess(game_id, "p1", again, None)
        assert repeated.value.kind == "conflict"
        assert f"already guessed {low}" in repeated.value.message
        assert ("higher" if secret > low else "lower") in repeated.value.message
    game = await games.load(game_id, "p1")
    assert game.count == 1 and game.status == "playing"
    assert game.remaining == ((low + 1, 100) if secret > low else (1, low - 1))  # where it can still be
    assert (await games.guess(game_id, "p1", str(secret), None)).status == "won"


@pytest.mark.gen_test
async def test_one_open_game_per_board_and_player(games, redis_sync):
    first = await games.start("p1", 10)
    other_board = await games.start("p1", 100)
    someone_else = await games.start("p2", 10)  # another guest at the same address
    second = await games.start("p1", 10)
    statuses = {g: redis_sync.hget(f"game:{g}", "status") for g in (first, other_board, someone_else, second)}
    assert statuses == {first: "forfeit", other_board: "playing", someone_else: "playing", second: "playing"}
    assert '"status":"forfeit"' in redis_sync.lindex("history:g:p1", 0)
    assert [g.id for g in await games.in_progress("p1")] == [second, other_board]
    assert len(redis_sync.lrange("recent:10:a:-", 0, -1)) == 3  # all three count, as forfeits for now


@pytest.mark.gen_test(timeout=30)
async def test_every_win_counts_in_its_boards_histogram_and_the_players_own(games, redis_sync):
    async def win(player, user, wrong):
        game_id = await games.start(player, 100)
        secret = await guess_wrong(games, redis_sync, game_id, wrong, user, player)
        return await games.guess(game_id, player, str(secret), user)

    await win("p1", "alice", 2)  # three guesses
    await win("p1", "alice", 2)  # three again: a worse-or-equal game, off the board but counted
    await win("p1", None, 4)  # five, as a guest
    await win("p2", None, 0)  # one, someone else
    unranked = await games.start("p1", 10)  # a game never won is not counted
    await guess_wrong(games, redis_sync, unranked, 1, "alice")
    stats = await games.leaderboards.stats(100, ["u:alice"])
    assert stats.counts == {3: 2, 5: 1, 1: 1} and stats.games == 4
    assert stats.mine == {3: 2}
    both = await games.leaderboards.stats(100, ["u:alice", "g:p1"])
    assert both.mine == {3: 2, 5: 1}
    assert (await games.leaderboards.stats(10, ["u:alice"])).counts == {}
    assert redis_sync.ttl("histogram:100:g:p1") > 0 and redis_sync.ttl("histogram:100:u:alice") == -1
    assert redis_sync.ttl("histogram:100") == -1
    assert both.as_json()["histogram"] == [{"guesses": 1, "games": 1, "mine": 0}, {"guesses": 3, "games": 2, "mine": 2},
                                           {"guesses": 5, "games": 1, "mine": 1}]


@pytest.mark.parametrize("board, best", [(1, 1), (7, 3), (8, 4), (10, 4), (25, 5), (100, 7), (1000, 10), (1023, 10), (1024, 11)])
def test_best_possible_is_ceil_log2_of_max_plus_one(board, best):
    import math

    from parlor.game.ranking import best_possible

    assert best_possible(board) == best == math.ceil(math.log2(board + 1))


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize("raw, board", [("1", 10), ("10", 10), ("0000007", None), ("9999999", None)])
def test_guesses_at_the_ends_of_the_range_are_taken(raw, board):
    assert parse_guess(raw, board) == int(raw)


@pytest.mark.parametrize("raw, board, message", [
    ("0", 10, "Your guess must be between 1 and 10."),
    ("11", 10, "Your guess must be between 1 and 10."),
    ("12a", 10, NOT_A_NUMBER),
])
def test_a_guess_out_of_the_boards_range_says_the_range(raw, board, message):
    with pytest.raises(Refused) as refused:
        parse_guess(raw, board)
    assert (refused.value.kind, str(refused.value)) == ("invalid", message)


@pytest.mark.parametrize("raw", ["ab", "x" * 25, "  ab  ", "tab\there", "", None])
def test_a_refused_guest_name_says_the_rule(raw):
    with pytest.raises(Refused) as refused:
        clean_guest_name(raw)
    assert (refused.value.kind, str(refused.value)) == ("invalid", NAME_RULE)


@pytest.mark.parametrize("raw", ["abc", "x" * 24, " Zoë the 2nd "])
def test_guest_names_of_3_to_24_characters_are_taken(raw):
    assert clean_guest_name(raw) == raw.strip()


@pytest.mark.gen_test
async def test_a_won_game_knows_its_guesses_and_when_it_started_and_finished(games, redis_sync):
    before = now_ms()
    game_id = await games.start("p1", 10)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", game_id)  # 12 random bytes
    secret = int(redis_sync.hget(f"game:{game_id}", "secret"))
    playing = await games.load(game_id, "p1")
    assert before <= playing.started_ms <= now_ms() and playing.finished_ms is None
    assert 0 <= playing.duration_ms <= now_ms() - before and not playing.finished
    low, high = (secret - 1, "h") if secret > 1 else (secret + 1, "l")
    await games.guess(game_id, "p1", str(low), None)
    game = await games.guess(game_id, "p1", str(secret), None)
    after = now_ms()
    assert game.guesses == [Guess(low, high), Guess(secret, "c")] and game.count == 2
    assert [guess.word for guess in game.guesses] == [{"h": "higher", "l": "lower"}[high], "correct"]
    assert game.status == "won" and game.finished
    assert before <= game.started_ms <= game.finished_ms <= after
    assert game.duration_ms == game.finished_ms - game.started_ms
    assert json.loads(redis_sync.lindex("history:g:p1", 0)) == {
        "board": 10, "guesses": 2, "status": "won", "finished_ms": game.finished_ms,
        "duration_ms": game.duration_ms}
    assert redis_sync.zscore("player:p1:games", game_id) is None  # no longer in progress


@pytest.mark.gen_test
async def test_a_game_starts_only_on_a_board_offered(games, redis_sync):
    with pytest.raises(Refused) as refused:
        await games.start("p1", 1000)
    assert (refused.value.kind, str(refused.value)) == ("invalid", "Choose one of the boards offered.")
    assert redis_sync.keys("*") == []


@pytest.mark.parametrize("game, player, raw, kind, message", [
    ("none", "p1", "5", "not_found", NO_SUCH_GAME),
    ("playing", "p2", "5", "not_found", NO_SUCH_GAME),  # another player's
    ("playing", None, "5", "not_found", NO_SUCH_GAME),  # no session
    ("playing", "p1", "11", "invalid", "Your guess must be between 1 and 10."),
    ("playing", "p1", "five", "invalid", NOT_A_NUMBER),
    ("won", "p1", "5", "conflict", "This game is over. Start a new one!"),
])
@pytest.mark.gen_test
async def test_a_refused_guess_says_why_and_counts_nothing(games, redis_sync, game, player, raw, kind, message):
    game_ids = {"none": "no-such-game", "playing": await games.start("p1", 10),
                "won": (await win(games, redis_sync, "p1", board=100)).id}
    counts = {g: redis_sync.hget(f"game:{g}", "count") for g in game_ids.values()}
    with pytest.raises(Refused) as refused:
        await games.guess(game_ids[game], player, raw, None)
    assert (refused.value.kind, str(refused.value)) == (kind, message)
    assert {g: redis_sync.hget(f"game:{g}", "count") for g in game_ids.values()} == counts


@pytest.mark.gen_test
async def test_each_game_has_its_own_guess_budget(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    games = Games(client, Leaderboards(client, (100,)), guess_limit=Rate(2, 60), safety=Safety.unlimited(client))
    first, second = await games.start("p1", 100), await games.start("p2", 100)
    secret = redis_sync.hget(f"game:{first}", "secret")
    wrong = (str(n) for n in range(1, 101) if str(n) != secret)  # a repeat would not be counted
    for _ in range(2):
        await games.guess(first, "p1", next(wrong), None)
    with pytest.raises(Refused) as refused:
        await games.guess(first, "p1", next(wrong), None)
    assert refused.value.kind == "too_many" and refused.value.retry_after == 30  # one more every 30 s
    assert str(refused.value) == "Too many guesses at once. Wait 30 seconds and guess again."
    assert 0 < redis_sync.pttl(f"rate:guesses:{first}") <= 60_000
    other_secret = redis_sync.hget(f"game:{second}", "secret")
    other_wrong = (str(n) for n in range(1, 101) if str(n) != other_secret)
    for _ in range(2):
        await games.guess(second, "p2", next(other_wrong), None)  # the other game's budget is untouched
    assert redis_sync.hget(f"game:{first}", "count") == "2"
    await client.aclose()


@pytest.mark.gen_test
async def test_a_signed_in_players_open_game_is_theirs_in_every_browser(games, redis_sync):
    first = await games.start("p1", 10, user="alice")
    second = await games.start("p2", 10, user="alice")  # alice again, in another browser
    assert redis_sync.hget(f"game:{first}", "status") == "forfeit"
    assert [entry["status"] for entry in await games.history("alice", "p2")] == ["forfeit"]
    assert redis_sync.hget("scores:10:entry:u:alice", "name") == "alice"
    assert redis_sync.lrange("recent:10:u:alice", 0, -1) == [f"{second}:0", f"{first}:0"]


@pytest.mark.gen_test
async def test_a_guests_own_history_goes_with_their_session_and_a_users_stays(games, redis_sync):
    for user, player in ((None, "p1"), ("alice", "p3")):
        await games.start(player, 10, user=user)
        await games.start(player, 10, user=user)  # forfeits the first
    assert GUEST_HISTORY_TTL_S - 5 < redis_sync.ttl("history:g:p1") <= GUEST_HISTORY_TTL_S
    assert redis_sync.ttl("history:u:alice") == -1
    for user, player in ((None, "p1"), ("alice", "p3")):
        await win(games, redis_sync, player, user=user, board=100)
    assert [(e["board"], e["status"]) for e in await games.history(None, "p1")] == [(100, "won"), (10, "forfeit")]
    assert await games.history(None, "p2") == []  # another guest's is not theirs
    assert GUEST_HISTORY_TTL_S - 5 < redis_sync.ttl("history:g:p1") <= GUEST_HISTORY_TTL_S
    assert len(await games.history("alice", "p3")) == 2 and redis_sync.ttl("history:u:alice") == -1


@pytest.mark.gen_test
async def test_guest_games_count_for_no_entry_when_guests_are_not_ranked(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    games = Games(client, Leaderboards(client, (10,)), guest_entries=False, safety=Safety.unlimited(client))
    guest = await win(games, redis_sync, "p1")
    assert guest.member == "" and redis_sync.keys("recent:*") == []
    with pytest.raises(Refused) as refused:
        await games.claim(guest.id, "p1", "Sam", name_is_taken=nobody)
    assert (refused.value.kind, str(refused.value)) == ("conflict", GUESTS_UNRANKED)
    assert (await win(games, redis_sync, "p2", user="alice")).member == "u:alice"  # users still count
    assert redis_sync.keys("recent:*") == ["recent:10:u:alice"]
    await client.aclose()


@pytest.mark.gen_test
async def test_the_games_in_progress_are_the_newest_twenty_still_kept(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    boards = tuple(range(10, 10 + GAMES_SHOWN + 2))
    games = Games(client, Leaderboards(client, boards), safety=Safety.unlimited(client))
    started = []
    for board in boards:
        started.append(await games.start("p1", board))
        await asyncio.sleep(0.002)  # one start per millisecond at most: the order is the start time
    newest = started[::-1][:GAMES_SHOWN]
    assert [game.id for game in await games.in_progress("p1")] == newest
    redis_sync.delete(f"game:{newest[0]}")  # expired
    assert [game.id for game in await games.in_progress("p1")] == newest[1:]
    assert await games.in_progress(None) == []
    await client.aclose()


@pytest.mark.gen_test(timeout=60)
async def test_a_players_history_keeps_their_last_hundred_games(games, redis_sync):
    for _ in range(HISTORY_LENGTH + 1):
        await win(games, redis_sync, "p1", user="alice")
    assert redis_sync.llen("history:u:alice") == HISTORY_LENGTH
    assert len(await games.history("alice", "p1")) == HISTORY_LENGTH


@pytest.mark.gen_test
async def test_a_game_is_kept_a_day_after_its_last_guess(games, redis_sync):
    game_id = await games.start("p1", 100)
    for key in (f"game:{game_id}", f"game:{game_id}:guesses"):
        redis_sync.expire(key, 60)  # as if started almost a day ago
    await guess_wrong(games, redis_sync, game_id, 2, None)
    assert GAME_TTL_S - 5 < redis_sync.ttl(f"game:{game_id}") <= GAME_TTL_S
    assert GAME_TTL_S - 5 < redis_sync.ttl(f"game:{game_id}:guesses") <= GAME_TTL_S


@pytest.mark.gen_test
async def test_a_new_game_forfeits_only_an_open_one_and_drops_games_older_than_a_day(games, redis_sync):
    won = await win(games, redis_sync, "p1")
    redis_sync.zadd("player:p1:games", {"a-day-old": now_ms() - GAME_TTL_S * 1000 - 1})
    await games.start("p1", 10)
    assert redis_sync.hget(f"game:{won.id}", "status") == "won"
    assert [entry["status"] for entry in await games.history(None, "p1")] == ["won"]
    assert redis_sync.zscore("player:p1:games", "a-day-old") is None


@pytest.mark.gen_test
async def test_a_viewers_own_games_add_up_across_their_account_and_their_guest_games(games, redis_sync):
    await win(games, redis_sync, "p1", user="alice", board=100)
    await win(games, redis_sync, "p1", board=100)
    stats = await games.leaderboards.stats(100, ["u:alice", "g:p1"])
    assert stats.mine == {1: 2} and stats.counts == {1: 2}
