"""Property tests: whatever a client puts in a guess, a username, a message, a cursor, a callback,
a paging argument, a cookie or a multipart body, the answer is never a 5xx, and a 4xx says why.
They run against one real server process, over one kept-alive connection (a few ms a request)."""
from __future__ import annotations

import http.client
import json
import re
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parlor.web.handlers.jsonp import CALLBACK_RE
from tests.world import World

pytestmark = pytest.mark.slow  # one server process for the module

FUZZ = settings(max_examples=80, deadline=None, database=None,  # no example files left in the worktree
                suppress_health_check=[HealthCheck.too_slow])
# Anything, with the characters that have tripped parsers before weighted in.
TRICKY = st.sampled_from(list("\x00\t\n\r /\\%&=?#+._-<>\"'`:;@\u2028\u200b\u202e\ufeff٣１²ａ\U0001F600"))
TEXT = st.one_of(st.text(max_size=40), st.text(TRICKY, max_size=20), st.text(max_size=5000))


class Client:
    """A kept-alive HTTP/1.1 connection carrying one visitor's cookies."""

    def __init__(self, base_url: str, cookies: dict[str, str]):
        self.address = urlsplit(base_url).netloc
        self.cookies = cookies
        self.connection = http.client.HTTPConnection(self.address, timeout=30)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body, all_headers)
                response = self.connection.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()  # the server may close a connection after an error; once more
                self.connection = http.client.HTTPConnection(self.address, timeout=30)
                if attempt == 2:
                    raise

    def form(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        body = urlencode({**fields, "_xsrf": self.cookies["_xsrf"]})
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


@pytest.fixture(scope="module")
def world():
    w = World.start()
    yield w
    assert w.server.health() == 200  # still serving after all of it
    w.stop()


@pytest.fixture(scope="module")
def alice(world):
    return Client(world.base_url, dict(world.cookies["alice"]))


def sound(status: int, body: str) -> None:
    """No 5xx; a refusal carries a message."""
    assert status < 500, body[:300]
    if 400 <= status < 500:
        assert re.search(r"[A-Za-z]{3}", body), f"a {status} without a message"


@FUZZ
@given(guess=TEXT)
def test_any_guess(world, alice, guess):
    status, body = alice.form(world.path("/games/{game}/guesses"), {"guess": guess})
    sound(status, body)
    assert status in (303, 400, 409)


@FUZZ
@given(username=TEXT, password=st.text(max_size=7))
def test_any_username(world, username, password):
    # A password under 8 characters is always refused, so no account is made (and nothing hashed):
    # what is exercised is the username's parsing and folding on the way.
    anon = Client(world.base_url, dict(world.cookies["anon"]))
    status, body = anon.form("/signup", {"username": username, "password": password})
    sound(status, body)
    assert status in (400, 409)


@FUZZ
@given(peer=TEXT, path=st.sampled_from(["/chat/{}", "/chat/{}/messages?before=1", "/chat/{}/images/1",
                                        "/chat/start?peer={}", "/scores/10?around={}"]))
def test_any_peer_or_player_name(world, alice, peer, path):
    status, body = alice.request("GET", path.format(quote(peer, safe="")))
    sound(status, body)


@FUZZ
@given(body=TEXT, client_id=st.one_of(st.none(), TEXT))
def test_any_message_body(world, body, client_id):
    script = Client(world.base_url, {})
    payload = {"to": "bob", "body": body, **({"client_id": client_id} if client_id is not None else {})}
    status, answer = script.request("POST", "/api/messages", json.dumps(payload),
                                    {"Content-Type": "application/json",
                                     "Authorization": f"Bearer {world.ids['token']}"})
    sound(status, answer)
    assert status in (200, 201, 400)


@FUZZ
@given(words=TEXT, before=TEXT, path=st.sampled_from(["/chat/bob/search", "/search"]))
def test_any_search(world, alice, words, before, path):
    status, body = alice.request("GET", path + "?" + urlencode({"q": words, "before": before}))
    sound(status, body)
    assert status in (200, 400, 429)  # 429: the limit on searches of all conversations


@FUZZ
@given(data=st.one_of(st.binary(max_size=3000), st.text(max_size=300).map(str.encode)),
       boundary=st.sampled_from(["b", "", "x" * 80, "--", '"q"']))
def test_any_multipart_body(world, alice, data, boundary):
    status, body = alice.request("POST", f"/chat/bob/messages?_xsrf={quote(alice.cookies['_xsrf'])}", data,
                                 {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    sound(status, body)


@FUZZ
@given(cursor=TEXT, boards=TEXT, timeout=TEXT)
def test_any_cursor(world, alice, cursor, boards, timeout):
    if timeout.isascii() and timeout.isdigit():
        timeout = "0"  # a real wait would only slow the test down
    status, body = alice.request("GET", "/poll?" + urlencode({"after": cursor, "boards": boards, "timeout": timeout}))
    sound(status, body)


@FUZZ
@given(callback=TEXT)
def test_any_callback(world, callback):
    anon = Client(world.base_url, {})
    status, body = anon.request("GET", f"/scores/10.json?callback={quote(callback, safe='')}")
    sound(status, body)
    if status == 200:  # a plain (dotted) identifier, the only thing around the data
        wrapped = re.fullmatch(r"/\*\*/ typeof (\S+) === 'function' && \1\((.*)\);", body, re.S)
        assert wrapped and CALLBACK_RE.fullmatch(wrapped.group(1)) and json.loads(wrapped.group(2))
    status, body = anon.request("GET", f"/poll?timeout=0&token={world.ids['token']}&callback={quote(callback, safe='')}")
    sound(status, body)


@FUZZ
@given(limit=TEXT, offset=TEXT, board=TEXT)
def test_any_paging(world, limit, offset, board):
    anon = Client(world.base_url, {})
    for path in (f"/scores/10?limit={quote(limit)}&offset={quote(offset)}",
                 f"/scores/10/fragment?limit={quote(limit)}", f"/scores/{quote(board, safe='')}.json",
                 f"/games/{quote(board, safe='')}"):
        sound(*anon.request("GET", path))


@FUZZ
@given(fields=st.dictionaries(TEXT, TEXT, max_size=8),
       path=st.sampled_from(["/signup", "/login", "/games", "/games/{game}/name", "/account/token", "/logout",
                             "/create_conversation_db", "/get_message_history", "/send_message/bob"]))
def test_any_form(world, fields, path):
    # Carol's session (/logout may end it, and the rest then answer a guest). No account is made
    # or checked, so no password is hashed: sign-ups get no password, logins no username.
    carol = Client(world.base_url, dict(world.cookies["carol"]))
    fields.pop("username" if path == "/login" else "password", None)
    status, body = carol.form(world.path(path), fields)
    sound(status, body)


@FUZZ
@given(cookie=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=300),
       hx=st.sampled_from([{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-History-Restore-Request": "true"}]))
def test_any_cookie_and_htmx_header(world, cookie, hx):
    anon = Client(world.base_url, {})
    status, body = anon.request("GET", "/", headers={"Cookie": f"parlor_session={cookie}; _xsrf={cookie}", **hx})
    sound(status, body)
    assert status == 200 and "Signed in as" not in body
