"""The game in a real browser: a win with JavaScript off, and a board that updates live."""
import uuid

import pytest
from playwright.sync_api import expect

from parlor.game.ranking import MIN_GAMES
from tests.e2e.conftest import play_by_halving

pytestmark = pytest.mark.slow


def start(page, base_url, board: int):
    page.goto(base_url + "/")
    page.get_by_label(str(board), exact=True).check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#game h1")).to_have_text(f"A number from 1 to {board}")


def play_games(page, base_url, count: int) -> list[int]:
    """Start and win `count` games on board 10 by halving; their guess counts."""
    counts = []
    for _ in range(count):
        start(page, base_url, 10)
        counts.append(play_by_halving(page))
    return counts


def test_a_guest_wins_with_javascript_off_and_finds_themself_on_the_board(server, new_page):
    page = new_page(javascript=False).page
    counts = play_games(page, server.url, MIN_GAMES)  # the board ranks players from MIN_GAMES games
    expect(page.locator(".result.correct")).to_contain_text(f"{counts[-1]} guess")
    name = f"plain {uuid.uuid4().hex[:6]}"
    page.get_by_label("Your name for the board").fill(name)
    page.get_by_role("button", name="Put me on the board").click()
    expect(page.locator(".standing")).to_contain_text("You are #")
    page.get_by_role("link", name="the 1 to 10 board").click()
    row = page.locator(f'li.entry[data-name="{name}"]')  # guests here share one entry: other tests' games too
    expect(row.locator(".guest")).to_have_text("(guest)")
    assert int(row.get_attribute("data-guesses")) <= min(counts)  # the best game
    assert int(row.get_attribute("data-games")) >= MIN_GAMES and row.locator(".average").inner_text()


def test_a_new_row_appears_live_on_an_open_board(server, new_page):
    viewer = new_page(javascript=True)
    # A board change reaches the pages whose socket is open (board pushes are not kept for later):
    # wait until it is, or a slow machine lets the game end first and the row never comes.
    viewer.page.add_init_script(
        "document.addEventListener('htmx:ws:after:connection', () => { window.socketOpen = true })")
    viewer.page.goto(server.url + "/scores/10")
    viewer.page.wait_for_function("() => window.socketOpen === true")
    viewer.page.evaluate("() => { window.notReloaded = true }")
    player = new_page(javascript=True)
    play_games(player.page, server.url, MIN_GAMES - 1)
    start(player.page, server.url, 10)
    player.page.evaluate("() => { window.notReloaded = true }")
    play_by_halving(player.page)
    assert player.page.evaluate("() => window.notReloaded") is True  # guesses swapped the game only
    name = f"live {uuid.uuid4().hex[:6]}"
    player.page.get_by_label("Your name for the board").fill(name)
    player.page.get_by_role("button", name="Put me on the board").click()
    row = viewer.page.locator(f'li.entry[data-name="{name}"]')
    expect(row).to_have_attribute("data-guest", "true", timeout=5000)
    assert viewer.page.evaluate("() => window.notReloaded") is True
    assert viewer.csp_violations() == [] and player.csp_violations() == []
