"""parlor/game/games.py against a real Redis: the server keeps the secret and counts every guess."""
import pytest
import redis.asyncio as aioredis

from parlor.game.games import MAX_GUESSES, Games, clean_guest_name, folded, parse_guess
from parlor.game.leaderboards import Leaderboards
from parlor.refusals import Refused
from parlor.safety import Safety


BIG_BOARD = 10_000  # more numbers than MAX_GUESSES: a game there can reach the limit without a repeat


@pytest.fixture
def games(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield Games(client, Leaderboards(client, (10, 100, BIG_BOARD)), safety=Safety.unlimited(client))
    io_loop.run_sync(client.aclose)


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
    assert refused.value.kind == "invalid"


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
