"""Chat pages: the conversation list, a conversation, sending text and pictures, images."""
from __future__ import annotations

import tornado.httputil
import tornado.web

from parlor.accounts.usernames import is_ghost
from parlor.chat.images import ACCEPT, MAX_IMAGE_BYTES
from parlor.chat.pair_file import pair_key
from parlor.chat.unread import Opened
from parlor.refusals import Refused
from parlor.web.views.chat import new_client_id, send_form, send_state

from .base import BaseHandler
from .inputs import MAX_WHOLE_NUMBER

MAX_SEND_BYTES = MAX_IMAGE_BYTES + 64 * 1024  # one picture plus the form around it
# Set by js/parlor.js: this browser runs the page's script, which marks messages read as they
# are shown, so opening a conversation marks nothing read by itself. It grants nothing: without
# it a page only marks more as read.
SCRIPT_COOKIE = "parlor_script"


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
        """The peer named in the URL, or Refused (not_found, or invalid for oneself). The URL may
        name the pair instead (<a>_<b>, as a message pushed alike to both people does): then the
        peer is the other of the two, if the viewer is one of them."""
        me = self.current_user
        pair = raw_peer.split("_")
        if len(pair) == 2 and me in pair and pair[0] != pair[1]:
            raw_peer = pair[1] if pair[0] == me else pair[0]
        return await self.application.chat.peer(me, raw_peer)

    def reply_to_argument(self) -> int | None:
        """The message a send answers (reply_to=, empty or absent: none)."""
        if not self.get_argument("reply_to", ""):
            return None
        return self.int_argument("reply_to", 1, MAX_WHOLE_NUMBER, message="reply_to must be a message number.")

    async def show_conversation(self, peer: str, **extra) -> None:
        """The conversation page (or its fragment); what it shows is read if the browser runs no
        script (a page with one says what it shows, as it shows it)."""
        chat = self.application.chat
        if self.get_cookie(SCRIPT_COOKIE) == "1":
            opened = await chat.latest(self.current_user, peer)
        else:  # a page without a script shows the latest messages, so they are read
            opened = await chat.open_and_mark_read(self.current_user, peer)
            self.unread_total = await chat.unread_total(self.current_user)  # read now: the badge says so
        online = await self.application.hub.online([peer], viewer=self.current_user)
        blocked = await self.application.safety.has_blocked(self.current_user, peer)
        self.render_view("conversation.html", "partials/_conversation.html",
                         **await self.conversation_context(peer, opened=opened, online=online, blocked=blocked,
                                                           error=None, body="", **extra))

    async def conversation_context(self, peer: str, opened: Opened, **extra) -> dict:
        suspended = bool(await self.application.suspensions.which([peer]))
        return {"peer": peer, "me": self.current_user, "pair": pair_key(self.current_user, peer),
                "client_id": new_client_id(), "accept": ACCEPT, "ghost": is_ghost(peer), "suspended": suspended,
                "messages": opened.messages, "read_before": opened.read_before, "peer_read": opened.peer_read,
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


class ConversationHandler(ChatBase):
    async def get(self, raw_peer: str) -> None:
        await self.show_conversation(await self.peer_or_error(raw_peer))


class TypingHandler(ChatBase):
    """POST /chat/<peer>/typing: the page says its user is typing (JavaScript only, every 3 s at
    most); the peer's open pages show it for 6 s."""

    async def post(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        await self.application.hub.typing(self.current_user, peer)
        self.set_status(204)
        self.finish()


class ReadHandler(ChatBase):
    """POST /chat/<peer>/read with up_to=<message id>: the page showed the conversation up to
    that message (its script says so while the tab is visible and focused; the page's socket
    carries the same as a frame). 204 for htmx; a plain form goes back to the conversation."""

    async def post(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        up_to = self.int_argument("up_to", 1, MAX_WHOLE_NUMBER, message="up_to must be a message number.")
        await self.application.chat.mark_read(self.current_user, peer, up_to)
        if self.wants_fragment():
            self.set_status(204)
            self.finish()
        else:
            self.redirect(f"/chat/{peer}", status=303)


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
                self.current_user, peer, body, self.get_body_argument("client_id", None), image,
                self.reply_to_argument())
        except Refused as e:
            await self.refuse(peer, e, body)
            return
        if self.answers_state():
            self.finish(send_state(self.get_body_argument("client_id", None)))
        elif self.wants_fragment():  # the message itself arrives over /live, in every tab
            self.send_form(peer)
        else:
            self.redirect(f"/chat/{peer}", status=303)

    def answers_state(self) -> bool:
        """A waiting message's POST (its page's socket was down) wants its state, not the form."""
        return self.wants_fragment() and self.get_body_argument("reply", "") == "state"

    def send_form(self, peer: str, status: int = 200, error: str | None = None, body: str = "",
                  replying=None) -> None:
        self.set_status(status)
        self.finish(send_form(self.application.templates, self.current_user, peer, self.xsrf_token.decode("ascii"),
                              error, body, replying))

    async def refuse(self, peer: str, e: Refused, body: str) -> None:
        """The form again with the reason (and what was typed); nothing was stored, nothing is
        marked read."""
        status = self.refused_status(e)
        if self.answers_state():
            self.set_status(status)
            self.finish(send_state(self.get_body_argument("client_id", None), str(e)))
            return
        replying = None  # the composer still answers the message it answered, if that is still there
        if self.get_argument("reply_to", ""):
            try:
                replying = await self.application.chat.actions.quote(self.current_user, peer, self.reply_to_argument())
            except Refused:
                pass
        if self.wants_fragment():
            self.send_form(peer, status, str(e), body, replying)
            return
        opened = await self.application.chat.latest(self.current_user, peer)
        self.render_view("conversation.html", "partials/_conversation.html", status=status,
                         **await self.conversation_context(peer, opened=opened, online=set(), error=str(e), body=body,
                                                           replying=replying))


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
