"""--guest-boards off: guests play, but only accounts are ranked (guest entries are not made, and
those already there leave when the server starts)."""
import dataclasses
import json

import pytest

from parlor.game.ranking import MIN_GAMES
from tests.helpers import Visitor, play_games, play_to_win, start_game


@pytest.fixture
def config(config):
    return dataclasses.replace(config, guest_boards="off")


@pytest.mark.gen_test(timeout=60)
async def test_with_guest_boards_off_guests_play_but_are_not_ranked(http_server, http_client, base_url):
    guest = Visitor(http_client, base_url)
    await play_games(guest, MIN_GAMES - 1)
    game_id = await start_game(guest)
    await play_to_win(guest, game_id)
    page = (await guest.get(f"/games/{game_id}")).body.decode()
    assert "Guests' games do not go on the boards here" in page and 'id="claim-form"' not in page
    refused = await guest.post(f"/games/{game_id}/name", {"name": "a guest"})
    assert refused.code == 409 and "sign up (or log in) to be ranked" in refused.body.decode()
    assert json.loads((await guest.get("/scores/10.json")).body)["entries"] == []
    member = Visitor(http_client, base_url)
    await member.sign_up("member")
    await play_games(member, MIN_GAMES)
    assert [entry["name"] for entry in json.loads((await guest.get("/scores/10.json")).body)["entries"]] == ["member"]
