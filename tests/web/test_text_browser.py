"""Parlor in a real text browser: w3m under tmux (keys sent with send-keys, the screen read with
capture-pane) against a real server process: sign up, a whole game by halving the range, and a
chat message to another user."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.helpers import ServerProcess

pytestmark = pytest.mark.slow

# Cookies on (sessions and the XSRF cookie), no question on quitting. A textarea is filled by an
# "editor" that copies the text the test chose into w3m's file: keys typed into a real editor race
# its start, and a stray "q" that reaches w3m quits it.
W3M = ["w3m", "-o", "use_cookie=1", "-o", "accept_cookie=1", "-o", "confirm_qq=0"]
EDITOR_SCRIPT = '#!/bin/sh\ncp "$HOME/textarea.txt" "$1"\n'
STEP_TIMEOUT_S = 15  # one page load or prompt on a busy 2-core machine


class TextBrowser:
    """w3m in a detached tmux session of its own (own socket, own HOME for cookies and the editor)."""

    def __init__(self, directory: Path, url: str):
        self.directory = directory
        self.socket = str(directory / "tmux.sock")
        self.env = {**os.environ, "HOME": str(directory), "LANG": "C.UTF-8", "TERM": "xterm-256color"}
        editor = directory / "editor.sh"
        editor.write_text(EDITOR_SCRIPT)
        editor.chmod(0o700)
        self.tmux("new-session", "-d", "-x", "110", "-y", "60", " ".join(W3M + ["-o", f"editor='{editor} %s'", url]))

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], env=self.env, check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def cursor_line(self) -> str:
        """The screen line the cursor is on."""
        row = int(self.tmux("display-message", "-p", "#{cursor_y}"))
        return self.screen().split("\n")[row]

    def wait_until(self, done, what: str):
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not (result := done()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not on the screen:\n{self.screen()}")
            time.sleep(0.05)
        return result

    def wait_for(self, pattern: str) -> re.Match:
        """The first match of a regular expression on the screen, once it shows."""
        return self.wait_until(lambda: re.search(pattern, self.screen(), re.M), repr(pattern))

    def wait_for_prompt(self, prompt: str) -> None:
        """w3m asks on the bottom line."""
        self.wait_for(rf"^{re.escape(prompt)}.*\s*\Z")

    def search(self, text: str) -> None:
        """Move the cursor to the next place showing text (w3m's / search)."""
        self.keys("/")
        self.wait_for_prompt("Forward:")
        self.keys(text, "Enter")
        # Done when the cursor has left the prompt for the line with the text on it.
        self.wait_until(lambda: text in self.cursor_line() and not self.cursor_line().startswith("Forward:"),
                        f"the cursor on {text!r}")

    def fill_after(self, label: str, value: str, prompt: str = "TEXT:") -> None:
        """Fill the text field that follows a label: Tab to it, Enter, type at the prompt."""
        self.search(label)
        self.keys("Tab", "Enter")
        self.wait_for_prompt(prompt)
        self.keys(value, "Enter")

    def fill_textarea(self, text: str) -> None:
        """Enter on the textarea under the cursor: w3m runs its editor, which writes text."""
        (self.directory / "textarea.txt").write_text(text)
        self.keys("Enter")
        self.wait_for(r"\[" + re.escape(text[:12]))  # back in w3m, the box filled

    def go(self, url: str) -> None:
        self.keys("U")
        self.wait_for_prompt("Goto URL:")
        self.keys("C-u", url, "Enter")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=10)


@pytest.fixture
def server():
    directory = Path(tempfile.mkdtemp(prefix="parlor-w3m-", dir="/tmp"))  # short: socket path limits
    process = ServerProcess(directory / "data").start()
    yield process
    process.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def w3m(server):
    """w3m on the sign-up page of a fresh server."""
    browser = TextBrowser(server.data_dir.parent, server.url + "/signup")
    yield browser
    browser.close()


class HttpUser:
    """Another person, over plain HTTP with a cookie jar."""

    def __init__(self, url: str):
        self.url = url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.url + path, timeout=10) as response:
            return response.read().decode()

    def sign_up(self, username: str) -> None:
        self.get("/signup")  # the XSRF cookie
        xsrf = next(c.value for c in self.jar if c.name == "_xsrf")
        form = urllib.parse.urlencode({"_xsrf": xsrf, "username": username, "password": "correct horse"})
        self.opener.open(self.url + "/signup", data=form.encode(), timeout=30).close()


