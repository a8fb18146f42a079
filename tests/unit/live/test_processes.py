"""parlor/live/processes.py and the board copies it guards (views/boards.py): a copy is answered
without Redis for one lease after its version was read, only by a process that surely is in the
registry and has waited out its join; a write waits the lease out unless its process is alone.
Real Redis throughout; the protocol's clock is a hand-moved one where the test is about time."""
import asyncio

import jinja2
import pytest

from parlor.game.games import Games
from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import MIN_GAMES
from parlor.live.events import EventLog
from parlor.live.hub import Hub
from parlor.live.presence import Presence
from parlor.live.processes import REGISTRY_KEY, LeaseTiming, Processes
from parlor.safety import Safety
from parlor.web.server import ROOT
from parlor.web.views.boards import BoardViews

TIMING = LeaseTiming(beat_s=1, ttl_s=10, margin_s=2, fresh_s=3, join_wait_s=3, lease_s=0.05)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.gen_test
async def test_a_copy_is_trusted_for_one_lease_after_its_read_and_only_after_the_join_wait(client):
    clock = Clock()
    one = Processes(client, "one", TIMING, clock)
    assert not one.trusts(clock.now) and not one.alone()  # not registered yet: nothing is trusted
    await one.beat()
    assert one.alone()
    assert not one.trusts(clock.now)  # a writer that thinks it is alone may not know it yet
    clock.now += TIMING.join_wait_s
    read_at = clock.now
    assert one.trusts(read_at)
    clock.now += TIMING.lease_s * 0.9
    assert one.trusts(read_at)
    clock.now += TIMING.lease_s * 0.2
    assert not one.trusts(read_at)  # its version must be read again
    assert not one.trusts(read_at - TIMING.join_wait_s)  # read before it joined
    assert not one.alone()  # what it knows of the others is too old to go by
    await one.beat()
    assert one.alone()


@pytest.mark.gen_test
async def test_a_process_that_joins_is_seen_at_the_others_next_beat(client):
    clock = Clock()
    one, two = Processes(client, "one", TIMING, clock), Processes(client, "two", TIMING, clock)
    await one.beat()
    await two.beat()
    assert one.alone()  # its knowledge predates two: two trusts nothing until one has learnt
    assert two.others == {"one"} and not two.alone()
    assert not two.trusts(clock.now)
    await one.beat()
    assert one.others == {"two"} and not one.alone()
    clock.now += TIMING.join_wait_s
    assert two.trusts(clock.now)
    await two.leave()
    assert not two.trusts(clock.now)  # leaving: nothing from copies any more
    await one.beat()
    assert one.alone()


@pytest.mark.gen_test
async def test_a_registration_that_may_have_lapsed_trusts_nothing_until_it_joins_again(client):
    clock = Clock()
    one = Processes(client, "one", TIMING, clock)
    await one.beat()
    clock.now += TIMING.join_wait_s
    assert one.trusts(clock.now)
    clock.now += TIMING.ttl_s - TIMING.margin_s - TIMING.join_wait_s  # beats missed (a stalled loop)
    assert not one.trusts(clock.now)
    await one.beat()
    assert not one.trusts(clock.now)  # others may have dropped it: it waits as a newcomer does
    clock.now += TIMING.join_wait_s
    assert one.trusts(clock.now)


@pytest.mark.gen_test(timeout=20)
async def test_a_process_that_stops_beating_leaves_the_registry_after_its_ttl(client, redis_sync):
    short = LeaseTiming(beat_s=0.1, ttl_s=0.4, margin_s=0.1, fresh_s=0.2, join_wait_s=0.2)
    one, two = Processes(client, "one", short), Processes(client, "two", short)
    await one.beat()
    await two.beat()
    assert redis_sync.zrange(REGISTRY_KEY, 0, -1) == ["one", "two"]
    await asyncio.sleep(0.5)  # two is killed: it beats no more
    await one.beat()
    assert one.others == frozenset() and redis_sync.zrange(REGISTRY_KEY, 0, -1) == ["one"]


@pytest.mark.gen_test(timeout=20)
async def test_a_write_waits_one_lease_unless_its_process_is_alone(client):
    long = LeaseTiming(lease_s=5.0)
    one, two = Processes(client, "one", long), Processes(client, "two", long)
    await one.beat()
    await asyncio.wait_for(one.after_write(), 1)  # alone: at once
    await two.beat()
    await one.beat()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(one.after_write(), 1)  # two may answer from a copy for 5 s
    await two.leave()
    await one.beat()
    await asyncio.wait_for(one.after_write(), 1)


