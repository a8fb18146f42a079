"""Who may use what: every route and method of handlers.routes() against nine kinds of caller,
one test per cell. A route without a row fails test_every_route_has_a_row, so a route added
later cannot be forgotten: add its row to MATRIX.

The callers: anonymous (no cookie), signed_in (dave, who has nothing here), participant (alice,
whose conversation with bob, game and API token the addresses name), other (carol, signed in,
with a conversation with bob of her own), token (alice's API token, no cookie at all), admin
(an admin, with nothing of alice's), suspended (sam's browser, whose session his suspension
ended), guest (a session that played but never signed in) and revoked (rex, signed in while he
was an admin, whose rights were taken away since). A cell that logs out or in gets a brand-new
session, so it does not touch the next."""
from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
import tornado.httpclient
import tornado.web
import tornado.websocket

from parlor.accounts.accounts import Accounts
from parlor.accounts.password_resets import PasswordResets
from parlor.community.admins import Admins
from parlor.community.audit import CONSOLE, AuditLog
from parlor.community.reports import id_for
from parlor.game.ranking import MIN_GAMES
from parlor.safety import Safety
from parlor.web import handlers
from tests.helpers import Visitor, pair_rows
from tests.sse import SseClient
from tests.world import World, picture, send, start

pytestmark = pytest.mark.slow  # one server process for the module

WINNERS = itertools.count()
ROLES = ("anonymous", "signed_in", "participant", "other", "token", "admin", "suspended", "guest", "revoked")
SIGNED_IN = ("signed_in", "participant", "other", "admin", "revoked")  # a live session of an account
SIGNED_OUT = ("anonymous", "suspended", "guest")  # no account's session (a suspension ended sam's)
SECRET_TEXT = "hello bob"  # in alice and bob's conversation only
FOUND_TEXT = "<mark>hello</mark> bob"  # SECRET_TEXT as a search for "hello" shows it
SAMPLE = {"board": "10", "game": "AbC123", "peer": "bob", "image": "1", "mine": "4", "deleted_image": "2", "editable": "5",
          "theirs": "2", "kept": "1", "report": "0" * 20, "picture_report": "1" * 20, "invite": "x" * 22}  # fills a row's address for the route check


@dataclass(frozen=True)
class E:
    """What a cell expects: the status, words the answer must (says) or must not (hides) hold,
    and where a redirect goes."""

    status: int
    says: str | None = None
    hides: str | None = None
    location: str | None = None


LOGIN = E(302, location="/login")
PRIVATE = E(200, hides=SECRET_TEXT)


def same(expect: E, **changes) -> dict[str, E]:
    """The same expectation for every role, with some roles changed."""
    return {role: changes.get(role, expect) for role in ROLES}


def roles(signed_in: E, signed_out: E, token: E, **specific: E) -> dict[str, E]:
    """The signed-in callers alike, the signed-out ones alike, the token on its own; then some
    roles changed."""
    return {**{role: signed_in for role in SIGNED_IN}, **{role: signed_out for role in SIGNED_OUT}, "token": token,
            **specific}


def cookie_roles(expect: E, anonymous: E, token: E) -> dict[str, E]:
    """Every signed-in caller alike; every signed-out one as anonymous; the token on its own."""
    return roles(expect, anonymous, token)


NOT_FOUND = E(404, says="There is nothing here.")  # what an address that does not exist answers


def admins_only(admin: E, method: str = "GET") -> dict[str, E]:
    """An admin page: the admin gets `admin`; everyone else the 404 of an address that does not
    exist (a token caller's POST, with no cookie, is refused for its XSRF token first)."""
    return roles(NOT_FOUND, NOT_FOUND, NOT_FOUND if method == "GET" else TOKEN_IS_ANONYMOUS_POST, admin=admin)


XSRF_REFUSED = E(403, says="refused")
TOKEN_IS_ANONYMOUS_POST = XSRF_REFUSED  # a token is ignored off the API: no cookie, so no XSRF token

# -- requests ---------------------------------------------------------------------------------


def get(path, headers=None):
    return lambda s, v: v.get(s.path(path), headers=headers)


def post(path, fields=None):
    """A form POST; the caller's XSRF token if they have a cookie (a token caller has none)."""
    async def request(s, v):
        fields_ = {k: s.path(val) for k, val in (fields or {}).items()}
        return await v.post(s.path(path), fields_, xsrf="_xsrf" in v.cookies)
    return request


