"""Hostile input, one row per case: every bad input the game, chat, foundation and live-delivery
issues name, and the classic attacks on top. Each row asserts the status (a 4xx with a message
a person can read, never a 5xx) and that nothing stored changed: every Redis key (sessions and
presence bookkeeping aside) and every row of every chat file is the same after as before."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pytest
import tornado.httpclient
import tornado.web

from tests.helpers import multipart, password_hash
from tests.unit.chat.test_images import CORPUS
from tests.web.test_chat import picture, png_header_only
from tests.world import World

CLOSED = "closed"  # the server closed the connection without an answer (Tornado's header limit)

pytestmark = pytest.mark.slow  # one server process for the module


@pytest.fixture(scope="module")
def world():
    # The address limits on (high: the rows that reach them spend the bucket first).
    w = World.start("--signup-limit=1000/3600", "--login-limit=1000/60")
    # dave, who blocked carol, for the rows about blocks
    w.redis.hset("user:dave", mapping={"password_hash": "-", "created_at": "0"})
    w.redis.sadd("blocks:dave", "carol")
    w.redis.sadd("blocked-by:carol", "dave")
    # "admin" is an admin; erin (password "correct horse") is suspended, by him.
    w.redis.sadd("admins", "admin")
    w.redis.hset("user:erin", mapping={"password_hash": password_hash(), "created_at": "0"})

    async def suspend_erin():
        admin = Scene(w, tornado.httpclient.AsyncHTTPClient()).visitors["admin"]
        answer = await admin.post("/admin/users/erin/suspension", {"action": "suspend", "length": "0",
                                                                   "reason": "For the table."})
        assert answer.code == 200

    asyncio.run(suspend_erin())
    yield w
    w.stop()


class Scene:
    """One test's view of the world: visitors with copies of everyone's cookies."""

    def __init__(self, world: World, http_client):
        self.world = world
        self.base_url = world.base_url
        self.visitors = world.visitors(http_client)
        self.anon = self.visitors["anon"]

    def path(self, template: str) -> str:
        return self.world.path(template)


# -- how a row makes its request -------------------------------------------------------------

def get(who, path, headers=None):
    return lambda w: w.visitors[who].get(w.path(path), headers=headers)


def post(who, path, fields=None, xsrf=True, headers=None):
    return lambda w: w.visitors[who].post(w.path(path), {k: w.path(v) for k, v in (fields or {}).items()},
                                          xsrf=xsrf, headers=headers)


def fetch(who, path, method="GET", body=None, headers=None):
    return lambda w: w.visitors[who].fetch(w.path(path), method, body, {k: w.path(v) for k, v in (headers or {}).items()})


def send(who, peer, body="", image=None, client_id=None, reply_to=None):
    async def action(w):
        visitor = w.visitors[who]
        fields = {"body": body, "client_id": client_id or "fresh-client-id-01",
                  **({"reply_to": reply_to} if reply_to is not None else {})}
        data, content_type = multipart(fields, {"image": image} if image else None)
        return await visitor.fetch(f"/chat/{peer}/messages?_xsrf={quote(visitor.cookies['_xsrf'])}", "POST",
                                   data, {"Content-Type": content_type})
    return action


def form_bytes(who, path, body: bytes):
    """A urlencoded form sent as these bytes (with the visitor's XSRF token)."""
    async def action(w):
        visitor = w.visitors[who]
        data = body + b"&_xsrf=" + quote(visitor.cookies["_xsrf"]).encode()
        return await visitor.fetch(path, "POST", data, {"Content-Type": "application/x-www-form-urlencoded"})
    return action


def chunked(who, path, body: bytes, headers=None, xsrf=False):
    """A POST whose body has no Content-Length (Transfer-Encoding: chunked), in 16 KiB chunks;
    xsrf: the visitor's XSRF token in the form ("url": in the address, as the send form has it)."""
    async def action(w):
        visitor = w.visitors[who]
        data = body + (b"&_xsrf=" + quote(visitor.cookies["_xsrf"]).encode() if xsrf is True else b"")
        if xsrf == "url":
            path_ = f"{path}?_xsrf={quote(visitor.cookies['_xsrf'])}"
        else:
            path_ = path

        async def produce(write):
            for start in range(0, len(data), 16384):
                await write(data[start:start + 16384])

        all_headers = {"Cookie": visitor.cookie_header(), **{k: w.path(v) for k, v in (headers or {}).items()}}
        return await visitor.http.fetch(w.base_url + path_, method="POST", body_producer=produce, headers=all_headers,
                                        raise_error=False, follow_redirects=False)
    return action


def verb(who, path, method):
    """Another HTTP method, with the XSRF header htmx would send."""
    return lambda w: w.visitors[who].fetch(w.path(path), method, None,
                                           {"X-XSRFToken": w.visitors[who].cookies["_xsrf"]})


def multipart_raw(who, peer, data: bytes, content_type: str):
    async def action(w):
        visitor = w.visitors[who]
        return await visitor.fetch(f"/chat/{peer}/messages?_xsrf={quote(visitor.cookies['_xsrf'])}", "POST",
                                   data, {"Content-Type": content_type})
    return action


def as_cookie(who, change):
    """A page view with the visitor's session cookie changed by `change(cookie, app)`."""
    async def action(w):
        visitor = w.visitors[who]
        headers = {"Cookie": f"parlor_session={change(visitor.cookies['parlor_session'], w.world.secret)}"}
        return await w.anon.fetch("/", headers=headers)
    return action


def with_xsrf_of(who, other, path, fields):
    """`who` posts a form carrying `other`'s XSRF token (a token lifted from another session)."""
    async def action(w):
        visitor = w.visitors[who]
        body = "&".join(f"{k}={quote(v)}" for k, v in {**fields, "_xsrf": w.visitors[other].cookies["_xsrf"]}.items())
        return await visitor.fetch(path, "POST", body, {"Content-Type": "application/x-www-form-urlencoded"})
    return action


def live(who, query="", origin=None):
    """Open /live; a refusal comes back as an HTTP error."""
    async def action(w):
        try:
            ws = await w.visitors[who].live(origin=origin and w.path(origin), query=query)
        except tornado.httpclient.HTTPClientError as e:
            return e.response
        ws.close()
        return Answer(101, b"")
    return action


def raw(data: bytes):
    """Send bytes as they are; CLOSED if the server hangs up without answering."""
    async def action(w):
        parts = urlsplit(w.base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(data)
        try:
            head = await asyncio.wait_for(reader.read(65536), 10)
        except ConnectionError:
            head = b""
        writer.close()
        if not head:
            return Answer(CLOSED, b"")
        return Answer(int(head.split(b" ", 2)[1]), head)
    return action


def locked_login(address_header=None):
    """Someone failed to log in as alice ten times from here; the next try (even with the right
    password, even claiming another address) is refused."""
    async def action(w):
        w.world.redis.set("login-attempts:alice:127.0.0.1", 10, ex=60)
        return await w.anon.post("/login", {"username": "alice", "password": "correct horse"},
                                 headers=address_header)
    return action


def over_the_limit(limit: str, period_s: int, action):
    """`action` from an address whose `limit` bucket is spent, as after a flood of tries."""
    async def run(w):
        key = f"rate:{limit}:127.0.0.1"
        seconds, micros = w.world.redis.time()  # the buckets' own clock
        w.world.redis.set(key, seconds * 1000 + micros // 1000 + 2 * period_s * 1000, px=2 * period_s * 1000)
        try:
            return await action(w)
        finally:
            w.world.redis.delete(key)
    return run


def fixation():
    """Session fixation: an attacker plants their own (guest) session cookie in the victim's
    browser; the victim logs in. Their session must get a new id, and the planted one must not
    become theirs."""
    async def action(w):
        attacker = await w.world.signed_in(w.anon.http, None)
        planted = attacker.cookies["parlor_session"]
        victim = w.visitors["anon"]
        victim.cookies.update(attacker.cookies)
        assert (await victim.post("/login", {"username": "bob", "password": "correct horse"})).code == 303
        assert victim.cookies["parlor_session"] != planted
        assert "Signed in as <strong>bob" in (await victim.get("/")).body.decode()
        return await attacker.get("/")  # the attacker, still holding the planted cookie
    return action


@dataclass
class Answer:
    code: int
    body: bytes


def tamper(cookie: str, secret: str) -> str:
    return cookie[:-4] + ("0000" if not cookie.endswith("0000") else "1111")


def other_secret(cookie: str, secret: str) -> str:
    session_id = tornado.web.decode_signed_value(secret, "parlor_session", cookie)
    return tornado.web.create_signed_value("another-secret-" + "y" * 20, "parlor_session", session_id).decode()


def other_name(cookie: str, secret: str) -> str:
    """The same session id, signed for another cookie name (the signature covers the name)."""
    session_id = tornado.web.decode_signed_value(secret, "parlor_session", cookie)
    return tornado.web.create_signed_value(secret, "_xsrf", session_id).decode()


def expired(cookie: str, secret: str) -> str:
    session_id = tornado.web.decode_signed_value(secret, "parlor_session", cookie)
    return tornado.web.create_signed_value(secret, "parlor_session", session_id,
                                           clock=lambda: time.time() - 40 * 86400).decode()


SIGNED_OUT = 'href="/login"'
JSON_TEXT = {"Content-Type": "application/json"}
BEARER = {"Authorization": "Bearer {token}"}
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

# (id, action, status, words the answer must contain, words it must not contain)
ROWS = [
    # -- accounts (the foundation issue) --
    ("signup a_b", post("anon", "/signup", {"username": "a_b", "password": "long enough"}), 400, "3 to 32 characters", None),
    ("signup ../x", post("anon", "/signup", {"username": "../x", "password": "long enough"}), 400, "3 to 32", None),
    ("signup ü-ser", post("anon", "/signup", {"username": "ü-ser", "password": "long enough"}), 400, "3 to 32", None),
    ("signup 33 chars", post("anon", "/signup", {"username": "x" * 33, "password": "long enough"}), 400, "3 to 32", None),
    ("signup empty name", post("anon", "/signup", {"username": "", "password": "long enough"}), 400, "3 to 32", None),
    ("signup NUL in name", post("anon", "/signup", {"username": "adm\x00in", "password": "long enough"}), 400, "3 to 32", None),
    ("signup fullwidth ａｄｍｉｎ", post("anon", "/signup", {"username": "ａｄｍｉｎ", "password": "long enough"}), 400, "3 to 32", None),
    ("signup Kelvin sign", post("anon", "/signup", {"username": "\u212aelvin", "password": "long enough"}), 400, "3 to 32", None),
    ("signup ADMIN folds to admin", post("anon", "/signup", {"username": "ADMIN", "password": "long enough"}), 409, "is taken", None),
    ("signup duplicate", post("anon", "/signup", {"username": "alice", "password": "long enough"}), 409, "is taken", None),
    ("signup eliza", post("anon", "/signup", {"username": "eliza", "password": "long enough"}), 409, "is taken", None),
    # Look-alikes of taken names (TR39 skeletons): "1" for "l", "rn" for "m".
    *[(f"signup {name} looks like {taken}", post("anon", "/signup", {"username": name, "password": "long enough"}),
       409, f"looks too much like “{taken}”", None)
      for name, taken in (("a1ice", "alice"), ("b0b", "bob"), ("adrnin", "admin"), ("e1iza", "eliza"))],
    ("password 7 chars", post("anon", "/signup", {"username": "newbie", "password": "x" * 7}), 400, "8 to 256", None),
    ("password 257 chars", post("anon", "/signup", {"username": "newbie", "password": "x" * 257}), 400, "8 to 256", None),
    ("login as ａｄｍｉｎ", post("anon", "/login", {"username": "ａｄｍｉｎ", "password": "correct horse"}), 400,
     "Unknown username or wrong password", "Signed in"),
    ("login wrong password", post("anon", "/login", {"username": "admin", "password": "not it at all"}), 400,
     "Unknown username or wrong password", "Signed in"),
    # Name enumeration: over the limit, a taken name and a free one get the same answer.
    ("signup of a taken name over the limit", over_the_limit("signups", 3600, post("anon", "/signup", {
        "username": "alice", "password": "long enough"})), 429, "Too many accounts were made from your address", "taken"),
    ("signup of a free name over the limit", over_the_limit("signups", 3600, post("anon", "/signup", {
        "username": "newbie", "password": "long enough"})), 429, "Too many accounts were made from your address", "taken"),
    # Hash flooding: over the address's budget of password checks, refused before any hashing.
    ("login over the address's password budget", over_the_limit("logins", 60, post("anon", "/login", {
        "username": "bob", "password": "correct horse"})), 429, "Too many password tries from your address", "Signed in"),
    ("make a token over the address's password budget", over_the_limit("logins", 60, post("alice", "/account/token", {
        "action": "new", "password": "correct horse"})), 429, "Too many password tries", 'id="new-token"'),
    # A stolen session alone cannot mint a lasting credential.
    ("make a token without the password", post("alice", "/account/token", {"action": "new"}), 400,
     "Give your password to make a token", 'id="new-token"'),
    ("make a token with a wrong password", post("alice", "/account/token", {"action": "new", "password": "not it at all"}),
     400, "That is not your password", 'id="new-token"'),
    ("login locked after 10 failures", locked_login(), 429, "Too many failed logins", None),
    ("X-Forwarded-For does not unlock", locked_login({"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9"}),
     429, "Too many failed logins", None),
    ("POST without XSRF", post("alice", "/logout", xsrf=False), 403, "reload the page", None),
    ("XSRF token of another session", with_xsrf_of("alice", "bob", "/logout", {}), 403, "reload the page", None),
    ("XSRF header of another session", fetch("alice", "/account/token", "POST", "action=revoke",
                                             {"Content-Type": "application/x-www-form-urlencoded",
                                              "X-XSRFToken": "2|00000000|0123456789abcdef0123456789abcdef|1700000000"}),
     403, "reload the page", None),
    ("tampered session cookie", as_cookie("alice", tamper), 200, SIGNED_OUT, "Signed in"),
    ("cookie signed with another key", as_cookie("alice", other_secret), 200, SIGNED_OUT, "Signed in"),
    ("cookie signed for another name", as_cookie("alice", other_name), 200, SIGNED_OUT, "Signed in"),
    ("cookie older than its lifetime", as_cookie("alice", expired), 200, SIGNED_OUT, "Signed in"),
    ("session fixation", fixation(), 200, SIGNED_OUT, "Signed in"),
    ("garbage cookie", fetch("anon", "/", headers={"Cookie": "parlor_session=" + "A" * 4000}), 200, SIGNED_OUT, "Signed in"),
    # An open redirect after login: the POST (each costs a password hash) and the forms' hidden field.
    *[(f"next={target!r} after login", post("anon", "/login", {"username": "bob", "password": "correct horse",
                                                               "next": target}), 303, "", None)
      for target in ("//evil.example/", "/\\evil.example")],
    *[(f"next={target!r} in the {form} form", get("anon", f"/{form}?next={quote(target, safe='')}"), 200,
       'name="next" value="/"', "evil.example")
      for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
                     "\\/evil.example", " //evil.example", "/\t/evil.example", "https:/evil.example")
      for form in ("login", "signup")],
    ("GET on POST /logout", get("alice", "/logout"), 405, "does not accept that kind of request", None),
    ("GET on POST guesses", get("alice", "/games/{game}/guesses"), 405, "does not accept", None),
    ("GET on POST /api/messages", get("alice", "/api/messages"), 405, "does not accept", None),
    ("GET on POST /send_message", get("alice", "/send_message/bob"), 405, "does not accept", None),
    ("POST on GET /scores", post("alice", "/scores"), 405, "does not accept", None),
    ("DELETE a conversation", verb("alice", "/chat/bob", "DELETE"), 405, "does not accept", None),
    ("PUT a game", verb("alice", "/games/{game}", "PUT"), 405, "does not accept", None),
    ("TRACE /", verb("alice", "/", "TRACE"), 405, "does not accept", None),
    ("URL of 10,000 characters", get("alice", "/scores/10?x=" + "a" * 10_000), 414, "too long", None),
    ("URL of 60,000 characters", get("anon", "/chat/bob?x=" + "a" * 60_000), 414, "too long", None),
    ("request line over 64 KiB", raw(b"GET /?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"), CLOSED, "", None),
    ("header over 64 KiB", raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"), CLOSED, "", None),
    ("8,000 headers", raw(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(8000))
                         + b"\r\n"), CLOSED, "", None),
    ("10,000 form fields", fetch("alice", "/signup", "POST", "&".join("f=" for _ in range(10_000)),  # under 64 KiB
                                 {"Content-Type": "application/x-www-form-urlencoded"}), 400, "not understood", None),
    ("10,000 query arguments", raw(b"GET /scores?" + b"&".join(b"a" for _ in range(10_000))
                                   + b" HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "", None),
    ("form over 64 KiB", post("anon", "/signup", {"username": "big", "password": "x" * 70_000}), 413, "at most 64 KiB", None),
    ("Content-Length not a number", raw(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"), 400, "", None),
    ("negative Content-Length", raw(b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"), 400, "", None),
    ("form that is not UTF-8", form_bytes("anon", "/signup", b"username=%ff%fe&password=long+enough"), 400,
     "not understood", None),
    # -- the game --
    *[(f"guess {raw_guess!r}", post("alice", "/games/{game}/guesses", {"guess": raw_guess}), 400, "digits 0–9", None)
      for raw_guess in ("١٢", " 12 ", "1_000", "+7", "-1", "", "12345678", "abc", "１２", "1\x00", "0x5", "5.0")],
    *[(f"guess {raw_guess} out of range", post("alice", "/games/{game}/guesses", {"guess": raw_guess}), 400,
       "between 1 and 10", None) for raw_guess in ("0", "11", "9999999")],
    ("guess field missing", post("alice", "/games/{game}/guesses", {}), 400, "digits 0–9", None),
    ("guess on a finished game", post("alice", "/games/{done}/guesses", {"guess": "5"}), 409, "This game is over", None),
    ("guess on an unknown game", post("alice", "/games/no-such-game/guesses", {"guess": "5"}), 404, "no such game", None),
    ("guess on someone else's game", post("bob", "/games/{game}/guesses", {"guess": "5"}), 404, "no such game", None),
    ("someone else's game page", get("bob", "/games/{game}"), 404, "no such game", None),
    ("a game id that is a path", get("alice", "/games/..%2F..%2Fetc"), 404, "", None),
    *[(f"board max={board!r}", post("alice", "/games", {"max": board}), 400, "Choose one of the boards", None)
      for board in ("7", "abc", "", "100000000000", "²", "１０", "١٠", "10.0", "-10")],
    ("guest name too short", post("guest", "/games/{won}/name", {"name": "ab"}), 400, "3 to 24 printable", None),
    ("guest name too long", post("guest", "/games/{won}/name", {"name": "x" * 25}), 400, "3 to 24 printable", None),
    ("guest name with a right-to-left override", post("guest", "/games/{won}/name", {"name": "ab\u202ecd"}), 400,
     "printable", None),
    ("guest name only spaces", post("guest", "/games/{won}/name", {"name": "     "}), 400, "printable", None),
    *[(f"guest name {name!r}", post("guest", "/games/{won}/name", {"name": name}), 400,
       "belongs to a registered player", None) for name in ("alice", "ALICE", "ａｌｉｃｅ", "eliza", " admin ")],
    # Look-alikes: a Cyrillic а or С, an invisible combining grapheme joiner, digits for letters.
    *[(f"guest name {name!r} looks like a username", post("guest", "/games/{won}/name", {"name": name}), 400,
       "or looks like one", None)
      for name in ("\u0430lice", "alice\u034f", "a1ice", "AL\u0399CE", "\u0430dm\u0456n", "adrnin", "e1iza")],
    ("claim a game not won", post("alice", "/games/{game}/name", {"name": "whoever"}), 409, "Only a won game", None),
    ("claim someone else's game", post("bob", "/games/{won}/name", {"name": "thief"}), 404, "no such game", None),
    *[(f"JSONP callback {callback!r}", get("anon", f"/scores/10.json?callback={quote(callback)}"), 400,
       "callback must be", None)
      for callback in ("alert(1);x", "a b", "x" * 65, "", "</script><script>alert(1)//", "a.b.", "1abc",
                       "x\u2028y", "a..b", "a[0]")],
    ("unknown board page", get("anon", "/scores/7"), 404, "no such board", None),
    ("unknown board JSON", get("anon", "/scores/7.json"), 404, "no such board", None),
    ("unknown board fragment", get("anon", "/scores/7/fragment"), 404, "no such board", None),
    *[(f"board paging {query}", get("anon", f"/scores/10?{query}"), 400, "must be a whole number", None)
      for query in ("limit=0", "limit=101", "offset=-1", "limit=１０", "offset=99999999", "limit=")],
    ("around a nobody", get("anon", "/scores/10?around=nobody"), 404, "not on this board", None),
    # -- chat --
    ("empty message", send("alice", "bob", ""), 400, "Write a message or attach a picture", None),
    ("blank message", send("alice", "bob", " \t\n "), 400, "Write a message", None),
    ("4001 characters", send("alice", "bob", "x" * 4001), 400, "at most 4000 characters", None),
    ("damaged client_id", send("alice", "bob", "hi", client_id="<script>"), 400, "form was damaged", None),
    ("SVG picture", send("alice", "bob", image=("d.svg", "image/svg+xml", SVG)), 415, "Only PNG, JPEG, GIF and WebP", None),
    ("PNG header on SVG", send("alice", "bob", image=("f.png", "image/png", b"\x89PNG\r\n\x1a\n" + SVG)), 415,
     "Only PNG, JPEG, GIF and WebP", None),
    ("truncated JPEG", send("alice", "bob", image=("c.jpg", "image/jpeg", picture("JPEG", (400, 300))[:-400])), 415,
     "damaged or incomplete", None),
    *[(f"picture {name} (fuzzed)", send("alice", "bob", image=(name, "image/png", (CORPUS / name).read_bytes())), 415,
       "damaged or incomplete", None)
      for name in ("png-palette-without-plte.png", "png-syntax-error.png", "gif-value-error.gif",
                   "webp-animation-value-error.webp")],
    ("20000x20000 PNG", send("alice", "bob", image=("h.png", "image/png", png_header_only(20000, 20000))), 413,
     "too many pixels", None),
    ("5 MiB + 1 byte", send("alice", "bob", image=("b.png", "image/png", b"\x89PNG" + b"\0" * (5 * 1024 * 1024 - 3))),
     413, "larger than 5 MiB", None),
    ("chunked upload over 5 MiB", chunked("alice", "/chat/bob/messages", b"--b\r\n" + b"\0" * (6 * 1024 * 1024),
                                          {"Content-Type": "multipart/form-data; boundary=b"}, xsrf="url"), 413,
     "at most 5 MiB", None),
    ("101 multipart parts", multipart_raw("alice", "bob", b"".join(
        b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(101)) + b"--b--\r\n",
        "multipart/form-data; boundary=b"), 400, "could not be read", None),
    ("multipart without its end", multipart_raw("alice", "bob", b'--b\r\nContent-Disposition: form-data; name="body"'
                                                b'\r\n\r\nhi', "multipart/form-data; boundary=b"), 400,
     "could not be read", None),
    ("multipart without a boundary", multipart_raw("alice", "bob", b"body=hi", "multipart/form-data"), 400,
     "could not be read", None),
    *[(f"peer {peer!r}", send("alice", quote(peer, safe=""), "hi"), status, words, None)
      for peer, status, words in (("nobody-here", 404, "no user by that name"), ("alice", 400, "with yourself"),
                                  ("ALICE", 400, "with yourself"), ("../x", 404, "no user"), ("a_b", 404, "no user"),
                                  ("bob\x00", 404, "no user"), ("ａｄｍｉｎ", 404, "no user"), ("..", 404, "no user"),
                                  ("bob/../carol", 404, ""), ("x" * 65, 404, ""))],
    ("conversation with ａｄｍｉｎ", get("alice", "/chat/" + quote("ａｄｍｉｎ")), 404, "no user by that name", None),
    ("another pair's picture", get("carol", "/chat/alice/images/1"), 404, "no such picture", None),
    ("another pair's thumbnail", get("carol", "/chat/bob/images/1?thumb=1"), 404, "no such picture", None),
    ("picture id of 19 digits", get("alice", "/chat/bob/images/9999999999999999999"), 404, "", None),
    *[(f"older messages before={before!r}", get("alice", f"/chat/bob/messages?before={quote(before)}"), 400,
       "before must be a message number", None) for before in ("x", "-1", "１", "", "1e3")],
    ("tutorial: send as someone else", post("alice", "/send_message/bob", {"author": "bob", "message": "forged"}), 403,
     "as yourself", None),
    ("tutorial: another pair's history", post("alice", "/get_message_history", {"user_one": "bob", "user_two": "carol"}),
     403, "your own conversations", None),
    ("tutorial: make another pair's file", post("alice", "/create_conversation_db",
                                                {"user_one": "bob", "user_two": "carol"}), 403, "your own", None),
    ("tutorial: make a file with someone who blocked you", post("carol", "/create_conversation_db",
                                                                {"user_one": "carol", "user_two": "dave"}), 403,
     "could not be delivered", None),
    ("tutorial: a pair of one", post("alice", "/create_conversation_db", {"user_one": "alice", "user_two": "alice"}),
     400, "with yourself", None),
    *[(f"tutorial: history {field}={value!r}", post("alice", "/get_message_history",
                                                    {"user_one": "alice", "user_two": "bob", field: value}), 400,
       words, None)
      for field, value, words in (("limit", "0", "limit must be a whole number from 1 to 1000"),
                                  ("limit", "1001", "from 1 to 1000"), ("limit", "１０", "from 1 to 1000"),
                                  ("limit", "", "from 1 to 1000"), ("before", "x", "before must be a message number"),
                                  ("before", "-1", "before must be"), ("before", "9" * 19, "before must be"))],
    ("tutorial: empty message", post("alice", "/send_message/bob", {"author": "alice", "message": ""}), 400,
     "Write a message", None),
    # -- live delivery --
    ("/live from a foreign origin", live("alice", origin="http://evil.example"), 403, "", None),
    ("/live with a look-alike origin", live("alice", origin="{base_url}.evil.example"), 403, "", None),
    ("/live after=garbage", live("alice", "?after=garbage"), 400, "after must be an event id", None),
    ("/live boards=7", live("alice", "?boards=7"), 400, "boards lists the boards", None),
    ("/events after=garbage", get("alice", "/events?after=1-2-3"), 400, "after must be an event id", None),
    ("/events Last-Event-ID garbage", get("alice", "/events", {"Last-Event-ID": "<script>"}), 400, "event id", None),
    ("/events boards=x", get("anon", "/events?boards=x"), 400, "boards lists", None),
    ("/poll after=garbage", get("alice", "/poll?after=abc"), 400, "after must be an event id", None),
    ("/poll timeout=abc", get("alice", "/poll?timeout=abc"), 400, "timeout is a whole number", None),
    ("/poll without anyone", get("anon", "/poll"), 401, "Log in", None),
    ("/poll JSONP without a token", get("anon", "/poll?callback=cb"), 401, "needs your API token", None),
    ("/poll JSONP on a cookie alone", get("alice", "/poll?callback=cb"), 401, "needs your API token", None),
    ("/poll JSONP callback </script>", get("anon", "/poll?token={token}&callback=" + quote("</script>")), 400,
     "callback must be", None),
    ("/poll with a bad token", get("anon", "/poll?token=not-a-token"), 401, "not valid", None),
    ("/api/messages without a token", post("alice", "/api/messages", {"to": "bob", "body": "cookie only"}), 401,
     "needs your API token", None),
    ("/api/messages bad bearer", fetch("anon", "/api/messages", "POST", '{"to": "bob", "body": "x"}',
                                       {**JSON_TEXT, "Authorization": "Bearer forged"}), 401, "not valid", None),
    ("/api/messages not JSON", fetch("anon", "/api/messages", "POST", "{nope", {**JSON_TEXT, **BEARER}), 400,
     "not valid JSON", None),
    ("/api/messages 30,000 nested [", fetch("anon", "/api/messages", "POST", "[" * 30_000, {**JSON_TEXT, **BEARER}),
     400, "nests deeper than 8", None),
    ("/api/messages 10,000 nested objects", fetch("anon", "/api/messages", "POST", '{"to": "bob", "body": '
                                                  + '{"a": ' * 10_000, {**JSON_TEXT, **BEARER}), 400, "nests deeper", None),
    ("/api/messages chunked JSON over 64 KiB", chunked("anon", "/api/messages", b'{"to": "bob", "body": "'
                                                       + b"x" * 70_000 + b'"}', {**JSON_TEXT, **BEARER}), 413,
     "at most 64 KiB", None),
    ("chunked form over 64 KiB", chunked("anon", "/signup", b"username=big&password=" + b"x" * 70_000,
                                         {"Content-Type": "application/x-www-form-urlencoded"}, xsrf=True), 413,
     "at most 64 KiB", None),
    ("/api/messages a JSON list", fetch("anon", "/api/messages", "POST", '["bob", "x"]', {**JSON_TEXT, **BEARER}), 400,
     "JSON object", None),
    ("/api/messages to a list", fetch("anon", "/api/messages", "POST", '{"to": ["bob"], "body": "x"}',
                                      {**JSON_TEXT, **BEARER}), 400, "JSON object", None),
    ("/api/messages to nobody", fetch("anon", "/api/messages", "POST", '{"to": "nobody", "body": "x"}',
                                      {**JSON_TEXT, **BEARER}), 404, "no user", None),
    ("a token on a page is ignored", fetch("anon", "/chat/bob?token={token}"), 302, "", None),
    ("a token does not skip XSRF on a form", fetch("anon", "/logout?token={token}", "POST", ""), 403, "", None),
    # -- the community: reports, invites, suspensions, the admin pages --
    ("report with a reason off the list", post("bob", "/chat/alice/messages/1/report", {"reason": "because"}), 400,
     "Choose a reason from the list", None),
    ("report with no reason", post("bob", "/chat/alice/report", {}), 400, "Choose a reason", None),
    ("report with 501 characters", post("bob", "/chat/alice/messages/1/report", {"reason": "spam", "text": "x" * 501}),
     400, "at most 500 characters", None),
    ("report one's own message", post("alice", "/chat/bob/messages/1/report", {"reason": "spam"}), 404,
     "no message of bob", None),
    ("report a message that is not there", post("bob", "/chat/alice/messages/999/report", {"reason": "spam"}), 404,
     "no message of alice", None),
    ("report a message of a stranger's conversation", post("carol", "/chat/alice/messages/1/report",
                                                           {"reason": "spam"}), 404, "no message of alice", None),
    ("report a message id of 19 digits", post("bob", "/chat/alice/messages/" + "9" * 19 + "/report", {"reason": "spam"}),
     404, "nothing here", None),
    ("report ELIZA", post("bob", "/chat/eliza/report", {"reason": "spam"}), 400, "Only people can be reported", None),
    ("report nobody", post("bob", "/chat/nobody/report", {"reason": "spam"}), 404, "no user by that name", None),
    ("report oneself", post("bob", "/chat/bob/report", {"reason": "spam"}), 400, "with yourself", None),
    *[(f"sign up with the invite {code!r}", post("anon", "/signup", {"username": "newbie", "password": "long enough",
                                                                     "invite": code}), 404, "not valid", None)
      for code in ("<script>", "x" * 22, "x" * 65, "../../etc", "а" * 20)],
    ("log in while suspended", post("anon", "/login", {"username": "erin", "password": "correct horse"}), 403,
     "This account is suspended until an admin lifts it. The reason given: For the table.", "Signed in"),
    ("send to a suspended person", send("alice", "erin", "hello?"), 403, "erin is suspended", None),
    # Replies, reactions and edits (issue 26): the message world.py's alice sent bob is 1, bob's
    # answer 2, alice's picture 3.
    ("reply to a message that is not there", send("bob", "alice", "hi", reply_to="999"), 404,
     "no message with that number to reply to", None),
    *[(f"reply_to {raw!r}", send("bob", "alice", "hi", reply_to=raw), 400, "reply_to must be a message number", None)
      for raw in ("abc", "-1", "0", "1.5", "9" * 19, "١")],
    ("reply page of a message that is not there", get("bob", "/chat/alice/messages/999/reply"), 404,
     "no message with that number to reply to", None),
    *[(f"react with {emoji!r}", post("bob", "/chat/alice/messages/1/reactions", {"emoji": emoji}), 400,
       "React with one of", None) for emoji in ("", "💩", "👍👍", "<img src=x>", "x" * 1000, "\u2764")],
    ("react to a message that is not there", post("bob", "/chat/alice/messages/999/reactions", {"emoji": "👍"}), 404,
     "no message with that number", None),
    ("react to a message of a stranger's conversation", post("carol", "/chat/alice/messages/1/reactions",
                                                             {"emoji": "👍"}), 404, "no message with that number", None),
    ("react through someone else's pair address", post("carol", "/chat/alice_bob/messages/1/reactions",
                                                       {"emoji": "👍"}), 404, "no user by that name", None),
    ("react to someone who blocked you", post("carol", "/chat/dave/messages/1/reactions", {"emoji": "👍"}), 403,
     "could not be delivered", None),
    ("react to a suspended person's message", post("alice", "/chat/erin/messages/1/reactions", {"emoji": "👍"}), 403,
     "erin is suspended", None),
    ("react without XSRF", post("bob", "/chat/alice/messages/1/reactions", {"emoji": "👍"}, xsrf=False), 403,
     "reload the page", None),
    ("GET on POST reactions", get("bob", "/chat/alice/messages/1/reactions"), 405, "does not accept", None),
    ("edit someone else's message", post("bob", "/chat/alice/messages/1/edit", {"body": "forged"}), 404,
     "no message of yours", None),
    ("edit form of someone else's message", get("bob", "/chat/alice/messages/1/edit"), 404, "no message of yours", None),
    ("edit to nothing", post("alice", "/chat/bob/messages/1/edit", {"body": " \t "}), 400, "Write a message", None),
    ("edit to 4001 characters", post("alice", "/chat/bob/messages/1/edit", {"body": "x" * 4001}), 400,
     "at most 4000 characters", None),
    ("edit a picture", post("alice", "/chat/bob/messages/3/edit", {"body": "a caption"}), 400,
     "Only a text message can be edited", None),
    ("edit a message id of 19 digits", post("alice", "/chat/bob/messages/" + "9" * 19 + "/edit", {"body": "x"}), 404,
     "nothing here", None),
    ("edit toward a suspended person", post("alice", "/chat/erin/messages/1/edit", {"body": "x"}), 403,
     "erin is suspended", None),
    ("password reset with a made-up token", post("anon", "/password-reset", {"token": "x" * 43, "new": "long enough"}),
     404, "This link cannot be used", None),
    ("password reset with no token", get("anon", "/password-reset"), 404, "This link cannot be used", None),
    *[(f"/admin as {who}", get(who, "/admin"), 404, "There is nothing here.", "Suspended accounts")
      for who in ("anon", "guest", "alice")],
    ("/admin/users of ../", get("admin", "/admin/users/..%2F..%2Fetc"), 404, "no account by that name", None),
    ("/admin/users of a look-alike", get("admin", "/admin/users/%D0%B0lice"), 404, "no account by that name", None),
    ("/admin/log?offset=-1", get("admin", "/admin/log?offset=-1"), 400, "offset must be a whole number", None),
    ("/admin/log?offset=99999999", get("admin", "/admin/log?offset=99999999"), 400, "whole number", None),
    *[(f"invite of {uses!r} uses for {expiry!r} s", post("admin", "/admin/invites", {"uses": uses, "expiry": expiry}),
       400, words, None)
      for uses, expiry, words in (("0", "3600", "1 to 100 uses"), ("101", "3600", "1 to 100 uses"),
                                  ("１", "3600", "1 to 100 uses"), ("", "3600", "1 to 100 uses"),
                                  ("1", "3599", "an hour to 30 days"), ("1", "2592001", "an hour to 30 days"),
                                  ("1", "1e9", "an hour to 30 days"))],
    ("invite note of 201 characters", post("admin", "/admin/invites", {"uses": "1", "expiry": "3600", "note": "x" * 201}),
     400, "at most 200", None),
    ("revoke an invite that is not there", post("admin", "/admin/invites/" + "x" * 22 + "/revoke"), 404,
     "no such invite", None),
    *[(f"suspend for {length!r} because {reason[:20]!r}", post("admin", "/admin/users/bob/suspension",
                                                               {"action": "suspend", "length": length, "reason": reason}),
       400, words, None)
      for length, reason, words in (("7", "spam", "from the list"), ("", "spam", "from the list"),
                                    ("-3600", "spam", "from the list"), ("3600", "", "Give a reason"),
                                    ("3600", " \t ", "Give a reason"), ("3600", "x" * 501, "at most 500"),
                                    ("3600", "ab\u202ecd", "printable"))],
    ("suspend nobody", post("admin", "/admin/users/nobody/suspension", {"action": "suspend", "length": "3600",
                                                                        "reason": "spam"}), 404, "no account", None),
    ("suspend oneself", post("admin", "/admin/users/admin/suspension", {"action": "suspend", "length": "3600",
                                                                        "reason": "spam"}), 400, "cannot suspend yourself", None),
    ("lift someone who is not suspended", post("admin", "/admin/users/bob/suspension", {"action": "lift"}), 409,
     "bob is not suspended", None),
    ("a suspension action off the list", post("admin", "/admin/users/bob/suspension", {"action": "ban"}), 400,
     "action must be suspend or lift", None),
    ("a reset link for nobody", post("admin", "/admin/users/nobody/reset-link"), 404, "no account", None),
    # One admin taking another's account over with a link: only the server's console makes one.
    ("a reset link for an admin's account", post("admin", "/admin/users/admin/reset-link"), 403,
     "made only on the server", "/password-reset?token="),
    ("make an account a_b", post("admin", "/admin/accounts", {"username": "a_b", "password": "long enough"}), 400,
     "3 to 32 characters", None),
    ("make an account that looks like alice", post("admin", "/admin/accounts", {"username": "a1ice",
                                                                                "password": "long enough"}),
     409, "looks too much like", None),
    *[(f"remove the board entry {member!r}", post("admin", "/admin/boards/10/remove", {"member": member}), 404,
       "not on the board", None)
      for member in ("u:nobody", "", "x:evil", "a:" + "1" * 10_000, "u:../../etc")],
    ("remove an entry of an unknown board", post("admin", "/admin/boards/7/remove", {"member": "u:alice"}), 404,
     "no such board", None),
    ("remove an entry with a 501-character reason", post("admin", "/admin/boards/10/remove",
                                                         {"member": "u:alice", "reason": "x" * 501}), 400,
     "at most 500", None),
    ("act on a report that is not there", post("admin", "/admin/reports/" + "0" * 20, {"action": "dismiss"}), 404,
     "no such open report", None),
    ("act on a report with an action off the list", post("admin", "/admin/reports/" + "0" * 20, {"action": "ban"}),
     400, "action must be dismiss, delete or suspend", None),
    ("a report id that is not one", post("admin", "/admin/reports/../../x", {"action": "dismiss"}), 404,
     "nothing here", None),
    ("the picture of a report that is not there", get("admin", "/admin/reports/" + "0" * 20 + "/picture"), 404,
     "keeps no picture", None),
    *[(f"search all for {typed[:30]!r}", get("bob", "/search?q=" + quote(typed)), 400, words, None)
      for typed, words in (("x" * 201, "at most 200 characters"), ('"" ^ * : ()', "punctuation alone"),
                           (" ".join("w" * 11), "at most 10 words"))],
    *[(f"search all with {query!r}", get("bob", "/search?q=hello&" + query), 400, words, None)
      for query, words in (("before=1.2.../../x", "as the Older link gives it"), ("before=1.2.A", "Older link"),
                           ("from=%EF%BC%91", "from must be"), ("from=-1", "from must be"),
                           ("to=" + "9" * 40, "to must be"))],
    ("search a conversation with a bad cursor", get("bob", "/chat/alice/search?q=hello&before=-1"), 400,
     "before must be a message number", None),
    ("search a conversation of 201 characters", get("bob", "/chat/alice/search?q=" + "x" * 201), 400,
     "at most 200 characters", "hello"),
    ("search a conversation with nobody", get("bob", "/chat/nobody/search?q=hello"), 404, "no user by that name", None),
    ("search a conversation with oneself", get("bob", "/chat/bob/search?q=hello"), 400, "with yourself", None),
    ("search a conversation through ../", get("bob", "/chat/..%2Falice/search?q=hello"), 404, "no user", None),
    *[(f"mute with {fields!r}", post("bob", "/chat/alice/mute", fields), 400, words, None)
      for fields, words in (({"action": "mute", "for": "week"}, "an hour, a day, or until you unmute"),
                            ({"action": "mute", "for": "3600"}, "an hour, a day"), ({}, "action must be mute or unmute"))],
    ("mute nobody", post("bob", "/chat/nobody/mute", {"action": "mute"}), 404, "no user by that name", None),
    ("mute oneself", post("bob", "/chat/bob/mute", {"action": "mute"}), 400, "with yourself", None),
]


@pytest.mark.parametrize("action,status,says,hides", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
@pytest.mark.gen_test(timeout=30)
async def test_hostile_input_is_refused_and_changes_nothing(world, action, status, says, hides):
    http = tornado.httpclient.AsyncHTTPClient()
    before = world.snapshot()
    answer = await action(Scene(world, http))
    body = answer.body.decode("utf-8", "replace") if answer.body else ""
    assert answer.code == status, body[:500]
    assert says in body
    if hides:
        assert hides not in body
    if status == 303:
        assert answer.headers["Location"] == "/"  # an open redirect goes home instead
    assert world.snapshot() == before


@pytest.mark.gen_test(timeout=30)
async def test_the_snapshot_sees_what_an_accepted_request_changes(world):
    """The comparison above can fail: an accepted send and an accepted guess change the snapshot
    (this runs after the table, in a corner of the world that no row looks at)."""
    from tests.world import start

    scene = Scene(world, tornado.httpclient.AsyncHTTPClient())
    before = world.snapshot()
    assert (await send("carol", "admin", "an accepted message")(scene)).code == 303
    assert world.snapshot() != before
    game = await start(scene.visitors["carol"])
    before = world.snapshot()
    assert (await post("carol", f"/games/{game}/guesses", {"guess": "5"})(scene)).code == 303
    assert world.snapshot() != before


# -- slowloris: a client that dribbles its request is cut off, and others are served meanwhile --

@pytest.fixture
def patient_server(app, io_loop):
    """The app behind make_http_server with timeouts short enough to test (60 s and 90 s in use)."""
    from tornado.testing import bind_unused_port

    from parlor.web.server import make_http_server

    server = make_http_server(app, idle_timeout=1.0, body_timeout=1.0)
    sock, port = bind_unused_port()
    server.add_socket(sock)
    yield port
    server.stop()
    io_loop.run_sync(server.close_all_connections)


async def dribble(port: int, first: bytes, drip: bytes) -> float:
    """Send `first`, then `drip` every 0.2 s until the server hangs up; returns how long that took,
    counted from before connecting (the server's clock starts when it accepts, which may be before
    the connection's opening is reported here)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)
    try:
        while time.monotonic() - started < 10:
            try:
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    break  # closed
            except asyncio.TimeoutError:
                writer.write(drip)
                await writer.drain()
    except ConnectionError:
        pass
    writer.close()
    return time.monotonic() - started


@pytest.mark.parametrize("first,drip", [
    (b"POST /signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
     b"Content-Length: 60000\r\n\r\nusername=", b"a"),  # a slow body (within the form's 64 KiB)
    (b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n"),  # slow headers
    (b"", b""),  # a connection that never sends anything
], ids=["slow body", "slow headers", "silent connection"])
@pytest.mark.gen_test(timeout=30)
async def test_a_slow_client_is_cut_off_while_others_are_served(patient_server, first, drip):
    from tests.helpers import Visitor

    slow = asyncio.ensure_future(dribble(patient_server, first, drip))
    visitor = Visitor(tornado.httpclient.AsyncHTTPClient(), f"http://127.0.0.1:{patient_server}")
    served = []
    while not slow.done():
        started = time.monotonic()
        response = await visitor.get("/healthz")
        served.append((response.code, time.monotonic() - started))
        await asyncio.sleep(0.1)
    assert 1.0 <= await slow < 5  # cut off after the 1 s timeout, not served to the end
    # Served all the while (the slow client holds one connection, never the server).
    assert len(served) >= 3 and all(code == 200 and took < 3 for code, took in served), served
