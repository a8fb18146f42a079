"""Chat's fragments: a message's text (linkify), the send form, a message as API clients see it,
and the fragments of chat's events (ChatViews, the MessageViews that parlor/live/message_events.py
is handed)."""
from __future__ import annotations

import re
import secrets
import unicodedata

import jinja2
from markupsafe import Markup, escape

from parlor.chat.conversation_list import Summary
from parlor.chat.images import ACCEPT
from parlor.chat.pair_file import Message
from parlor.infra.times import iso_time

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
    """A send form's id for the message it will send: a resend with it is stored once."""
    return secrets.token_urlsafe(16)


def send_form(templates, me: str, peer: str, xsrf_token: str, error: str | None = None, body: str = "",
              oob: bool = False) -> str:
    """The send form of a conversation (a new client id: the next message is a new one)."""
    return templates.get_template("partials/_send_form.html").render(
        me=me, peer=peer, xsrf_token=xsrf_token, client_id=new_client_id(), accept=ACCEPT, error=error,
        body=body, oob=oob)


def message_json(message: Message, peer: str) -> dict:
    """A message as API clients see it; `peer` is the other person of the viewer's pair."""
    body = {"id": message.id, "author": message.author, "kind": message.kind, "body": message.body,
            "sent_at": iso_time(message.sent_ms)}
    if message.image_id is not None:
        body["image"] = f"/chat/{peer}/images/{message.image_id}"
    return body


class ChatViews:
    """The fragments of chat's events, each template loaded once."""

    def __init__(self, templates: jinja2.Environment):
        self._push = templates.get_template("partials/_message_push.html")
        self._message = templates.get_template("partials/_message.html")
        self._row = templates.get_template("partials/_conversation_row.html")
        self._seen = templates.get_template("partials/_seen.html")

    def message(self, message: Message, me: str | None, peer: str, pair: str) -> str:
        """A new message as `me` sees it, at the end of the conversation (me None: as both see a text)."""
        return self._push.render(message=message, me=me, peer=peer, pair=pair)

    def top_row(self, peer: str, last: Message, unread: int, online: set[str]) -> str:
        """The viewer's conversation-list row for `peer`, put at the top of the list."""
        return ('<ul id="conversation-list" hx-swap-oob="afterbegin">'
                + self._row.render(summary=Summary(peer, last, unread), online=online, oob=False) + "</ul>")

    def row(self, peer: str, last: Message, unread: int, online: set[str]) -> str:
        """The viewer's conversation-list row for `peer`, swapped in place."""
        return self._row.render(summary=Summary(peer, last, unread), online=online, oob=True)

    def seen(self, pair: str) -> str:
        """"Seen" under the author's newest message."""
        return self._seen.render(pair=pair, seen=True, oob=True)

    def deleted(self, message: Message, me: str, peer: str, pair: str) -> str:
        """A deleted message as `me` sees it, swapped over the old one."""
        return self._message.render(message=message, me=me, peer=peer, pair=pair, oob=True)

    def message_data(self, message: Message, peer: str) -> dict:
        """A message as API clients see it (message_json)."""
        return message_json(message, peer)
