"""A real server process and Debian's headless Chromium, driven by Playwright."""
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.helpers import ROOT, ServerProcess, pair_file

CHROMIUM = "/usr/bin/chromium"  # Debian's package; a test never downloads a browser
DAY_MS = 24 * 3600 * 1000  # a message's sent_at is in milliseconds
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server():
    """server.py with its embedded Redis in a fresh data dir, as `make run` starts it."""
    directory = Path(tempfile.mkdtemp(prefix="parlor-e2e-", dir="/tmp"))
    # Every browser signs up from 127.0.0.1: the sign-up limit (5 an hour per address) is off.
    process = ServerProcess(directory / "data", "--signup-limit", "0").start()
    yield process
    process.stop()
    shutil.rmtree(directory, ignore_errors=True)


# The two screens the chat is judged on: a phone (touch) and a laptop.
SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
    "desktop": {"viewport": {"width": 1366, "height": 768}},
}


class Watched:
    """A page whose console errors and CSP violations are collected."""

    def __init__(self, context):
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def csp_violations(self):
        return [p for p in self.problems if "Content Security Policy" in p or "Content-Security-Policy" in p]


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(javascript: bool = True, size: str | None = None) -> Watched:
        context = browser.new_context(java_script_enabled=javascript, **SIZES.get(size, {}))
        contexts.append(context)
        return Watched(context)

    yield make
    for context in contexts:
        context.close()


def play_by_counting(page) -> int:
    """Guess 1, 2, 3, ... until it is won: the slow way, for a histogram with some spread."""
    for guess in range(1, 1001):
        page.get_by_label("Your guess").fill(str(guess))
        page.get_by_role("button", name="Guess").click()
        newest = page.locator("ol.guesses li.guess").first
        expect(newest.locator(".value")).to_have_text(str(guess))
        if newest.locator(".word").inner_text() == "correct":
            return guess
    raise AssertionError("not won by counting")


def click_guess(page, number: int) -> None:
    page.get_by_label("Your guess").fill(str(number))
    page.get_by_role("button", name="Guess").click()


def play_by_halving(page, stop_after: int | None = None, enter=click_guess) -> int:
    """Halve the range through the game page until it is won (or stop_after guesses), each guess
    made by enter(page, number); returns the number of guesses."""
    board = int(page.locator("#game h1").inner_text().rsplit(" ", 1)[1])
    low, high, count = 1, board, 0
    while stop_after is None or count < stop_after:
        middle = (low + high) // 2
        enter(page, middle)
        count += 1
        newest = page.locator("ol.guesses li.guess").first
        expect(newest.locator(".value")).to_have_text(str(middle))
        word = newest.locator(".word").inner_text()
        if word == "correct":
            break
        low, high = (middle + 1, high) if word == "higher" else (low, middle - 1)
    return count