def send_form(peer, text):
    async def request(s, v):
        if "_xsrf" not in v.cookies:  # the token caller: the form without a cookie or XSRF token
            return await v.fetch(f"/chat/{peer}/messages", "POST", "body=x",
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        return await send(v, peer, text)
    return request


def api_post(path, payload):
    return lambda s, v: v.fetch(path, "POST", json.dumps(payload), {"Content-Type": "application/json"})


@dataclass
class Feed:
    """What a live connection received before a public board push arrived after it."""

    code: int
    body: bytes


def live(query="?boards=10&after=0"):
    async def request(s, v):
        try:
            ws = await v.live(query=query + (f"&token={s.world.ids['token']}" if v.token else ""))
        except tornado.httpclient.HTTPClientError as e:
            return e.response
        await asyncio.sleep(0.2)  # joined
        await s.board_push()
        frames = []
        while True:
            raw = await asyncio.wait_for(ws.read_message(), 10)
            frames.append(raw)
            if 'id=\\"board-10\\"' in raw:
                break
        ws.close()
        return Feed(101, "\n".join(frames).encode())
    return request


def events(query="?boards=10&after=0"):
    async def request(s, v):
        headers = {"Cookie": v.cookie_header()} if v.cookies else {}
        headers.update(v.extra_headers)
        stream = await SseClient.open(s.base_url, "/events" + query, headers)
        if stream.status != 200:
            stream.close()
            return Feed(stream.status, b"")
        await asyncio.sleep(0.2)
        await s.board_push()
        frames = []
        while True:
            event = await stream.next_event(10)
            frames.append(event["data"])
            if 'id="board-10"' in event["data"]:
                break
        stream.close()
        return Feed(200, "\n".join(frames).encode())
    return request


AFTER_LOGOUT = "written after the logout"


def feed_then_logout(kind: str):
    """The caller opens a feed (kind: live, events or poll), logs out, and then bob writes to
    alice: the feed of a session that ended is closed and carries nothing written after. The body
    ends with what became of the feed: [closed <code>], [ended] or [open] (a board push made after
    bob's message reached it: anything his message brings comes before it on the same feed)."""
    async def request(s, v):
        text = f"{AFTER_LOGOUT} {next(WINNERS)}"
        bob = Visitor(s.http, s.base_url)
        bob.cookies = dict(s.world.cookies["bob"])
        token = f"&token={s.world.ids['token']}" if v.token else ""
        if kind == "live":
            ws = await v.live(query="?boards=10" + token)
        elif kind == "events":
            headers = {"Cookie": v.cookie_header(), **v.extra_headers} if v.cookies else v.extra_headers
            stream = await SseClient.open(s.base_url, "/events?boards=10", headers)
        else:
            poll = asyncio.ensure_future(v.get("/poll?timeout=10"))
        await asyncio.sleep(0.2)  # joined
        if kind == "poll" and poll.done():
            return poll.result()
        await v.post("/logout", xsrf="_xsrf" in v.cookies)  # a token caller has no session: 403
        assert (await send(bob, "alice", text)).code == 303
        if kind == "poll":
            return await asyncio.wait_for(poll, 5)
        await s.board_push()
        frames, fate = [], "[neither closed nor pushed to]"
        try:
            while True:
                if kind == "live":
                    raw = await asyncio.wait_for(ws.read_message(), 10)
                    if raw is None:
                        fate = f"[closed {ws.close_code}]"
                        break
                    frames.append(raw)
                    if 'id=\\"board-10\\"' in raw:
                        fate = "[open]"
                        break
                else:
                    event = await stream.next_event(10)
                    if event is None:
                        fate = "[ended]"
                        break
                    frames.append(event["data"])
                    if 'id="board-10"' in event["data"]:
                        fate = "[open]"
                        break
        except asyncio.TimeoutError:
            pass
        if kind == "live":
            ws.close()
        else:
            stream.close()
        return Feed(101 if kind == "live" else 200, "\n".join([*frames, fate]).encode())
    return request


# -- the matrix: (method, address, request, expectations per role) -------------------------------

ALLOWED_PAGE = E(200)
MATRIX = [
    ("GET", "/scores/10/fragment", get("/scores/10/fragment"), same(E(200, says='id="board-10"'))),
    ("GET", "/scores/10.json", get("/scores/10.json"), same(E(200, says='"board": 10'))),
    ("GET", "/", get("/"), roles(E(200, says="Signed in as", hides=SECRET_TEXT), E(200, hides="Signed in as"),
                                 E(200, hides="Signed in as"))),
    ("GET", "/signup", get("/signup"), same(ALLOWED_PAGE)),
    ("POST", "/signup", post("/signup", {"username": "new-{role}", "password": "long enough"}),
     cookie_roles(E(303), anonymous=E(303), token=TOKEN_IS_ANONYMOUS_POST)),
    ("GET", "/login", get("/login"), same(ALLOWED_PAGE)),
    ("POST", "/login", post("/login", {"username": "bob", "password": "correct horse"}),
     cookie_roles(E(303), anonymous=E(303), token=TOKEN_IS_ANONYMOUS_POST)),
    ("POST", "/logout", post("/logout"), cookie_roles(E(303), anonymous=E(303), token=TOKEN_IS_ANONYMOUS_POST)),
    ("GET", "/account", get("/account"), cookie_roles(E(200, says="API token"), anonymous=LOGIN, token=LOGIN)),
    ("GET", "/account/token", get("/account/token"),
     cookie_roles(E(200, says="API token"), anonymous=LOGIN, token=LOGIN)),
    # "bogus" passes the door and fails validation: access without replacing alice's token.
    ("POST", "/account/token", post("/account/token", {"action": "bogus"}),
     cookie_roles(E(400, says="action must be new or revoke"), anonymous=E(401, says="log in"),
                  token=TOKEN_IS_ANONYMOUS_POST)),
    # A new token needs the password: a session alone (stolen, or a page left open) cannot make one.
    ("POST", "/account/token?action=new", post("/account/token", {"action": "new", "password": "not the password"}),
     cookie_roles(E(400, says="not your password", hides="new-token"), anonymous=E(401, says="log in"),
                  token=TOKEN_IS_ANONYMOUS_POST)),
    # Board 25: a new game on board 10 would forfeit alice's open game there, which rows below use.
    ("POST", "/games", post("/games", {"max": "25"}), cookie_roles(E(303), anonymous=E(303),
                                                                   token=TOKEN_IS_ANONYMOUS_POST)),
    ("GET", "/games/{game}", get("/games/{game}"),
     {**same(E(404, says="no such game")), "participant": E(200, says='id="game"')}),
    # Guess 0: refused by the game's own range (so it was found), and not counted.
    ("POST", "/games/{game}/guesses", post("/games/{game}/guesses", {"guess": "0"}),
     {**same(E(404, says="no such game")), "participant": E(400, says="between 1 and 10"),
      "token": TOKEN_IS_ANONYMOUS_POST}),
    ("POST", "/games/{game}/name", post("/games/{game}/name", {"name": "someone"}),
     {**same(E(404, says="no such game")), "participant": E(409, says="Only a won game"),
      "token": TOKEN_IS_ANONYMOUS_POST}),
    ("GET", "/scores", get("/scores"), same(E(200, says='id="board-10"'))),
    ("GET", "/scores/10", get("/scores/10"), same(E(200, says='id="board-10"'))),
    ("GET", "/chat", get("/chat"), {**cookie_roles(PRIVATE, anonymous=LOGIN, token=LOGIN),
                                    "participant": E(200, says="conversation-bob")}),
    ("GET", "/chat/start", get("/chat/start?peer=bob"),
     cookie_roles(E(303, location="/chat/bob"), anonymous=LOGIN, token=LOGIN)),
    ("GET", "/chat/bob", get("/chat/bob"), {**cookie_roles(PRIVATE, anonymous=LOGIN, token=LOGIN),
                                            "participant": E(200, says=SECRET_TEXT)}),
    ("GET", "/chat/bob/messages", get("/chat/bob/messages?before=1000"),
     {**cookie_roles(PRIVATE, anonymous=LOGIN, token=LOGIN), "participant": E(200, says=SECRET_TEXT)}),
    # To erin, not bob: a message to bob would let every role report him, whatever the order of cells.
    ("POST", "/chat/erin/messages", send_form("erin", "sent by the matrix"),
     cookie_roles(E(303, location="/chat/erin"), anonymous=E(401, says="log in to chat"),
                  token=TOKEN_IS_ANONYMOUS_POST)),
    ("GET", "/chat/bob/images/1", get("/chat/bob/images/1"),
     {**cookie_roles(E(404, says="no such picture"), anonymous=LOGIN, token=LOGIN),
      "participant": E(200, says="PNG")}),
    # A deleted picture's address, after a newer picture was sent: nobody gets anything there.
    ("GET", "/chat/bob/images/{deleted_image}", get("/chat/bob/images/{deleted_image}"),
     cookie_roles(E(404, says="no such picture"), anonymous=LOGIN, token=LOGIN)),
    # Search finds "hello bob" (its words marked) in alice's conversation with bob only.
    ("GET", "/chat/bob/search", get("/chat/bob/search?q=hello"),
     {**cookie_roles(E(200, hides=FOUND_TEXT), anonymous=LOGIN, token=LOGIN), "participant": E(200, says=FOUND_TEXT)}),
    ("GET", "/search", get("/search?q=hello"),
     {**cookie_roles(E(200, hides=FOUND_TEXT), anonymous=LOGIN, token=LOGIN), "participant": E(200, says=FOUND_TEXT)}),
    ("POST", "/chat/bob/typing", post("/chat/bob/typing"),
     cookie_roles(E(204), anonymous=E(401, says="log in to chat"), token=TOKEN_IS_ANONYMOUS_POST)),
    ("POST", "/create_conversation_db", post("/create_conversation_db", {"user_one": "alice", "user_two": "bob"}),
     roles(E(403, says="your own conversations"), E(401, says="Log in"), E(200, says='"success": true'),
           participant=E(200, says='"success": true'))),
    ("POST", "/get_message_history", post("/get_message_history", {"user_one": "alice", "user_two": "bob"}),
     roles(E(403, says="your own conversations", hides=SECRET_TEXT), E(401, hides=SECRET_TEXT),
           E(200, says=SECRET_TEXT), participant=E(200, says=SECRET_TEXT))),
    ("POST", "/send_message/bob", post("/send_message/bob", {"author": "alice", "message": "sent as alice"}),
     roles(E(403, says="as yourself"), E(401, says="Log in"), E(200, says='"success": true'),
           participant=E(200, says='"success": true'))),
    # Public pushes reach everyone; alice's events (after=0: all she has) only alice's own
    # sessions. The socket does not take tokens: with one it is a guest's.
    ("GET", "/live", live(), {**same(E(101, hides=SECRET_TEXT)), "participant": E(101, says=SECRET_TEXT)}),
    ("GET", "/events", events(), {**same(E(200, hides=SECRET_TEXT)), "participant": E(200, says=SECRET_TEXT),
                                  "token": E(200, says=SECRET_TEXT)}),
    ("GET", "/poll", get("/poll?after=0&timeout=0"),
     roles(E(200, hides=SECRET_TEXT), E(401, says="Log in"), E(200, says=SECRET_TEXT),
           participant=E(200, says=SECRET_TEXT))),
    # A feed opened before the caller logs out: a cookie's feed ends, and nothing written after
    # the logout reaches it; a guest's public feed goes on, and so does the API token's (a
    # logout ends a session, not the token). The address's ?then= only names the row.
    ("GET", "/live?then=logout", feed_then_logout("live"),
     cookie_roles(E(101, says="[closed 1008]", hides=AFTER_LOGOUT), anonymous=E(101, says="[open]", hides=AFTER_LOGOUT),
                  token=E(101, says="[open]", hides=AFTER_LOGOUT))),
    ("GET", "/events?then=logout", feed_then_logout("events"),
     cookie_roles(E(200, says="[ended]", hides=AFTER_LOGOUT), anonymous=E(200, says="[open]", hides=AFTER_LOGOUT),
                  token=E(200, says=AFTER_LOGOUT))),
    ("GET", "/poll?then=logout", feed_then_logout("poll"),
     cookie_roles(E(200, says='"events": []', hides=AFTER_LOGOUT), anonymous=E(401, says="Log in"),
                  token=E(200, says=AFTER_LOGOUT))),
    ("POST", "/api/messages", api_post("/api/messages", {"to": "bob", "body": "sent by the API"}),
     {**same(E(401, says="needs your API token")), "token": E(201, says='"created": true')}),
    ("GET", "/healthz", get("/healthz"), same(E(200, says='"redis": true'))),
    # Counters only, no names; loopback may read them (the tests connect from loopback).
    ("GET", "/metrics", get("/metrics"), same(E(200, says="parlor_http_requests_total", hides="alice"))),
    ("GET", "/scores/10/stats.json", get("/scores/10/stats.json"), same(E(200, says='"board": 10'))),
    # The account's forms post to these addresses; a GET of one shows the account page.
    ("GET", "/account/password", get("/account/password"),
     cookie_roles(E(200, says="API token"), anonymous=LOGIN, token=LOGIN)),
    ("GET", "/account/delete", get("/account/delete"),
     cookie_roles(E(200, says="API token"), anonymous=LOGIN, token=LOGIN)),
    # A new password that is too short: past the door, refused before anything is checked or changed.
    ("POST", "/account/password", post("/account/password", {"current": "correct horse", "new": "short"}),
     cookie_roles(E(400, says="characters long"), anonymous=E(401, says="log in"), token=TOKEN_IS_ANONYMOUS_POST)),
    # The zip names its files in the clear: one's own conversations only (nobody but bob writes
    # to alice, so no one else's zip names her).
    ("GET", "/account/data", get("/account/data"),
     {**cookie_roles(E(200, says="account.json", hides="alice"), anonymous=LOGIN, token=LOGIN),
      "participant": E(200, says="conversations/bob.json")}),
    # A wrong password: past the door, and nobody leaves.
    ("POST", "/account/delete", post("/account/delete", {"password": "not the password"}),
     cookie_roles(E(400, says="not your password"), anonymous=E(401, says="log in"), token=TOKEN_IS_ANONYMOUS_POST)),
    ("GET", "/blocks", get("/blocks"), {**cookie_roles(PRIVATE, anonymous=LOGIN, token=LOGIN),
                                        "participant": E(200, says="conversation-bob")}),
    ("POST", "/blocks", post("/blocks", {"peer": "bob", "action": "bogus"}),
     cookie_roles(E(400, says="block or unblock"), anonymous=E(401, says="log in"), token=TOKEN_IS_ANONYMOUS_POST)),
    # alice's own message in her conversation with bob (deleting it twice is no error).
    ("POST", "/chat/bob/messages/{mine}/delete", post("/chat/bob/messages/{mine}/delete"),
     {**cookie_roles(E(404, says="no message of yours"), anonymous=E(401, says="log in"),
                     token=TOKEN_IS_ANONYMOUS_POST), "participant": E(303, location="/chat/bob")}),
    # A message of alice's conversation with bob: show it, its menu, reply to it, react to it; only
    # alice has one with that number (carol's conversation with bob holds fewer messages).
    ("GET", "/chat/bob/messages/{editable}", get("/chat/bob/messages/{editable}"),
     {**cookie_roles(E(404, says="no message with that number"), anonymous=LOGIN, token=LOGIN),
      "participant": E(302, location="/chat/bob/messages?before=")}),
    ("GET", "/chat/bob/messages/{editable}/actions", get("/chat/bob/messages/{editable}/actions"),
     {**cookie_roles(E(404, says="no message with that number"), anonymous=LOGIN, token=LOGIN),
      "participant": E(302, location="/chat/bob/messages?before=")}),
    ("GET", "/chat/bob/messages/{editable}/reply", get("/chat/bob/messages/{editable}/reply"),
     {**cookie_roles(E(404, says="no message with that number", hides=SECRET_TEXT), anonymous=LOGIN, token=LOGIN),
      "participant": E(200, says='name="reply_to"')}),
    ("POST", "/chat/bob/messages/{editable}/reactions", post("/chat/bob/messages/{editable}/reactions", {"emoji": "👍"}),
     {**cookie_roles(E(404, says="no message with that number"), anonymous=E(401, says="log in"),
                     token=TOKEN_IS_ANONYMOUS_POST), "participant": E(303, location="/chat/bob#message-alice_bob-")}),
    # alice's own text: only she edits it (a forged edit changes nothing).
    ("GET", "/chat/bob/messages/{editable}/edit", get("/chat/bob/messages/{editable}/edit"),
     {**cookie_roles(E(404, says="no message of yours"), anonymous=LOGIN, token=LOGIN),
      "participant": E(200, says="Edit your message")}),
    ("POST", "/chat/bob/messages/{editable}/edit", post("/chat/bob/messages/{editable}/edit", {"body": "edited by {role}"}),
     {**cookie_roles(E(404, says="no message of yours"), anonymous=E(401, says="log in"),
                     token=TOKEN_IS_ANONYMOUS_POST), "participant": E(303, location="/chat/bob#message-alice_bob-")}),
    # The page that asks before alice deletes her message (one she keeps): hers alone; carol's
    # message of that number, in her own conversation with bob, is hers.
    ("GET", "/chat/bob/messages/{kept}/delete", get("/chat/bob/messages/{kept}/delete"),
     {**cookie_roles(E(404, says="no message of yours", hides=SECRET_TEXT), anonymous=LOGIN, token=LOGIN),
      "participant": E(200, says=SECRET_TEXT), "other": E(200, says="hello carol", hides=SECRET_TEXT)}),
    # Saying how far one read: one's own conversation only (anyone else has none with bob to read).
    ("POST", "/chat/bob/read", post("/chat/bob/read", {"up_to": "{theirs}"}),
     {**cookie_roles(E(303, location="/chat/bob"), anonymous=E(401, says="log in"), token=TOKEN_IS_ANONYMOUS_POST)}),
    ("POST", "/chat/bob/mute", post("/chat/bob/mute", {"action": "bogus"}),
     cookie_roles(E(400, says="mute or unmute"), anonymous=E(401, says="log in"), token=TOKEN_IS_ANONYMOUS_POST)),
    # Reporting bob's message in alice's conversation with him: only alice; anyone else has no
    # such message of bob's. A reason off the list: past the door, and nothing is stored.
    ("GET", "/chat/bob/messages/{theirs}/report", get("/chat/bob/messages/{theirs}/report"),
     roles(E(404, says="no message of bob", hides=SECRET_TEXT), LOGIN, LOGIN,
           participant=E(200, says="hello alice"))),
    ("POST", "/chat/bob/messages/{theirs}/report", post("/chat/bob/messages/{theirs}/report", {"reason": "bogus"}),
     roles(E(404, says="no message of bob"), E(401, says="log in"), TOKEN_IS_ANONYMOUS_POST,
           participant=E(400, says="Choose a reason from the list"))),
    # Only someone with a conversation with bob may report him (alice, carol); the form shows
    # nothing of a conversation.
    ("GET", "/chat/bob/report", get("/chat/bob/report"),
     roles(E(404, says="only from a conversation with them", hides=SECRET_TEXT), LOGIN, LOGIN,
           participant=E(200, says="Report bob", hides=SECRET_TEXT),
           other=E(200, says="Report bob", hides=SECRET_TEXT))),
    ("POST", "/chat/bob/report", post("/chat/bob/report", {"reason": "bogus"}),
     roles(E(404, says="only from a conversation with them"), E(401, says="log in"), TOKEN_IS_ANONYMOUS_POST,
           participant=E(400, says="Choose a reason from the list"), other=E(400, says="Choose a reason"))),
    ("GET", "/password-reset", get("/password-reset?token=not-a-token"), same(E(404, says="cannot be used"))),
    ("POST", "/password-reset", post("/password-reset", {"token": "not-a-token", "new": "long enough"}),
     roles(E(404, says="cannot be used"), E(404, says="cannot be used"), TOKEN_IS_ANONYMOUS_POST)),
    # /admin: admins only; everyone else, a former admin too, gets the 404 of no such address.
    ("GET", "/admin", get("/admin"), admins_only(E(200, says="Suspended accounts"))),
    ("GET", "/admin/accounts", get("/admin/accounts"), admins_only(E(200, says="accounts, newest first"))),
    # A password too short: past the door, no account made.
    ("POST", "/admin/accounts", post("/admin/accounts", {"username": "made-{role}", "password": "short"}),
     admins_only(E(400, says="8 to 256"), "POST")),
    ("GET", "/admin/users", get("/admin/users?name=alice"), admins_only(E(303, location="/admin/users/alice"))),
    ("GET", "/admin/users/alice", get("/admin/users/alice"), admins_only(E(200, says="alice is not an admin"))),
    ("GET", "/admin/users/alice/suspension", get("/admin/users/alice/suspension"),
     admins_only(E(200, says="alice is not an admin"))),
    ("POST", "/admin/users/alice/suspension", post("/admin/users/alice/suspension", {"action": "bogus"}),
     admins_only(E(400, says="action must be suspend or lift"), "POST")),
    ("GET", "/admin/users/alice/reset-link", get("/admin/users/alice/reset-link"),
     admins_only(E(200, says="alice is not an admin"))),
    ("POST", "/admin/users/alice/reset-link", post("/admin/users/alice/reset-link"),
     admins_only(E(200, says="/password-reset?token="), "POST")),
    # An admin's account (here the admin's own): its reset link is made only on the server's console.
    ("POST", "/admin/users/admin/reset-link", post("/admin/users/admin/reset-link"),
     admins_only(E(403, says="made only on the server", hides="/password-reset?token="), "POST")),
    # The reports keep copies of alice's messages: only an admin sees them.
    ("GET", "/admin/reports", get("/admin/reports"), admins_only(E(200, says="hello bob"))),
    ("GET", "/admin/reports/{report}", get("/admin/reports/{report}"), admins_only(E(200, says="hello bob"))),
    ("POST", "/admin/reports/{report}", post("/admin/reports/{report}", {"action": "bogus"}),
     admins_only(E(400, says="action must be dismiss, delete or suspend"), "POST")),
    ("GET", "/admin/reports/{picture_report}/picture", get("/admin/reports/{picture_report}/picture"),
     admins_only(E(200, says="JFIF"))),
    ("GET", "/admin/invites", get("/admin/invites"), admins_only(E(200, says="/signup?invite="))),
    ("POST", "/admin/invites", post("/admin/invites", {"uses": "0", "expiry": "3600"}),
     admins_only(E(400, says="1 to 100 uses"), "POST")),
    ("GET", "/admin/invites/{invite}/revoke", get("/admin/invites/{invite}/revoke"),
     admins_only(E(200, says="/signup?invite="))),
    ("POST", "/admin/invites/{invite}/revoke", post("/admin/invites/{invite}/revoke"),
     admins_only(E(200, says="The invite was revoked"), "POST")),
    ("GET", "/admin/log", get("/admin/log"), admins_only(E(200, says="granted admin rights"))),
    ("GET", "/admin/boards/10/remove", get("/admin/boards/10/remove?member=u:nobody"),
     admins_only(E(404, says="not on the board"))),
    ("POST", "/admin/boards/10/remove", post("/admin/boards/10/remove", {"member": "u:nobody"}),
     admins_only(E(404, says="not on the board"), "POST")),
]


class Caller(Visitor):
    """A visitor in one role; the token caller adds alice's token to every request."""

    token: str | None = None

    @property
    def extra_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def fetch(self, path, method="GET", body=None, headers=None):
        return await super().fetch(path, method, body, {**self.extra_headers, **(headers or {})})


class Scene:
    def __init__(self, world: World, http, role: str):
        self.world, self.http, self.role, self.base_url = world, http, role, world.base_url

    def path(self, template: str) -> str:
        return template.format(**self.world.ids, role=self.role.replace("_", "-"))

    async def caller(self, fresh: bool) -> Caller:
        """The caller of this role: alice and carol in the sessions that own their things (a game
        belongs to the session that started it), or in new sessions for cells that end one."""
        who = {"signed_in": "dave", "participant": "alice", "other": "carol", "admin": "admin",
               "revoked": "rex"}.get(self.role)
        caller = Caller(self.http, self.base_url)
        if self.role == "suspended":  # the browser sam was signed in with: its session ended
            caller.cookies = dict(self.world.cookies["sam"])
        elif self.role == "guest":
            caller.cookies = dict((await self.world.signed_in(self.http, None)).cookies if fresh
                                  else self.world.cookies["guest"])
        elif who in self.world.cookies and not fresh:
            caller.cookies = dict(self.world.cookies[who])
        elif who:
            caller.cookies = dict((await self.world.signed_in(self.http, who)).cookies)
        elif self.role == "anonymous":
            await caller.get("/login")  # an XSRF cookie, as any visitor who saw a page has
        else:
            caller.token = self.world.ids["token"]
        return caller

    async def board_push(self) -> None:
        """A new player gets onto board 10 (MIN_GAMES won games): every page showing it gets the
        new rows."""
        name = f"winner-{next(WINNERS)}"  # a new player each time: a repeat of a score changes nothing
        self.world.redis.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})
        winner = await self.world.signed_in(self.http, name)
        for _ in range(MIN_GAMES):
            await self.world.win(winner, await start(winner))