def test_a_join_wait_shorter_than_freshness_is_refused():
    with pytest.raises(ValueError):
        LeaseTiming(fresh_s=3, join_wait_s=1)


# -- the board copies -------------------------------------------------------------------------------

def board_views(client, processes: Processes) -> tuple[BoardViews, Games]:
    """This process's board views, and its games, whose board writes drop the copies first."""
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True)
    hub = Hub(client, EventLog(client), Presence(client, 20), None, None)

    async def written(board: int) -> None:
        views.changed(board)
        await processes.after_write()

    leaderboards = Leaderboards(client, (10,), on_change=written)
    views = BoardViews(leaderboards, templates, hub, processes)
    return views, Games(client, leaderboards, safety=Safety.unlimited(client))


async def put_alice_on_board_10(games: Games, redis_sync) -> None:
    for _ in range(MIN_GAMES):
        game_id = await games.start("p1", 10, user="alice")
        await games.guess(game_id, "p1", redis_sync.hget(f"game:{game_id}", "secret"), "alice")


async def joined_views(client) -> tuple[BoardViews, Games, Clock]:
    """Board views of a process that is alone, has joined and waited its join out."""
    clock = Clock()
    processes = Processes(client, "one", TIMING, clock)
    views, games = board_views(client, processes)
    await processes.beat()
    clock.now += TIMING.join_wait_s
    await processes.beat()
    return views, games, clock


def elsewhere(client) -> Games:
    """Another process's games: its writes reach this process by notice alone (never, here)."""
    return Games(client, Leaderboards(client, (10,)), safety=Safety.unlimited(client))


@pytest.mark.gen_test(timeout=30)
async def test_a_copy_is_answered_without_redis_for_one_lease_then_its_version_is_read_again(client, redis_sync):
    views, _, clock = await joined_views(client)
    first = await views.view(10)
    await put_alice_on_board_10(elsewhere(client), redis_sync)
    assert await views.view(10) is first  # within the lease: the copy, Redis not asked
    clock.now += TIMING.lease_s * 1.5
    changed = await views.view(10)
    assert changed.page.version > first.page.version and 'data-name="alice"' in changed.fragment
    clock.now += TIMING.lease_s * 1.5
    assert await views.view(10) is changed  # the version read again: still the board's


@pytest.mark.gen_test(timeout=30)
async def test_an_untrusted_copy_is_served_only_while_its_version_is_redis_s(client, redis_sync):
    processes = Processes(client, "one", TIMING, Clock())  # never joined: every answer reads the version
    views, _ = board_views(client, processes)
    first = await views.view(10)
    assert await views.view(10) is first  # rendered once per version
    await put_alice_on_board_10(elsewhere(client), redis_sync)
    changed = await views.view(10)
    assert changed.page.version > first.page.version and 'data-name="alice"' in changed.fragment


@pytest.mark.gen_test(timeout=30)
async def test_a_write_on_this_process_drops_its_copies_before_it_is_answered(client, redis_sync):
    views, games, _ = await joined_views(client)
    first = await views.view(10)
    await put_alice_on_board_10(games, redis_sync)  # the clock stands still: the lease has not run out
    changed = await views.view(10)
    assert changed is not first and 'data-name="alice"' in changed.fragment


@pytest.mark.gen_test(timeout=30)
async def test_a_read_under_way_when_the_board_changes_is_not_kept(client, redis_sync):
    views, _, clock = await joined_views(client)
    reading = asyncio.ensure_future(views.view(10))
    await asyncio.sleep(0)  # the read is sent
    views.changed(10)  # a write answered before the read's answer came back
    first = await reading
    second = await views.view(10)
    assert second is not first  # read again: the first may have been older than the write
    assert await views.view(10) is second


@pytest.mark.gen_test(timeout=30)
async def test_a_copy_answered_past_half_its_lease_is_read_again_in_the_background(client, redis_sync):
    views, _, clock = await joined_views(client)
    first = await views.view(10)
    clock.now += TIMING.lease_s * 0.6
    assert views.trusted(10) is first  # answered, and read again meanwhile
    await asyncio.sleep(0.2)
    clock.now += TIMING.lease_s * 0.6  # past the first read's lease, within the second's
    assert views.trusted(10) is first
    await put_alice_on_board_10(elsewhere(client), redis_sync)
    clock.now += TIMING.lease_s * 0.6
    assert views.trusted(10) is first  # the read again finds a new version: the new page is kept
    await asyncio.sleep(0.2)
    clock.now += TIMING.lease_s * 0.6
    renewed = views.trusted(10)
    assert renewed is not first and 'data-name="alice"' in renewed.fragment