def picture_png() -> bytes:
    """A small picture to send: a gradient, so a screenshot shows a picture, not a flat block."""
    import io

    import PIL.Image

    image = PIL.Image.linear_gradient("L").resize((360, 240)).convert("RGB")
    r, g, b = image.split()
    out = io.BytesIO()
    PIL.Image.merge("RGB", (r, g.point(lambda v: 255 - v // 2), b.point(lambda v: 160))).save(out, "PNG")
    return out.getvalue()


@dataclass
class Scene:
    """A server with some life in it, for tests that look at every kind of page."""

    url: str
    ada: dict  # ada's browser state (cookies): she is signed in
    game: str  # the path of ada's game in progress, a few guesses in
    won: str  # of a game ada won
    guest: dict  # a guest who won a game and has not named themself yet
    guest_won: str  # the path of that game
    admin: dict  # boss, an admin (made with `parlor admin create`), with a report of ada's to read


@pytest.fixture(scope="session")
def scene(browser, tmp_path_factory):
    """A server of its own where ada and grace play and chat (a picture too) and a guest wins a
    game; shared by the tests that look at pages and change nothing there."""
    directory = Path(tempfile.mkdtemp(prefix="parlor-scene-", dir="/tmp"))  # short: socket path limit
    server = ServerProcess(directory / "data").start()
    try:
        yield make_scene(server, browser, tmp_path_factory.mktemp("scene"))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def make_scene(server, browser, directory: Path) -> Scene:
    contexts = [browser.new_context() for _ in range(3)]
    ada, grace, guest = (context.new_page() for context in contexts)
    sign_up(grace, server.url, "grace")
    # Five games each, so that both are on the board (it ranks players from five games on).
    for play in (play_by_halving, play_by_counting, play_by_counting, play_by_halving, play_by_halving):
        start_game(grace, server.url, 10)
        play(grace)
    sign_up(ada, server.url, "ada")
    for _ in range(5):
        start_game(ada, server.url, 10)
        play_by_halving(ada)
    won = ada.url.removeprefix(server.url)
    start_game(ada, server.url, 100)
    play_by_halving(ada, stop_after=3)
    game = ada.url.removeprefix(server.url)
    start_game(guest, server.url, 10)
    play_by_halving(guest)
    grace.goto(server.url + "/chat/ada")
    grace.get_by_label("Message").fill("Fancy a game of 1 to 100? I found mine in 7.")
    grace.get_by_role("button", name="Send").click()
    ada.goto(server.url + "/chat/grace")
    ada.get_by_label("Message").fill("Three guesses in and closing in. Meanwhile, a picture:")
    ada.get_by_role("button", name="Send").click()
    # The answer to a send swaps in a fresh form: a file chosen before it arrives is dropped.
    expect(ada.locator("article.message")).to_have_count(2)
    expect(ada.get_by_label("Message")).to_have_value("")
    picture = directory / "picture.png"
    picture.write_bytes(picture_png())
    ada.get_by_label("Picture", exact=False).set_input_files(str(picture))
    ada.get_by_role("button", name="Send").click()
    expect(ada.locator("article.message")).to_have_count(3)
    for writer, text in ((grace, "Nice colours. The trick, if you want it: https://en.wikipedia.org/wiki/Binary_search"),
                         (ada, "Halving, then. Back soon with my 1 to 100 score.")):  # each on their conversation
        writer.get_by_label("Message").fill(text)
        writer.get_by_role("button", name="Send").click()
        expect(writer.locator("article.message:not(.pending)").last.locator(".body")).to_have_text(text)  # stored
    grace.goto(server.url + "/chat/ada")
    grace.locator("#conversation .scroller").evaluate("(box) => box.scrollTo(0, 0)")  # reads to the end: ada sees "Seen"
    expect(ada.locator("article.message.mine").last.locator(".status")).to_have_text("Seen")
    with closing(sqlite3.connect(pair_file(server.data_dir, "ada", "grace"), timeout=5)) as db, db:
        db.execute("UPDATE messages SET sent_at = sent_at - ? WHERE id <= 2", (DAY_MS,))  # a day line between
    ada.goto(server.url + "/chat/grace/messages/1/report")  # grace's first message
    ada.get_by_label("Spam or advertising").check()
    ada.get_by_role("button", name="Send the report").click()
    expect(ada.locator("#report")).to_contain_text("received")
    subprocess.run([sys.executable, str(ROOT / "server.py"), "admin", "create", "boss", "--password", "correct horse",
                    "--data-dir", str(server.data_dir)], check=True, capture_output=True, timeout=60)
    contexts.append(browser.new_context())
    boss = contexts[-1].new_page()
    boss.goto(server.url + "/login")
    boss.get_by_label("Username").fill("boss")
    boss.get_by_label("Password").fill("correct horse")
    boss.get_by_role("button", name="Log in").click()
    expect(boss.locator("header nav")).to_contain_text("Signed in as boss")
    scene = Scene(server.url, contexts[0].storage_state(), game, won, contexts[2].storage_state(),
                  guest.url.removeprefix(server.url), contexts[3].storage_state())
    for context in contexts:
        context.close()
    return scene


def sign_up(page, base_url, username, password="correct horse"):
    page.goto(base_url + "/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("header nav")).to_contain_text(f"Signed in as {username}")


def start_game(page, base_url, board: int):
    page.goto(base_url + "/")
    page.get_by_label(str(board), exact=True).check()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#game h1")).to_have_text(f"A number from 1 to {board}")


def message_menu(message):
    """A message's actions menu, opened with its "⋯" (shown on hover)."""
    message.hover()
    message.get_by_role("button", name="Actions for this message").click()
    return message.locator(".menu")


def conversation_menu(page):
    """The conversation's menu (mute, block, report), opened."""
    page.locator("#conversation .menu-button").click()
    return page.locator("#conversation-menu")


def account_menu(page):
    """The account's menu in the site's header (log out, notifications), opened."""
    page.locator("header .account-button").click()
    return page.locator("#account-menu")
