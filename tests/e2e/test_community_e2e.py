"""Running a community, in Chromium, on a server with --signup invite: an admin (made with
`parlor admin create`) invites someone who signs up (JavaScript on and off); a user reports a
message, the admin suspends its author, whose open tab is closed live; the admin removes a board
entry and another browser's board page drops it live."""
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from parlor.game.ranking import MIN_GAMES
from tests.e2e.conftest import message_menu
from tests.helpers import ROOT, Browser, ServerProcess

pytestmark = pytest.mark.slow

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def community():
    """A server that takes sign-ups by invitation only, and its first admin, boss."""
    directory = Path(tempfile.mkdtemp(prefix="parlor-e2e-admin-", dir="/tmp"))
    server = ServerProcess(directory / "data", "--signup", "invite", "--signup-limit", "0").start()
    made = subprocess.run([sys.executable, str(ROOT / "server.py"), "admin", "create", "boss", "--password", PASSWORD,
                           "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def log_in(page, base_url: str, name: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header nav")).to_contain_text(f"Signed in as {name}")


def account(base_url: str, name: str) -> None:
    """An account made by boss on /admin (over plain HTTP: set-up, not what is being tested)."""
    boss = Browser(base_url)
    assert boss.request("/login", {"username": "boss", "password": PASSWORD})[0] == 303
    assert boss.request("/admin/accounts", {"username": name, "password": PASSWORD})[0] == 200


def win_games(base_url: str, name: str, count: int) -> None:
    """`name` wins `count` games on the 1 to 10 board by halving (over plain HTTP)."""
    player = Browser(base_url)
    assert player.request("/login", {"username": name, "password": PASSWORD})[0] == 303
    for _ in range(count):
        player.request("/games", {"max": "10"})
        game = re.search(r'href="/games/([A-Za-z0-9_-]+)"', player.request("/")[1]).group(1)
        low, high = 1, 10
        while True:
            middle = (low + high) // 2
            player.request(f"/games/{game}/guesses", {"guess": str(middle)})
            page = player.request(f"/games/{game}")[1]
            if 'data-status="won"' in page:
                break
            low, high = (middle + 1, high) if f"Higher than {middle}:" in page else (low, middle - 1)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_an_admin_invites_someone_who_signs_up(community, new_page, javascript):
    admin, newcomer = new_page(javascript=javascript), new_page(javascript=javascript)
    newcomer.page.goto(community.url + "/signup")
    expect(newcomer.page.locator("#signup-refused")).to_contain_text("Sign-up here is by invitation")

    log_in(admin.page, community.url, "boss")
    admin.page.get_by_role("link", name="Admin").click()
    admin.page.get_by_role("navigation", name="Admin").get_by_role("link", name="Invites").click()
    expect(admin.page.locator("h1")).to_have_text("Invites")
    invites_before = admin.page.locator("#invite-list li").count()
    admin.page.get_by_label("Sign-ups it allows").fill("2")
    admin.page.get_by_label("Note").fill("the Tuesday class")
    admin.page.get_by_role("button", name="Make an invite link").click()
    newest = admin.page.locator("#invite-list li").first
    expect(newest).to_contain_text("used 0 of 2")
    link = newest.locator("input.invite-link").input_value()
    assert re.fullmatch(rf"{re.escape(community.url)}/signup\?invite=[A-Za-z0-9_-]{{22}}", link)

    name = unique("ivy")
    newcomer.page.goto(link)
    newcomer.page.get_by_label("Username").fill(name)
    newcomer.page.get_by_label("Password").fill(PASSWORD)
    newcomer.page.get_by_role("button", name="Sign up").click()
    expect(newcomer.page.locator("header nav")).to_contain_text(f"Signed in as {name}")
    expect(newcomer.page.get_by_role("link", name="Admin")).to_have_count(0)
    admin.page.reload()  # the list again, not the form sent again
    expect(admin.page.locator("#invite-list li")).to_have_count(invites_before + 1)
    expect(admin.page.locator("#invite-list li").first).to_contain_text(f"used 1 of 2 (by {name})")
    assert admin.csp_violations() == [] and newcomer.csp_violations() == []


