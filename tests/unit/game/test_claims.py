"""Claims (parlor/game/games.py): a guest who won names their address's entry on the board."""
import asyncio

import pytest

from parlor.game.games import NO_SUCH_GAME
from parlor.refusals import Refused
from tests.unit.game.playing import ADDRESS, NAME_RULE, nobody, win


async def taken(name):
    """name_is_taken for a site where Alice has an account."""
    return name == "Alice"


@pytest.mark.parametrize("game, player, name, kind, message", [
    ("none", "p1", "Sam", "not_found", NO_SUCH_GAME),
    ("guest_won", "p2", "Sam", "not_found", NO_SUCH_GAME),  # another player's
    ("guest_won", None, "Sam", "not_found", NO_SUCH_GAME),
    ("playing", "p1", "Sam", "conflict", "Only a won game goes on the board."),
    ("user_won", "p1", "Sam", "conflict", "This game is on the board already: it counts for your account."),
    ("named", "p1", "Sam", "conflict", "This game is on the board already."),
    ("guest_won", "p1", "ab", "invalid", NAME_RULE),
    ("guest_won", "p1", "Alice", "invalid",
     "That name belongs to a registered player, or looks like one. Please choose another."),
    ("guest_won", "p1", "Bad Word", "invalid", "That name may not be used on the boards here. Please choose another."),
])
@pytest.mark.gen_test
async def test_a_refused_claim_says_why_and_names_nothing(games, redis_sync, game, player, name, kind, message):
    game_ids = {"none": "no-such-game", "user_won": (await win(games, redis_sync, "p1", user="alice")).id,
                "guest_won": (await win(games, redis_sync, "p1", board=100)).id,
                "named": (await win(games, redis_sync, "p1")).id}
    game_ids["playing"] = await games.start("p1", 10)
    await games.claim(game_ids["named"], "p1", "Named", name_is_taken=nobody)
    await games.leaderboards.ban_name("bad word")
    with pytest.raises(Refused) as refused:
        await games.claim(game_ids[game], player, name, name_is_taken=taken)
    assert (refused.value.kind, str(refused.value)) == (kind, message)
    assert redis_sync.hget(f"scores:100:entry:a:{ADDRESS}", "name") is None
    assert redis_sync.hget(f"scores:10:entry:a:{ADDRESS}", "name") == "Named"


@pytest.mark.gen_test
async def test_a_claim_names_the_guest_entry_once(games, redis_sync):
    won = await win(games, redis_sync, "p1")
    assert not won.named and won.for_guest_entry
    claimed = await games.claim(won.id, "p1", "  Sam  ", name_is_taken=nobody)
    assert claimed.named and (await games.load(won.id, "p1")).named
    assert redis_sync.hget(f"scores:10:entry:a:{ADDRESS}", "name") == "Sam"


@pytest.mark.gen_test
async def test_two_claims_of_one_game_at_once_name_it_once(games, redis_sync):
    won = await win(games, redis_sync, "p1")
    checking, both_checking = [], asyncio.Event()

    async def checked_together(name):
        """Both claims are past their first checks before either names the entry."""
        checking.append(name)
        if len(checking) == 2:
            both_checking.set()
        await both_checking.wait()
        return False

    outcomes = await asyncio.gather(*(games.claim(won.id, "p1", name, name_is_taken=checked_together)
                                      for name in ("Sam", "Kim")), return_exceptions=True)
    refused = [outcome for outcome in outcomes if isinstance(outcome, Refused)]
    assert len(refused) == 1 and str(refused[0]) == "This game is on the board already."
    named = "Kim" if outcomes[0] is refused[0] else "Sam"
    assert redis_sync.hget(f"scores:10:entry:a:{ADDRESS}", "name") == named
