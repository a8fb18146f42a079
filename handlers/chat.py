"""Chat pages: the conversation list, a conversation, sending text and pictures, images."""
from __future__ import annotations

import re
import secrets
import unicodedata

import jinja2
import tornado.httputil
import tornado.web
from markupsafe import Markup, escape

from parlor.accounts.usernames import is_ghost
from parlor.chat import eliza
from parlor.chat.conversation_list import Summary, published_key
from parlor.chat.images import ACCEPT, MAX_IMAGE_BYTES
from parlor.chat.pair_file import Message, pair_key
from parlor.infra.times import iso_time
from parlor.live.events import Outgoing
from parlor.live.hub import Hub
from parlor.refusals import Refused
from parlor.safety import Safety

from .base import BaseHandler
from .inputs import MAX_WHOLE_NUMBER

MAX_SEND_BYTES = MAX_IMAGE_BYTES + 64 * 1024  # one picture plus the form around it
URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)]}'\""


def linkify(text: str) -> Markup:
    """Escape text; http(s) URLs become links (rel noopener nofollow ugc), nothing else does."""
    out, position = [], 0
    for match in URL_RE.finditer(text):
        url = match.group(0).rstrip(TRAILING_PUNCTUATION)
        out.append(escape(text[position:match.start()]))
        out.append(_link(url))
        position = match.start() + len(url)
    out.append(escape(text[position:]))
    return Markup("").join(out)


def _link(url: str) -> Markup:
    """A link whose text reads as its address. Spoofing: a bidi control (U+202E RIGHT-TO-LEFT
    OVERRIDE before `exe.txt` makes it read `txt.exe`) or another invisible character (Unicode
    format, Cf) in a URL: no link, and each such character written out as <U+202E>. dir="ltr"
    isolates a link from controls in the text around it."""
    if any(unicodedata.category(c) == "Cf" for c in url):
        return escape("".join(f"<U+{ord(c):04X}>" if unicodedata.category(c) == "Cf" else c for c in url))
    return Markup('<a href="{0}" rel="noopener nofollow ugc" dir="ltr">{0}</a>').format(url)


def new_client_id() -> str:
    return secrets.token_urlsafe(16)


def send_form(templates, me: str, peer: str, xsrf_token: str, error: str | None = None, body: str = "",
              oob: bool = False) -> str:
    """The send form of a conversation (a new client id: the next message is a new one)."""
    return templates.get_template("partials/_send_form.html").render(
        me=me, peer=peer, xsrf_token=xsrf_token, client_id=new_client_id(), accept=ACCEPT, error=error,
        body=body, oob=oob)


class ChatBase(BaseHandler):
    """Chat needs an account; the peer in the URL is checked before anything else happens."""

    async def prepare(self) -> None:
        await super().prepare()
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect(f"/login?next={tornado.escape.url_escape(self.request.uri, plus=False)}")
                return
            raise Refused("unauthenticated", "Please log in to chat.")

    async def peer_or_error(self, raw_peer: str) -> str:
        """The peer named in the URL, or Refused (not_found, or invalid for oneself)."""
        return await self.application.chat.peer(self.current_user, raw_peer)

    async def seen(self, peer: str, messages: list[Message], peer_read: int) -> bool:
        """Whether to show "Seen" under my newest message: never when the peer blocked me (who
        learn nothing of what the person who blocked them does)."""
        return (seen_by_peer(self.current_user, messages, peer_read)
                and not await self.application.safety.has_blocked(peer, self.current_user))

    async def conversation_context(self, peer: str, **extra) -> dict:
        suspended = bool(await self.application.suspensions.which([peer]))
        return {"peer": peer, "me": self.current_user, "pair": pair_key(self.current_user, peer),
                "client_id": new_client_id(), "accept": ACCEPT, "ghost": is_ghost(peer), "suspended": suspended,
                **extra}


class ChatListHandler(ChatBase):
    async def get(self) -> None:
        await self.show_list()

    async def show_list(self, status: int = 200, error: str | None = None, block_error: str | None = None) -> None:
        summaries = await self.application.chat.summaries(self.current_user)
        peers = [s.peer for s in summaries]
        online = await self.application.hub.online(peers, viewer=self.current_user)
        suspended = await self.application.suspensions.which(peers)
        self.render_view("chat_list.html", "partials/_conversation_list.html", status=status,
                         summaries=summaries, online=online, suspended=suspended, error=error, block_error=block_error)