def test_a_report_then_a_suspension_closes_the_authors_open_tab_live(community, new_page):
    author_name, reader_name = unique("author"), unique("reader")
    account(community.url, author_name)
    account(community.url, reader_name)
    author, reader, admin = new_page(), new_page(), new_page()
    log_in(author.page, community.url, author_name)
    log_in(reader.page, community.url, reader_name)
    author.page.goto(f"{community.url}/chat/{reader_name}")
    reader.page.goto(f"{community.url}/chat/{author_name}")
    reader.page.wait_for_function("() => document.body.hasAttribute('data-htmx-powered')")

    author.page.get_by_label("Message").fill("something nasty")
    author.page.get_by_role("button", name="Send").click()
    pushed = reader.page.locator("article.message.theirs").last  # arrived live: the one shared render
    expect(pushed.locator(".body")).to_have_text("something nasty")
    mine = author.page.locator("article.message.mine").last
    expect(mine.locator(".body")).to_have_text("something nasty")
    expect(message_menu(mine).get_by_role("link", name="Report…")).to_be_hidden()  # not on one's own message
    author.page.keyboard.press("Escape")
    message_menu(pushed).get_by_role("link", name="Report…").click()
    expect(reader.page.locator("#report h1")).to_have_text(f"Report a message of {author_name}")
    reader.page.get_by_label("Harassment or bullying").check()
    reader.page.get_by_label("Anything to add").fill("Third time today.")
    reader.page.get_by_role("button", name="Send the report").click()
    expect(reader.page.locator("#report")).to_contain_text("Your report was received.")

    log_in(admin.page, community.url, "boss")
    admin.page.goto(community.url + "/admin/reports")
    report = admin.page.locator("article.report").first
    expect(report).to_contain_text("something nasty")
    expect(report).to_contain_text("Third time today.")
    report.get_by_label("Reason").fill("Harassing another member.")
    report.get_by_role("button", name=f"Suspend {author_name}").click()
    expect(admin.page.locator("#admin-reports .notice")).to_contain_text(f"{author_name} is suspended")

    expect(author.page).to_have_url(re.compile(r"/login\?next="), timeout=10_000)  # closed live, then signed out
    author.page.get_by_label("Username").fill(author_name)
    author.page.get_by_label("Password").fill(PASSWORD)
    author.page.get_by_role("button", name="Log in").click()
    expect(author.page.locator("#login-form .form-error")).to_contain_text("This account is suspended")
    expect(author.page.locator("#login-form .form-error")).to_contain_text("Harassing another member.")
    reader.page.goto(f"{community.url}/chat/{author_name}")
    expect(reader.page.locator("#conversation .suspended")).to_have_text("suspended")
    for watched in (author, reader, admin):
        assert watched.csp_violations() == [], watched.problems


def test_an_admin_removes_a_board_entry_and_an_open_board_drops_it_live(community, new_page):
    player = unique("player")
    account(community.url, player)
    win_games(community.url, player, MIN_GAMES)
    viewer, admin = new_page(), new_page()
    viewer.page.goto(community.url + "/scores/10")
    row = viewer.page.locator(f'#board-10 li[data-name="{player}"]')
    expect(row).to_have_count(1)
    viewer.page.wait_for_function("() => document.body.hasAttribute('data-htmx-powered')")
    viewer.page.evaluate("() => { window.notReloaded = true }")
    expect(viewer.page.locator(".board-moderation")).to_have_count(0)  # admins only

    log_in(admin.page, community.url, "boss")
    admin.page.goto(community.url + "/scores/10")
    admin.page.locator("#board-moderation-10").get_by_role("button", name=f"Remove {player}").click()
    # A page asks to confirm, with a reason for the audit log.
    admin.page.get_by_label("Reason (optional; kept in the audit log)").fill("Testing the board.")
    admin.page.locator("#board-remove-form").get_by_role("button", name=f"Remove {player}").click()
    expect(admin.page.locator(f'#board-10 li[data-name="{player}"]')).to_have_count(0)
    expect(row).to_have_count(0)  # pushed to the other browser
    assert viewer.page.evaluate("() => window.notReloaded") is True
    assert viewer.csp_violations() == [] and admin.csp_violations() == []
