"""Games.start under the limits on game starts (per address, per visitor), a visitor's first
player made only once a start is allowed, and Games.forget_user."""
import pytest

from parlor.game.games import Games
from parlor.game.leaderboards import Leaderboards
from parlor.infra.config import NO_LIMIT, Rate
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused
from parlor.safety import LIMITS, Safety
from tests.unit.game.playing import win

TWO_A_MINUTE = Rate(2, 60)  # a third start within the minute is refused


def limited_games(client, **limits) -> Games:
    safety = Safety(client, {name: limits.get(name, NO_LIMIT) for name in LIMITS})
    return Games(client, Leaderboards(client, (10, 100)), safety=safety)


async def outcomes(games, starts) -> list[str | None]:
    """Each start (player, user, address) in turn: None if it started, else what it was told."""
    told = []
    for player, user, address in starts:
        try:
            await games.start(player, 10, user=user, address=address)
            told.append(None)
        except Refused as refused:
            told.append(refused.kind)
    return told


@pytest.mark.gen_test(timeout=30)
async def test_each_address_has_its_own_limit_on_game_starts(client):
    games = limited_games(client, game_addresses=TWO_A_MINUTE)
    starts = [(f"p{n}", None, address) for address in ("198.51.100.1", "198.51.100.2") for n in range(3)]
    assert await outcomes(games, starts) == [None, None, "too_many"] * 2


@pytest.mark.gen_test(timeout=30)
async def test_each_guest_and_each_user_has_their_own_limit_on_game_starts(client):
    games = limited_games(client, games=TWO_A_MINUTE)
    address = "198.51.100.1"
    assert await outcomes(games, [("p1", None, address)] * 3 + [("p2", None, address)]) == [None, None, "too_many", None]
    # a user's starts count together from every browser (player) they play in
    assert await outcomes(games, [("p3", "alice", address), ("p4", "alice", address), ("p5", "alice", address)]) == [
        None, None, "too_many"]


@pytest.mark.parametrize("user", [None, "alice"])
@pytest.mark.gen_test(timeout=30)
async def test_a_new_visitors_player_is_made_once_the_start_is_allowed_and_its_first_game_counts(
        client, redis_sync, user):
    games = limited_games(client, game_addresses=Rate(3, 60), games=TWO_A_MINUTE)
    made = []

    async def new_player():
        made.append(f"p{len(made) + 1}")
        return made[-1]

    addresses = ["198.51.100.1"] * 3 + ["198.51.100.2"] * 2
    for address in addresses[:3]:
        await games.start(None, 10, user=None, address=address, new_player=new_player)  # three visitors, one each
    assert made == ["p1", "p2", "p3"]
    with pytest.raises(Refused):  # the address is over its limit: no player is made for nothing
        await games.start(None, 10, user=None, address=addresses[0], new_player=new_player)
    assert made == ["p1", "p2", "p3"]
    # a new visitor's first game counts for them: one more start, and they are at their limit
    await games.start(None, 10, user=user, address=addresses[3], new_player=new_player)
    await games.start("p4", 10, user=user, address=addresses[3])
    with pytest.raises(Refused) as refused:
        await games.start("p4", 10, user=user, address=addresses[4])
    assert refused.value.kind == "too_many" and redis_sync.exists(f"rate:games:{'u:alice' if user else 'g:p4'}")


@pytest.mark.gen_test(timeout=30)
async def test_forgetting_a_user_drops_their_open_games_and_game_starts_bucket(client, redis_sync):
    games = limited_games(client, games=Rate(5, 60))
    await win(games, redis_sync, "p1", user="alice")
    await games.start("p1", 100, user="alice", address="198.51.100.1")
    await games.start("p2", 10, user="bob", address="198.51.100.1")
    kept = sorted(key for key in redis_sync.keys("*") if "alice" not in key)
    assert {"open:u:alice", "rate:games:u:alice"} <= set(redis_sync.keys("*"))
    await games.forget_user("alice", KeysNaming(client, "alice"))
    assert not [key for key in redis_sync.keys("*") if "alice" in key]
    assert sorted(redis_sync.keys("*")) == kept