@pytest.fixture(scope="module")
def world():
    w = World.start()
    # dave has nothing; erin has nothing but the matrix's messages to her; carol has a conversation with bob of her own (no picture), and a game;
    # alice has a message to bob that she may delete, and a picture she deleted before sending
    # another.
    for name in ("dave", "erin"):
        w.redis.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})

    async def more_things():
        http = tornado.httpclient.AsyncHTTPClient()
        carol = await w.signed_in(http, "carol")
        assert (await send(carol, "bob", "hello carol")).code == 303
        await start(carol)
        alice = await w.signed_in(http, "alice")
        assert (await send(alice, "bob", "", picture())).code == 303
        (image,), = pair_rows(w.data_dir, "alice", "bob", "SELECT MAX(id) FROM images")
        w.ids["deleted_image"] = str(image)
        (message,), = pair_rows(w.data_dir, "alice", "bob", "SELECT id FROM messages WHERE image_id = ?", (image,))
        assert (await alice.post(f"/chat/bob/messages/{message}/delete")).code == 303
        assert (await send(alice, "bob", "", picture())).code == 303
        assert (await send(alice, "bob", "to be deleted")).code == 303
        assert (await send(alice, "bob", "to be edited")).code == 303
        await community(w, http)

    asyncio.run(more_things())
    (mine,), = pair_rows(w.data_dir, "alice", "bob", "SELECT id FROM messages WHERE body = 'to be deleted'")
    (theirs,), = pair_rows(w.data_dir, "alice", "bob", "SELECT id FROM messages WHERE body = 'hello alice'")
    (kept,), = pair_rows(w.data_dir, "alice", "bob", "SELECT id FROM messages WHERE body = ?", (SECRET_TEXT,))
    (editable,), = pair_rows(w.data_dir, "alice", "bob", "SELECT id FROM messages WHERE body = 'to be edited'")
    w.ids["mine"], w.ids["theirs"], w.ids["kept"] = str(mine), str(theirs), str(kept)
    w.ids["editable"] = str(editable)
    yield w
    w.stop()


