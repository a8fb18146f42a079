"""An admin takes entries off a board, from /admin or from the board page (a section only admins
see): open board pages drop it live, the fragment, the JSON and their ETags change, a banned guest
name cannot be given again, and each removal is in the audit log."""
import json

import pytest

from parlor.game.ranking import MIN_GAMES
from tests.helpers import Visitor, admin_visitor, next_frame, play_games, play_to_win, start_game, users
from tests.web.test_scores import win_as_guest


def names_on(body: bytes) -> set[str]:
    return {entry["name"] for entry in json.loads(body)["entries"]}


async def remove(admin: Visitor, member: str, ban: bool = False, next_page: str = "/scores/10"):
    return await admin.post("/admin/boards/10/remove", {"member": member, "next": next_page,
                                                         **({"ban": "1"} if ban else {})})


@pytest.mark.gen_test(timeout=90)
async def test_an_admin_removes_a_guest_entry_live_and_bans_its_name(proxied_url, http_client, app):
    await win_as_guest(http_client, proxied_url, "Rude Name", address="192.0.2.7")
    player = Visitor(http_client, proxied_url)
    await player.sign_up("player")
    await play_games(player, MIN_GAMES)
    admin = await admin_visitor(app, http_client, proxied_url)
    before = await player.get("/scores/10.json")
    assert names_on(before.body) == {"Rude Name", "player"}
    board_page = (await admin.get("/scores/10")).body.decode()
    assert 'id="board-moderation-10"' in board_page and "Remove Rude Name (guest)" in board_page
    assert 'id="board-moderation-10"' not in (await player.get("/scores/10")).body.decode()  # admins only
    watcher = await Visitor(http_client, proxied_url).live(query="?boards=10")

    answer = await remove(admin, "a:192.0.2.7", ban=True)
    assert answer.code == 303 and answer.headers["Location"] == "/scores/10"
    pushed = (await next_frame(watcher))["content"]
    assert pushed.startswith('<ol id="board-10"') and 'data-name="player"' in pushed and "Rude Name" not in pushed
    after = await player.get("/scores/10.json")
    assert names_on(after.body) == {"player"} and after.headers["ETag"] != before.headers["ETag"]
    assert "Rude Name" not in (await player.get("/scores/10/fragment")).body.decode()
    watcher.close()

    # The name, and its look-alikes, are banned for every guest from now on.
    again = Visitor(http_client, proxied_url, address="192.0.2.8")
    for name in ("Rude Name", "RUDE NAME", "Rude Narne"):
        game_id = await start_game(again)
        await play_to_win(again, game_id)
        refused = await again.post(f"/games/{game_id}/name", {"name": name})
        assert refused.code == 400 and "may not be used on the boards here" in refused.body.decode()
    log = (await admin.get("/admin/log")).body.decode()
    assert "removed the board entry of" in log and "Rude Name (guest) on the 1 to 10 board" in log
    assert "and banned the guest name" in log


@pytest.mark.gen_test(timeout=90)
async def test_an_admin_removes_an_accounts_entry_from_the_admin_page(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await play_games(alice, MIN_GAMES)
    await play_games(bob, MIN_GAMES)
    admin = await admin_visitor(app, http_client, base_url)
    overview = (await admin.get("/admin")).body.decode()
    assert "Remove alice…</button>" in overview
    answer = await remove(admin, "u:alice", next_page="/admin")
    assert answer.code == 303 and answer.headers["Location"] == "/admin"
    assert names_on((await bob.get("/scores/10.json")).body) == {"bob"}
    assert "Remove alice…</button>" not in (await admin.get("/admin")).body.decode()
    # Her games there are forgotten: she is back once she has played enough again.
    await play_games(alice, MIN_GAMES)
    assert names_on((await bob.get("/scores/10.json")).body) == {"alice", "bob"}
    again = await remove(admin, "u:nobody")
    assert again.code == 404 and "not on the board" in again.body.decode()


@pytest.mark.gen_test(timeout=90)
async def test_remove_asks_to_confirm_with_an_optional_reason_which_the_audit_log_shows(
        proxied_url, http_client, app):
    await win_as_guest(http_client, proxied_url, "Rude Name", address="192.0.2.7")
    admin = await admin_visitor(app, http_client, proxied_url)
    board_page = (await admin.get("/scores/10")).body.decode()
    # The board's Remove is a link to a question, not the removal itself (no JavaScript needed).
    assert 'action="/admin/boards/10/remove" class="inline remove-entry"' in board_page
    assert 'method="post" action="/admin/boards/10/remove"' not in board_page
    question = await admin.get("/admin/boards/10/remove?member=a%3A192.0.2.7&next=%2Fscores%2F10")
    asked = question.body.decode()
    assert question.code == 200 and "Remove Rude Name (guest) from the 1 to 10 board?" in asked
    assert 'name="reason"' in asked and 'name="ban"' in asked and 'href="/scores/10"' in asked  # Cancel
    assert "Rude Name" in (await admin.get("/scores/10/fragment")).body.decode()  # asking removed nothing

    answer = await admin.post("/admin/boards/10/remove", {"member": "a:192.0.2.7", "next": "/scores/10",
                                                          "reason": "A rude name on a class board."})
    assert answer.code == 303 and answer.headers["Location"] == "/scores/10"
    assert "Rude Name" not in (await admin.get("/scores/10/fragment")).body.decode()
    log = (await admin.get("/admin/log")).body.decode()
    assert "<td>A rude name on a class board.</td>" in log
    gone = await admin.get("/admin/boards/10/remove?member=a%3A192.0.2.7")
    assert gone.code == 404 and "not on the board" in gone.body.decode()
    assert (await Visitor(http_client, proxied_url).get("/admin/boards/10/remove?member=a%3A192.0.2.7")).code == 404
