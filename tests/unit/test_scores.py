"""parlor/scores.py against a real Redis: ordering, precision, shared ranks, around-me, atomicity."""
import asyncio
from datetime import datetime, timezone

import pytest
import redis.asyncio as aioredis

from parlor.scores import Leaderboards, pack, unpack

BOARD = 100
END_OF_2100_MS = int(datetime(2100, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture
def boards(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield Leaderboards(client, (10, BOARD))
    io_loop.run_sync(client.aclose)


async def record(boards, redis_sync, member, guesses, finished_ms, name=None, game="g"):
    """Record a won game for member (the game hash is made here, as a finished game would be)."""
    game_key = f"game:{game}-{member}-{guesses}-{finished_ms}"
    redis_sync.hset(game_key, mapping={"status": "won"})
    return await boards.record(game_key, BOARD, member, name or member, member.startswith("g:"),
                               guesses, finished_ms, 1000)


def test_pack_keeps_precision_for_999_guesses_at_the_end_of_2100():
    score = pack(999, END_OF_2100_MS)
    assert score < 2**53
    assert float(score) == score and int(float(score)) == score  # exact as a double
    assert unpack(score) == (999, END_OF_2100_MS)
    assert pack(998, END_OF_2100_MS) < pack(999, 0)  # fewer guesses always rank higher


@pytest.mark.gen_test
async def test_redis_keeps_the_packed_score_exactly(boards, redis_sync):
    await record(boards, redis_sync, "u:late", 999, END_OF_2100_MS)
    assert int(float(redis_sync.zscore("scores:100", "u:late"))) == pack(999, END_OF_2100_MS)
    (entry,) = (await boards.page(BOARD)).entries
    assert (entry.guesses, entry.finished_ms) == (999, END_OF_2100_MS)


@pytest.mark.gen_test
async def test_equal_guesses_rank_by_earlier_finish_and_share_the_rank(boards, redis_sync):
    await record(boards, redis_sync, "u:later", 5, 2_000)
    await record(boards, redis_sync, "u:earlier", 5, 1_000)
    await record(boards, redis_sync, "u:best", 3, 9_000)
    page = await boards.page(BOARD)
    assert [e.member for e in page.entries] == ["u:best", "u:earlier", "u:later"]
    assert [e.rank for e in page.entries] == [1, 2, 2]


@pytest.mark.gen_test
async def test_shared_ranks_hold_across_pages(boards, redis_sync):
    for i, guesses in enumerate([3, 3, 5, 5, 5, 7]):
        await record(boards, redis_sync, f"u:p{i}", guesses, 1_000 + i)
    assert [e.rank for e in (await boards.page(BOARD)).entries] == [1, 1, 3, 3, 3, 6]
    assert [e.rank for e in (await boards.page(BOARD, offset=3, limit=3)).entries] == [3, 3, 6]
    assert [e.rank for e in (await boards.page(BOARD, offset=5, limit=3)).entries] == [6]


@pytest.mark.gen_test
async def test_around_me_at_the_top_the_middle_and_the_bottom(boards, redis_sync):
    for i in range(20):
        await record(boards, redis_sync, f"u:p{i:02}", 10 + i, 1_000)
    top = await boards.around(BOARD, "u:p00")
    assert [e.member for e in top.entries] == [f"u:p{i:02}" for i in range(0, 6)]
    middle = await boards.around(BOARD, "u:p10")
    assert [e.member for e in middle.entries] == [f"u:p{i:02}" for i in range(5, 16)]
    bottom = await boards.around(BOARD, "u:p19")
    assert [e.member for e in bottom.entries] == [f"u:p{i:02}" for i in range(14, 20)]
    assert [e.rank for e in bottom.entries] == list(range(15, 21))
    assert await boards.around(BOARD, "u:nobody") is None


@pytest.mark.gen_test
async def test_a_worse_game_does_not_replace_the_best(boards, redis_sync):
    first = await record(boards, redis_sync, "u:steady", 4, 1_000, name="steady")
    assert first == 1
    assert await record(boards, redis_sync, "u:steady", 6, 2_000, name="steady") == 0
    (entry,) = (await boards.page(BOARD)).entries
    assert (entry.guesses, entry.finished_ms) == (4, 1_000)
    assert redis_sync.hget("scores:100:meta", "version") == "1"  # no write, no new version
    assert await record(boards, redis_sync, "u:steady", 2, 3_000, name="steady") == 2
    (entry,) = (await boards.page(BOARD)).entries
    assert (entry.guesses, entry.finished_ms) == (2, 3_000)


@pytest.mark.gen_test
async def test_a_game_is_recorded_once_and_only_when_won(boards, redis_sync):
    redis_sync.hset("game:open", mapping={"status": "playing"})
    assert await boards.record("game:open", BOARD, "u:x", "x", False, 3, 1_000, 1) == -1
    redis_sync.hset("game:won", mapping={"status": "won"})
    assert await boards.record("game:won", BOARD, "u:x", "x", False, 3, 1_000, 1) == 1
    assert await boards.record("game:won", BOARD, "u:y", "y", False, 2, 1_000, 1) == -2
    assert [e.member for e in (await boards.page(BOARD)).entries] == ["u:x"]


@pytest.mark.gen_test(timeout=30)
async def test_an_entry_and_its_details_appear_together(boards, redis_sync):
    async def writer():
        for i in range(200):
            await record(boards, redis_sync, f"g:w{i}", 1 + i % 9, 1_000 + i, name=f"writer {i}")

    async def reader():
        seen = 0
        while seen < 200:
            page = await boards.page(BOARD, limit=100)
            for entry in page.entries:
                assert entry.name.startswith("writer ") and entry.guest is True
            seen = page.total
            await asyncio.sleep(0)

    await asyncio.gather(writer(), reader())