class ChatStartHandler(ChatListHandler):
    """The "talk to" form: a GET, so it works as a plain form and is safe to repeat."""

    async def get(self) -> None:
        raw = self.get_query_argument("peer", "")
        try:
            peer = await self.application.chat.peer(self.current_user, raw)
        except Refused as e:
            await self.show_list(self.refused_status(e), str(e))
            return
        self.redirect(f"/chat/{peer}", status=303)


def seen_by_peer(me: str, messages: list[Message], peer_read: int) -> bool:
    """Whether my newest message is the conversation's newest and the peer has read it."""
    return bool(messages) and messages[-1].author == me and peer_read >= messages[-1].id


class ConversationHandler(ChatBase):
    async def get(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        messages, peer_read = await self.application.chat.open_and_mark_read(self.current_user, peer)
        online = await self.application.hub.online([peer], viewer=self.current_user)
        blocked = await self.application.safety.has_blocked(self.current_user, peer)
        self.render_view("conversation.html", "partials/_conversation.html",
                         **await self.conversation_context(peer, messages=messages, online=online, blocked=blocked,
                                                     seen=await self.seen(peer, messages, peer_read),
                                                     error=None, body=""))


class TypingHandler(ChatBase):
    """POST /chat/<peer>/typing: the page says its user is typing (JavaScript only, every 3 s at
    most); the peer's open pages show it for 6 s."""

    async def post(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        await self.application.hub.typing(self.current_user, peer)
        self.set_status(204)
        self.finish()


@tornado.web.stream_request_body
class MessagesHandler(ChatBase):
    """/chat/<peer>/messages. GET: the 50 messages before ?before=<id>. POST: send text and/or
    a picture. The body is streamed so that an oversized upload is refused from its
    Content-Length before it is read (XSRF is checked before the body arrives, so the form
    carries _xsrf in its URL; htmx sends the header)."""

    max_body_bytes = MAX_SEND_BYTES
    _body_read = False  # the body came whole and post() took it

    async def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._received = 0
        await super().prepare()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if not self._body_read:  # the client left mid-body (or passed MAX_REQUEST_BYTES): no post() will run
            self._chunks = []
            self.stop_counting()

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.max_body_bytes:  # no Content-Length (chunked): counted here
            # Kept no longer, and answered 413 once the body ends. Answering now would make
            # Tornado close the connection under a client that is still sending: its reset can
            # destroy the answer before the client reads it. The server's MAX_REQUEST_BYTES
            # bounds what is read (beyond it, Tornado's own bare 400).
            self._chunks = []
            return
        self._chunks.append(chunk)

    def too_large_message(self) -> str:
        return f"That is too much to send at once: a picture can be at most {MAX_IMAGE_BYTES // (1024 * 1024)} MiB."

    def _parse_body(self) -> None:
        self._body_read = True
        if self._received > self.max_body_bytes:
            raise Refused("too_large", self.too_large_message())
        body = b"".join(self._chunks)
        self._chunks = []
        try:
            tornado.httputil.parse_body_arguments(
                self.request.headers.get("Content-Type", ""), body,
                self.request.body_arguments, self.request.files, self.request.headers)
        except tornado.httputil.HTTPInputError:  # no boundary, no end, too many parts: not our form
            raise Refused("invalid", "The form could not be read; reload the page and send again.") from None
        for name, values in self.request.body_arguments.items():
            self.request.arguments.setdefault(name, []).extend(values)

    async def get(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        before = self.int_argument("before", 0, MAX_WHOLE_NUMBER, message="before must be a message number.")
        messages = await self.application.chat.older(self.current_user, peer, before)
        self.render_view("chat_older.html", "partials/_older.html",
                         peer=peer, me=self.current_user, pair=pair_key(self.current_user, peer), messages=messages)

    async def post(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        self._parse_body()
        files = self.request.files.get("image") or []
        image = files[0]["body"] if files and files[0]["body"] else None
        body = self.get_body_argument("body", "")
        try:
            await self.application.chat.send(
                self.current_user, peer, body, self.get_body_argument("client_id", None), image)
        except Refused as e:
            await self.refuse(peer, e, body)
            return
        if self.wants_fragment():  # the message itself arrives over /live, in every tab
            self.send_form(peer)
        else:
            self.redirect(f"/chat/{peer}", status=303)

    def send_form(self, peer: str, status: int = 200, error: str | None = None, body: str = "") -> None:
        self.set_status(status)
        self.finish(send_form(self.application.templates, self.current_user, peer, self.xsrf_token.decode("ascii"),
                              error, body))

    async def refuse(self, peer: str, e: Refused, body: str) -> None:
        """The form again with the reason (and what was typed); nothing was stored, nothing is
        marked read."""
        status = self.refused_status(e)
        if self.wants_fragment():
            self.send_form(peer, status, str(e), body)
            return
        messages, peer_read = await self.application.chat.latest(self.current_user, peer)
        self.render_view("conversation.html", "partials/_conversation.html", status=status,
                         **await self.conversation_context(peer, messages=messages, online=set(),
                                                     seen=await self.seen(peer, messages, peer_read),
                                                     error=str(e), body=body))


class ImageHandler(ChatBase):
    """A picture of a conversation, to the two people in it only (anyone else: 404)."""

    async def get(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        thumbnail = self.get_query_argument("thumb", "") == "1"
        found = await self.application.chat.image(self.current_user, peer, int(raw_id), thumbnail)  # route: 0-9
        if found is None:
            raise Refused("not_found", "There is no such picture.")
        mime, data = found
        self.set_header("Content-Type", mime)
        self.set_header("Content-Security-Policy", "sandbox")  # even a browser that sniffs runs nothing
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        extension = mime.split("/")[1]
        self.set_header("Content-Disposition", f'inline; filename="picture-{int(raw_id)}.{extension}"')
        self.finish(data)


def message_json(message: Message, peer: str) -> dict:
    """A message as API clients see it; `peer` is the other person of the viewer's pair."""
    body = {"id": message.id, "author": message.author, "kind": message.kind, "body": message.body,
            "sent_at": iso_time(message.sent_ms)}
    if message.image_id is not None:
        body["image"] = f"/chat/{peer}/images/{message.image_id}"
    return body


class ChatPush:
    """Turns a committed message, or a conversation read to its end, into events for the two
    people: each side rendered once (their side of the bubble, their conversation-list row) and
    appended to their stream, which every open tab of theirs receives, on any process."""

    def __init__(self, templates: jinja2.Environment, hub: Hub, safety: Safety):
        self._hub = hub
        self._safety = safety  # whom a reader blocked learns nothing of their reading
        self._message = templates.get_template("partials/_message_push.html")
        self._row = templates.get_template("partials/_conversation_row.html")
        self._seen = templates.get_template("partials/_seen.html")

    async def __call__(self, a: str, b: str, message: Message, unread_by_b: int,
                       listed: list[tuple[str, str, int]]) -> None:
        hub = self._hub
        pair = pair_key(a, b)
        online = await hub.online([a, b], recent=True)
        # A text message is the same for both people but for mine/theirs, which the page sets: it
        # is rendered once. Its Delete form is the author's, whose peer is b. A picture's address
        # names the viewer's peer: one for each.
        both = (self._message.render(message=message, me=None, peer=b, pair=pair)
                if message.kind == "text" else None)
        events = []
        for me, peer in ((a, b), (b, a)):
            if me == eliza.USERNAME:
                continue  # ELIZA reads nothing
            unread = 0 if message.author == me else unread_by_b
            # The row goes to the top of the list (the page's script drops the old copy of it).
            html = ((both or self._message.render(message=message, me=me, peer=peer, pair=pair))
                    + '<ul id="conversation-list" hx-swap-oob="afterbegin">'
                    + self._row.render(summary=Summary(peer, message, unread), online=online, oob=False)
                    + "</ul>")
            events.append(Outgoing(me, "message", html, {"peer": peer, "unread": unread,
                                                          "message": message_json(message, peer)}))
        await hub.publish(events, listed, guard=(published_key(pair), message.id))  # once per message

    async def read(self, reader: str, peer: str, newest: Message) -> None:
        """`reader` has read up to `newest` (a message of `peer`): their other tabs drop the
        unread mark; `peer` sees "Seen", unless `reader` blocked them (who learn nothing of
        what the person who blocked them does)."""
        online = await self._hub.online([reader, peer], viewer=reader)
        events = [Outgoing(reader, "read", self._row.render(summary=Summary(peer, newest, 0), online=online, oob=True),
                   {"peer": peer, "reader": reader, "up_to": newest.id})]
        if (peer != eliza.USERNAME and not is_ghost(peer)
                and not await self._safety.has_blocked(reader, peer)):
            events.append(Outgoing(peer, "read", self._seen.render(pair=pair_key(reader, peer), seen=True, oob=True),
                           {"peer": reader, "reader": reader, "up_to": newest.id}))
        await self._hub.publish(events)