async def community(w: World, http) -> None:
    """"admin" is an admin, as `parlor admin grant` makes one; rex was one while he signed in;
    sam's suspension ended the session his browser holds; bob reported a message of alice's and
    one of her pictures; there is an invite."""
    store = aioredis.Redis(unix_socket_path=w.redis_socket, decode_responses=True)
    admins = Admins(store, Accounts(store, None, safety=Safety.unlimited(store)), AuditLog(store),
                    PasswordResets(store))
    for name in ("rex", "sam"):
        w.redis.hset(f"user:{name}", mapping={"password_hash": "-", "created_at": "0"})
    await admins.grant(CONSOLE, "admin")
    await admins.grant(CONSOLE, "rex")
    rex, sam = await w.signed_in(http, "rex"), await w.signed_in(http, "sam")
    assert (await rex.get("/admin")).code == 200
    await admins.revoke(CONSOLE, "rex")
    await store.aclose()
    admin = await w.signed_in(http, "admin")
    assert (await admin.post("/admin/users/sam/suspension", {"action": "suspend", "length": "0",
                                                             "reason": "For the matrix."})).code == 200
    w.cookies.update(rex=dict(rex.cookies), sam=dict(sam.cookies))
    bob = await w.signed_in(http, "bob")
    (hello,), = pair_rows(w.data_dir, "alice", "bob", "SELECT id FROM messages WHERE body = 'hello bob'")
    (pictured,), = pair_rows(w.data_dir, "alice", "bob", "SELECT MAX(id) FROM messages WHERE image_id IS NOT NULL")
    for message_id, key in ((hello, "report"), (pictured, "picture_report")):
        assert (await bob.post(f"/chat/alice/messages/{message_id}/report", {"reason": "spam"})).code == 200
        w.ids[key] = id_for("bob", "alice", message_id)
    invites = await admin.post("/admin/invites", {"uses": "1", "expiry": "3600"})
    w.ids["invite"] = invites.headers["Location"].removeprefix("/admin/invites#invite-")