def test_a_game_and_a_chat_message_in_w3m(server, w3m):
    bob = HttpUser(server.url)
    bob.sign_up("bob")
    w3m.wait_for(r"^Sign up$")
    w3m.fill_after("Username", "reader")
    w3m.fill_after("Password", "correct horse", prompt="Password:")
    w3m.keys("Tab", "Enter")  # the Sign up button
    w3m.wait_for(r"Signed in as reader")

    w3m.search("Start")  # the start form, 1 to 25 already chosen
    w3m.keys("Enter")
    w3m.wait_for(r"^A number from 1 to 25$")
    low, high, guesses = 1, 25, 0
    while True:
        middle = (low + high) // 2
        w3m.fill_after("Your guess", str(middle))
        w3m.keys("Tab", "Enter")  # the Guess button
        guesses += 1
        answer = w3m.wait_for(rf"(Higher|Lower) than {middle}:|Correct! You found it in {guesses} guess")
        if answer.group(0).startswith("Correct"):
            break
        assert guesses < 5, "halving 1 to 25 needs 5 guesses at most"
        low, high = (middle + 1, high) if answer.group(1) == "Higher" else (low, middle - 1)
    w3m.wait_for(r"It counts on the 1 to 25 board: play 4 more games")  # ranked from five games on
    assert re.search(rf"^\s*1\. {middle} correct", w3m.screen(), re.M)  # the newest guess first

    w3m.search("Chat")  # the link in the header
    w3m.keys("Enter")
    w3m.wait_for(r"^Talk to")
    w3m.fill_after("Talk to", "bob")
    w3m.keys("Tab", "Enter")  # Open
    w3m.wait_for(r"^bob$")
    w3m.search("Remove the picture")  # the control before the message box (after the picture input)
    w3m.keys("Tab")  # the message box
    w3m.fill_textarea("Hello bob, from a text browser")
    w3m.keys("Tab", "Enter")  # Send
    w3m.wait_for(r"^Hello bob, from a text browser$")  # the conversation, with the message in it
    assert "Hello bob, from a text browser" in bob.get("/chat/reader")


def test_an_admin_makes_an_invite_and_suspends_someone_in_w3m(server, w3m):
    """The admin pages are plain forms: w3m uses them as any browser does."""
    import sys

    from tests.helpers import ROOT

    made = subprocess.run([sys.executable, str(ROOT / "server.py"), "admin", "create", "boss", "--password",
                           "correct horse", "--data-dir", str(server.data_dir)], capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    HttpUser(server.url).sign_up("bob")
    w3m.go(server.url + "/login")
    w3m.wait_for(r"^Log in$")
    w3m.fill_after("Username", "boss")
    w3m.fill_after("Password", "correct horse", prompt="Password:")
    w3m.keys("Tab", "Enter")  # Log in
    w3m.wait_for(r"Signed in as boss")

    w3m.go(server.url + "/admin/invites")
    w3m.wait_for(r"^Invites$")
    w3m.search("Sign-ups it allows")
    w3m.keys("Tab", "Enter")
    w3m.wait_for_prompt("TEXT:")
    w3m.keys("C-u", "3", "Enter")  # in place of the 1 it holds
    w3m.fill_after("Note", "w3m class")
    w3m.keys("Tab", "Enter")  # Make an invite link
    w3m.wait_for(r"used 0 of 3")

    w3m.go(server.url + "/admin/users/bob")
    w3m.wait_for(r"^Account: bob$")
    w3m.search("they read it")  # the reason's label (w3m searches a regular expression: no parentheses)
    w3m.keys("Tab")  # the reason's box
    w3m.fill_textarea("Testing in a text browser.")
    w3m.keys("Tab", "Enter")  # Suspend bob (for 1 hour, the first choice)
    w3m.wait_for(r"bob is suspended until")
    w3m.go(server.url + "/admin/log")
    w3m.wait_for(r"boss +suspended +bob +Testing in a text")
