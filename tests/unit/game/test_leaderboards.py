"""parlor/game/ranking.py and leaderboards.py against a real Redis: averages over recent games, forfeits,
precision, shared ranks, around-me, guest entries, atomicity."""
import asyncio
import time

import pytest
import redis.asyncio as aioredis

from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import (
    GUEST_ENTRY_TTL_S,
    GUEST_SWEEP_CHUNK,
    MAX_BANNED_NAMES,
    MAX_RANKED_GUESSES,
    MIN_GAMES,
    RECENT_GAMES,
    Entry,
    Progress,
    Stats,
    forfeit_guesses,
    pack,
    unpack,
)
from parlor.refusals import Refused

BOARD = 100
FORFEIT = forfeit_guesses(BOARD)  # 14


@pytest.fixture
def boards(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield Leaderboards(client, (10, BOARD))
    io_loop.run_sync(client.aclose)


GAMES = iter(range(10**9))


async def play(boards, redis_sync, member, results, board=BOARD, name=None):
    """Games for member, in order: a number is a win in that many guesses, None is abandoned."""
    for guesses in results:
        game_id = f"g{next(GAMES)}"
        await boards.begin(board, member, game_id, name=name or member.split(":", 1)[1])
        if guesses is not None:
            redis_sync.hset(f"game:{game_id}", "status", "won")
            await boards.win(f"game:{game_id}", game_id, board, member, guesses, 1_000 + guesses, 500)


def test_pack_keeps_precision_for_the_worst_average_and_best_game():
    score = pack(FORFEIT * 1000 * 4, MAX_RANKED_GUESSES)  # beyond any board's forfeit
    assert score < 2**53 and int(float(score)) == score
    assert unpack(score) == (FORFEIT * 4000, MAX_RANKED_GUESSES)
    assert pack(2999, 999) < pack(3000, 1)  # a lower average always ranks higher


@pytest.mark.parametrize("average_milli, best", [(0, 1), (2**16 - 1, MAX_RANKED_GUESSES)])
def test_pack_takes_the_ends_of_both_ranges(average_milli, best):
    assert unpack(pack(average_milli, best)) == (average_milli, best)


@pytest.mark.parametrize("average_milli, best", [(-1, 1), (2**16, 1), (0, 0), (0, MAX_RANKED_GUESSES + 1)])
def test_pack_refuses_what_would_not_fit(average_milli, best):
    with pytest.raises(ValueError, match="^average or best game out of range$"):
        pack(average_milli, best)


def test_an_entry_and_a_histogram_as_json():
    entry = Entry(rank=2, member="u:ann", name="ann", guest=False, guesses=4, finished_ms=1_700_000_000_000,
                  duration_ms=123_450, average_milli=5_432, games=10, forfeits=1)
    assert entry.as_json() == {"rank": 2, "name": "ann", "guest": False, "guesses": 4,
                               "finished_at": "2023-11-14T22:13:20Z", "duration_s": 123.5, "average": 5.43,
                               "games": 10, "forfeits": 1}
    assert entry.average_text == "5.43"
    stats = Stats(BOARD, {4: 2, 7: 1}, {7: 1})
    assert stats.as_json() == {"board": BOARD, "best_possible": 7, "games": 3, "my_games": 1,
                               "histogram": [{"guesses": 4, "games": 2, "mine": 0}, {"guesses": 7, "games": 1, "mine": 1}]}
    assert Progress(BOARD, None, MIN_GAMES + 3, True).games_to_go == 0


@pytest.mark.gen_test
async def test_a_player_is_ranked_from_the_minimum_number_of_games(boards, redis_sync):
    await play(boards, redis_sync, "u:new", [5] * (MIN_GAMES - 1))
    assert (await boards.page(BOARD)).entries == []
    progress = await boards.progress(BOARD, "u:new")
    assert progress.entry is None and progress.games_to_go == 1
    await play(boards, redis_sync, "u:new", [7])
    (entry,) = (await boards.page(BOARD)).entries
    assert (entry.average, entry.games, entry.forfeits, entry.guesses) == (5.4, MIN_GAMES, 0, 5)


@pytest.mark.gen_test
async def test_the_average_is_over_the_last_games_started_and_abandoned_ones_are_forfeits(boards, redis_sync):
    await play(boards, redis_sync, "u:p", [20] * RECENT_GAMES)  # slow wins count as forfeits at most
    (entry,) = (await boards.page(BOARD)).entries
    assert entry.average == FORFEIT and entry.forfeits == 0
    await play(boards, redis_sync, "u:p", [4] * (RECENT_GAMES - 1) + [None])
    (entry,) = (await boards.page(BOARD)).entries
    assert entry.games == RECENT_GAMES and entry.forfeits == 1
    assert entry.average == round((4 * (RECENT_GAMES - 1) + FORFEIT) / RECENT_GAMES, 2)
    assert entry.guesses == 4  # the best game is the second column


@pytest.mark.gen_test
async def test_a_win_whose_game_left_the_recent_games_does_not_count(boards, redis_sync):
    await boards.begin(BOARD, "a:x", "old", name="")
    for i in range(RECENT_GAMES):
        await boards.begin(BOARD, "a:x", f"newer{i}", name="")
    redis_sync.hset("game:old", "status", "won")
    assert await boards.win("game:old", "old", BOARD, "a:x", 1, 1_000, 1) == 0
    assert "old:1" not in redis_sync.lrange("recent:100:a:x", 0, -1)
    assert redis_sync.hget("scores:100:entry:a:x", "guesses") is None


@pytest.mark.gen_test
async def test_equal_averages_share_a_rank_and_the_better_best_game_comes_first(boards, redis_sync):
    await play(boards, redis_sync, "u:steady", [4, 4, 4, 4, 4])
    await play(boards, redis_sync, "u:spiky", [2, 6, 3, 5, 4])
    await play(boards, redis_sync, "u:best", [3, 3, 3, 3, 3])
    page = await boards.page(BOARD)
    assert [e.member for e in page.entries] == ["u:best", "u:spiky", "u:steady"]
    assert [e.rank for e in page.entries] == [1, 2, 2]


@pytest.mark.gen_test
async def test_shared_ranks_hold_across_pages(boards, redis_sync):
    for i, guesses in enumerate([3, 3, 5, 5, 5, 7]):
        await play(boards, redis_sync, f"u:p{i}", [guesses] * MIN_GAMES)
    assert [e.rank for e in (await boards.page(BOARD)).entries] == [1, 1, 3, 3, 3, 6]
    assert [e.rank for e in (await boards.page(BOARD, offset=3, limit=3)).entries] == [3, 3, 6]
    assert [e.rank for e in (await boards.page(BOARD, offset=5, limit=3)).entries] == [6]


@pytest.mark.gen_test(timeout=30)
async def test_around_me_at_the_top_the_middle_and_the_bottom(boards, redis_sync):
    for i in range(12):
        await play(boards, redis_sync, f"u:p{i:02}", [1 + i] * MIN_GAMES)
    top = await boards.around(BOARD, "u:p00")
    assert [e.member for e in top.entries] == [f"u:p{i:02}" for i in range(0, 6)]
    middle = await boards.around(BOARD, "u:p06")
    assert [e.member for e in middle.entries] == [f"u:p{i:02}" for i in range(1, 12)]
    bottom = await boards.around(BOARD, "u:p11")
    assert [e.member for e in bottom.entries] == [f"u:p{i:02}" for i in range(6, 12)]
    assert [e.rank for e in bottom.entries] == list(range(7, 13))
    assert await boards.around(BOARD, "u:nobody") is None


@pytest.mark.gen_test
async def test_the_version_changes_only_when_the_board_does(boards, redis_sync):
    await play(boards, redis_sync, "u:x", [4] * (MIN_GAMES - 1))
    assert redis_sync.hget("scores:100:meta", "version") is None  # nobody is on the board yet
    await boards.begin(BOARD, "u:x", "fifth", name="x")  # on the board, with a forfeit for now
    assert redis_sync.hget("scores:100:meta", "version") == "1"
    redis_sync.hset("game:fifth", "status", "won")
    await boards.win("game:fifth", "fifth", BOARD, "u:x", 4, 1_000, 1)  # the forfeit becomes a 4
    assert redis_sync.hget("scores:100:meta", "version") == "2"
    await play(boards, redis_sync, "u:x", [4], board=10)  # another board
    await play(boards, redis_sync, "u:y", [4])  # someone not on the board yet
    assert redis_sync.hget("scores:100:meta", "version") == "2"
    assert await boards.versions([BOARD, 10]) == [2, 0]  # 0: a board never changed


@pytest.mark.gen_test
async def test_a_game_counts_once_and_only_when_won(boards, redis_sync):
    await boards.begin(BOARD, "u:x", "g-open", name="x")
    redis_sync.hset("game:g-open", "status", "playing")
    assert await boards.win("game:g-open", "g-open", BOARD, "u:x", 3, 1_000, 1) == -1
    redis_sync.hset("game:g-open", "status", "won")
    assert await boards.win("game:g-open", "g-open", BOARD, "u:x", 3, 1_000, 1) == 0
    assert await boards.win("game:g-open", "g-open", BOARD, "u:x", 2, 1_000, 1) == -2
    assert redis_sync.lrange("recent:100:u:x", 0, -1) == ["g-open:3"]


@pytest.mark.gen_test
async def test_a_guest_entry_is_shown_once_named_and_expires_with_its_ttl(boards, redis_sync):
    await play(boards, redis_sync, "a:203.0.113.1", [4] * MIN_GAMES, name="")
    assert (await boards.page(BOARD)).entries == []  # no name given yet
    assert await boards.name(BOARD, "a:203.0.113.1", "Room 12") > 0
    (entry,) = (await boards.page(BOARD)).entries
    assert (entry.name, entry.guest) == ("Room 12", True)
    assert await boards.name(BOARD, "a:203.0.113.1", "Room 13") > 0  # a new name is a change too
    assert 0 < redis_sync.ttl("recent:100:a:203.0.113.1") and 0 < redis_sync.ttl("scores:100:entry:a:203.0.113.1")
    redis_sync.zadd("scores:100:guests", {"a:203.0.113.1": 0})
    assert await boards.sweep_guests() == 1
    assert (await boards.page(BOARD)).entries == []


@pytest.mark.gen_test(timeout=30)
async def test_an_entry_and_its_details_appear_together(boards, redis_sync):
    async def writer():
        for i in range(60):
            await play(boards, redis_sync, f"a:w{i}", [1 + i % 9] * MIN_GAMES, name="")
            await boards.name(BOARD, f"a:w{i}", f"writer {i}")

    async def reader():
        seen = 0
        while seen < 60:
            page = await boards.page(BOARD, limit=100)
            for entry in page.entries:
                assert entry.name.startswith("writer ") and entry.guest is True and entry.games == MIN_GAMES
            seen = page.total
            await asyncio.sleep(0)

    await asyncio.gather(writer(), reader())


@pytest.mark.gen_test
async def test_removing_a_user_forgets_every_key_of_theirs_on_the_boards(boards, redis_sync):
    await play(boards, redis_sync, "u:gone", [3] * MIN_GAMES)
    await play(boards, redis_sync, "u:gone", [3], board=10)
    redis_sync.hset("histogram:100:u:gone", "3", 5)
    redis_sync.lpush("history:u:gone", "{}")
    await boards.remove("gone")
    assert [k for k in redis_sync.keys("*") if "gone" in k] == []
    assert (await boards.page(BOARD)).entries == []


@pytest.mark.gen_test
async def test_entries_of_the_best_game_boards_are_dropped_once(boards, redis_sync):
    await play(boards, redis_sync, "u:new", [3] * MIN_GAMES)
    redis_sync.zadd("scores:100", {"u:old": 3 * 2**42 + 1_700_000_000_000})  # as the old boards packed it
    redis_sync.hset("scores:100:entry:u:old", mapping={"name": "old", "guesses": 3})
    assert await boards.drop_old_entries() == 1
    assert [e.member for e in (await boards.page(BOARD)).entries] == ["u:new"]
    assert not redis_sync.exists("scores:100:entry:u:old")
    assert await boards.drop_old_entries() == 0


@pytest.mark.gen_test
async def test_a_hidden_entry_stays_off_the_board_whatever_its_games_and_comes_back_as_it_was(boards, redis_sync):
    await play(boards, redis_sync, "u:sus", [4] * MIN_GAMES)
    await play(boards, redis_sync, "u:other", [6] * MIN_GAMES)
    shown = (await boards.page(BOARD)).entries
    await boards.hide("sus")
    assert [e.name for e in (await boards.page(BOARD)).entries] == ["other"]
    await play(boards, redis_sync, "u:sus", [3])  # a game that was in flight when the account was suspended
    assert [e.name for e in (await boards.page(BOARD)).entries] == ["other"]
    version = (await boards.page(BOARD)).version
    await boards.hide("sus")  # twice: nothing changes
    assert (await boards.page(BOARD)).version == version
    await boards.show("sus")
    entries = (await boards.page(BOARD)).entries
    assert [e.name for e in entries] == ["sus", "other"] and entries[1] == shown[1]
    assert entries[0].games == MIN_GAMES + 1  # its games were kept, the one won while hidden too


@pytest.mark.gen_test
async def test_every_guest_entry_can_be_swept_at_once(boards, redis_sync):
    """--guest-boards off: the guest entries already there leave when the server starts."""
    await play(boards, redis_sync, "a:192.0.2.1", [4] * MIN_GAMES, name="a guest")
    await boards.name(BOARD, "a:192.0.2.1", "a guest")
    await play(boards, redis_sync, "u:member", [4] * MIN_GAMES)
    assert len((await boards.page(BOARD)).entries) == 2
    assert await boards.sweep_guests() == 0  # none is a week old
    assert await boards.sweep_guests(every_one=True) == 1
    assert [e.name for e in (await boards.page(BOARD)).entries] == ["member"]


def now_ms() -> int:
    return int(time.time() * 1000)


def version(redis_sync, board=BOARD) -> int:
    return int(redis_sync.hget(f"scores:{board}:meta", "version") or 0)


@pytest.mark.gen_test(timeout=30)
async def test_a_page_says_its_board_its_size_its_version_and_when_it_changed(boards, redis_sync):
    before = now_ms()
    for i in range(12):
        await play(boards, redis_sync, f"u:p{i:02}", [1 + i] * MIN_GAMES)
    page = await boards.page(BOARD)
    assert (page.board, page.total, page.offset, len(page.entries)) == (BOARD, 12, 0, 10)  # ten to a page
    assert page.version == version(redis_sync) > 0 and before <= page.updated_ms <= now_ms()
    first = page.entries[0]
    assert (first.guesses, first.finished_ms, first.duration_ms) == (1, 1_001, 500)  # as play() won it
    rest = await boards.page(BOARD, offset=10)
    assert rest.offset == 10 and [e.rank for e in rest.entries] == [11, 12]


@pytest.mark.gen_test
async def test_a_players_best_and_progress(boards, redis_sync):
    await play(boards, redis_sync, "u:a", [3] * MIN_GAMES)
    await play(boards, redis_sync, "u:b", [3] * MIN_GAMES)
    assert (await boards.best(BOARD, "u:b")).member == "u:b" and (await boards.best(BOARD, "u:b")).rank == 1
    assert await boards.best(BOARD, "u:nobody") is None
    ranked = await boards.progress(BOARD, "u:b")
    assert (ranked.board, ranked.entry.member, ranked.games, ranked.won) == (BOARD, "u:b", MIN_GAMES, True)
    await play(boards, redis_sync, "u:new", [None, None])
    starting = await boards.progress(BOARD, "u:new")
    assert (starting.entry, starting.games, starting.won, starting.games_to_go) == (None, 2, False, MIN_GAMES - 2)
    await play(boards, redis_sync, "u:new", [9])
    assert (await boards.progress(BOARD, "u:new")).won


@pytest.mark.gen_test
async def test_a_game_begun_without_a_name_names_nothing(boards, redis_sync):
    await boards.begin(BOARD, "u:x", "g1")
    assert redis_sync.hget("scores:100:entry:u:x", "name") is None


@pytest.mark.gen_test(timeout=30)
async def test_guest_entries_leave_a_week_after_their_last_game_with_their_keys(boards, redis_sync):
    for member, age_s in (("a:old", GUEST_ENTRY_TTL_S + 60), ("a:young", GUEST_ENTRY_TTL_S - 60)):
        await play(boards, redis_sync, member, [4] * MIN_GAMES, name="")
        await boards.name(BOARD, member, member)
        redis_sync.zadd("scores:100:guests", {member: now_ms() - age_s * 1000})  # its last game, that long ago
    before = version(redis_sync)
    assert await boards.sweep_guests() == 1
    assert [e.member for e in (await boards.page(BOARD)).entries] == ["a:young"]
    assert [k for k in redis_sync.keys("*") if k.endswith("a:old")] == []
    assert version(redis_sync) == before + 1


@pytest.mark.gen_test(timeout=60)
async def test_a_sweep_takes_every_expired_guest_entry_chunk_after_chunk(boards, redis_sync):
    for n in range(GUEST_SWEEP_CHUNK + 1):
        await boards.begin(BOARD, f"a:{n}", f"g{n}")
    redis_sync.zadd("scores:100:guests", {f"a:{n}": 0 for n in range(GUEST_SWEEP_CHUNK + 1)})
    assert await boards.sweep_guests() == GUEST_SWEEP_CHUNK + 1
    assert redis_sync.keys("recent:*") == []


@pytest.mark.gen_test
async def test_dropping_old_entries_is_a_change_of_the_board(boards, redis_sync):
    redis_sync.zadd("scores:100", {"u:old": 3 * 2**42 + 1_700_000_000_000})
    assert await boards.drop_old_entries() == 1 and version(redis_sync) == 1


@pytest.mark.gen_test
async def test_an_admin_takes_one_entry_off_one_board(boards, redis_sync):
    await play(boards, redis_sync, "a:203.0.113.1", [4] * MIN_GAMES, name="")
    await boards.name(BOARD, "a:203.0.113.1", "Room 12")
    await play(boards, redis_sync, "a:203.0.113.1", [4] * MIN_GAMES, board=10)
    assert await boards.entry_name(BOARD, "a:203.0.113.1") == "Room 12"
    assert await boards.remove_entry(BOARD, "a:203.0.113.1") is True
    assert await boards.entry_name(BOARD, "a:203.0.113.1") is None and (await boards.page(BOARD)).entries == []
    assert redis_sync.exists("recent:10:a:203.0.113.1") and not redis_sync.exists("recent:100:a:203.0.113.1")
    assert await boards.remove_entry(BOARD, "a:203.0.113.1") is False  # not on the board any more


@pytest.mark.gen_test(timeout=30)
async def test_banned_names_and_their_look_alikes_are_refused_up_to_ten_thousand(boards, redis_sync):
    await boards.ban_name("Bad Word")
    assert await boards.name_is_banned("bad word") and await boards.name_is_banned("B\u0430d Word")  # Cyrillic а
    assert not await boards.name_is_banned("Good Word")
    redis_sync.sadd("banned-names", *(f"name {n}" for n in range(MAX_BANNED_NAMES - 2)))
    await boards.ban_name("the last one")
    with pytest.raises(Refused) as refused:
        await boards.ban_name("one too many")
    assert (refused.value.kind, str(refused.value)) == ("conflict", "10000 names are banned already: no more can be.")
    assert redis_sync.scard("banned-names") == MAX_BANNED_NAMES