ENDS_SESSIONS = {("POST", "/signup"), ("POST", "/login"), ("POST", "/logout"),  # their callers get new sessions
                 ("GET", "/live?then=logout"), ("GET", "/events?then=logout"), ("GET", "/poll?then=logout")}
CELLS = [(method, path, request, role, expect[role]) for method, path, request, expect in MATRIX for role in ROLES]


@pytest.mark.parametrize("method,path,request_,role,expect", CELLS, ids=[f"{c[0]} {c[1]} as {c[3]}" for c in CELLS])
@pytest.mark.gen_test(timeout=60)
async def test_cell(world, method, path, request_, role, expect):
    scene = Scene(world, tornado.httpclient.AsyncHTTPClient(), role)
    caller = await scene.caller(fresh=(method, path) in ENDS_SESSIONS)
    answer = await request_(scene, caller)
    body = answer.body.decode("utf-8", "replace") if answer.body else ""
    assert answer.code == expect.status, body[:400]
    if expect.says:
        assert expect.says.lower() in body.lower()
    if expect.hides:
        assert expect.hides not in body
    if expect.location:
        assert answer.headers["Location"].startswith(expect.location)


def implemented_methods(handler: type) -> set[str]:
    """The HTTP methods a handler class answers itself (not with Tornado's default 405)."""
    return {m.upper() for m in ("get", "post", "put", "patch", "delete")
            if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)}


def route_of(path: str, table: list[tuple]) -> str | None:
    """The pattern of the first route that serves this address, as Tornado picks it."""
    bare = path.format(**SAMPLE).split("?")[0]
    return next((pattern for pattern, *_ in table if re.fullmatch(pattern, bare)), None)


def test_every_route_has_a_row():
    table = handlers.routes()
    covered = {(method, route_of(path, table)) for method, path, *_ in MATRIX}
    missing = sorted(f"{method} {pattern} ({handler.__name__})" for pattern, handler, *_ in table
                     for method in implemented_methods(handler) if (method, pattern) not in covered)
    assert not missing, "routes with no row in the authorization matrix (add one to MATRIX): " + ", ".join(missing)
    assert (None not in {pattern for _, pattern in covered}), "a row whose address no route serves"


def test_the_route_check_sees_a_new_route(monkeypatch):
    """The check above fails for a route that has no row."""
    class NewHandler(tornado.web.RequestHandler):
        def delete(self):
            pass

    original = handlers.routes
    monkeypatch.setattr(handlers, "routes", lambda: [*original(), (r"/account/delete", NewHandler)])
    with pytest.raises(AssertionError, match="DELETE /account/delete"):
        test_every_route_has_a_row()
