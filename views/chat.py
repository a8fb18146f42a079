"""Chat's fragments: a message's text (linkify), a day's name, the send form and a send's state,
a message as API clients see it, and the fragments of chat's events (ChatViews, the MessageViews
that parlor/live/message_events.py is handed)."""
from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date, datetime, timedelta, timezone

import jinja2
from markupsafe import Markup, escape

from parlor.chat.conversation_list import Summary
from parlor.chat.images import ACCEPT
from parlor.chat.conversation import snippet
from parlor.chat.pair_file import Message, Quote
from parlor.infra.times import iso_time
from parlor.live.events import TALLY_MARK

URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)]}'\""


def linkify(text: str) -> Markup:
    """Escape text; http(s) URLs become links, opening in a new tab (rel noopener noreferrer
    nofollow ugc: the page opened can neither reach this one nor learn where it came from, and
    earns no search ranking from it), nothing else does."""
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
    return Markup('<a href="{0}" target="_blank" rel="noopener noreferrer nofollow ugc" dir="ltr">{0}</a>').format(url)


def day_label(day: date, today: date | None = None) -> str:
    """A day as a conversation's date line says it: Today, Yesterday, 3 December, 3 December 2024."""
    today = today or datetime.now(timezone.utc).date()
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return f"{day.day} {day:%B}" + ("" if day.year == today.year else f" {day.year}")


def new_client_id() -> str:
    """A send form's id for the message it will send: a resend with it is stored once."""
    return secrets.token_urlsafe(16)


def send_form(templates, me: str, peer: str, xsrf_token: str, error: str | None = None, body: str = "",
              replying: Quote | None = None) -> str:
    """The send form of a conversation (a new client id: the next message is a new one), still
    answering `replying` if given (a refused reply)."""
    return templates.get_template("partials/_send_form.html").render(
        me=me, peer=peer, xsrf_token=xsrf_token, client_id=new_client_id(), accept=ACCEPT, error=error,
        body=body, replying=replying)


def send_state(client_id: str | None, error: str | None = None) -> str:
    """The answer to a send from a page's script (over its socket, or a waiting message's POST):
    the status of the message with that client id, "Sent" or why not, swapped in place."""
    if error is None:
        return Markup('<span id="send-state-{0}" class="status" hx-swap-oob="true">Sent</span>').format(client_id or "")
    return Markup('<span id="send-state-{0}" class="status failed" role="alert" hx-swap-oob="true">Not sent: {1}</span>'
                  ).format(client_id or "", error)


def message_json(message: Message, peer: str) -> dict:
    """A message as API clients see it; `peer` is the other person of the viewer's pair. A reply,
    an edit and reactions add their fields (reply_to, edited_at, reactions) only when there are."""
    body = {"id": message.id, "author": message.author, "kind": message.kind, "body": message.body,
            "sent_at": iso_time(message.sent_ms)}
    if message.image_id is not None:
        body["image"] = f"/chat/{peer}/images/{message.image_id}"
    if message.reply_to is not None:
        body["reply_to"] = message.reply_to
    if message.edited_ms is not None:
        body["edited_at"] = iso_time(message.edited_ms)
    if message.reactions:
        body["reactions"] = reactions_json(message)
    return body


def reactions_json(message: Message) -> list[dict]:
    """A message's reactions as API clients and the data download see them."""
    return [{"emoji": r.emoji, "users": list(r.users)} for r in message.reactions]


class ChatViews:
    """The fragments of chat's events, each template loaded once."""

    def __init__(self, templates: jinja2.Environment):
        self._push = templates.get_template("partials/_message_push.html")
        self._message = templates.get_template("partials/_message.html")
        self._row = templates.get_template("partials/_conversation_row.html")
        self._seen = templates.get_template("partials/_seen.html")
        self._badge = templates.get_template("partials/_nav_badge.html")
        self._muted = templates.get_template("partials/_muted.html")
        self._reactions = templates.get_template("partials/_reactions.html")
        self._quote_text = templates.get_template("partials/_quote_text.html")

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

    def seen(self, pair: str, up_to: int) -> str:
        """The author's messages up to `up_to` are "Seen" (the page marks them)."""
        return self._seen.render(pair=pair, peer_read=up_to, oob=True)

    def unread_total(self) -> str:
        """The Chat link's unread badge, its number left for the event's tally (TALLY_MARK)."""
        return self._badge.render(badge_id="unread-total", count=Markup(TALLY_MARK), label="unread", oob=True)

    def replaced(self, message: Message, me: str, peer: str, pair: str) -> str:
        """A deleted or edited message as `me` sees it, swapped over the old one, and the quotes of
        it in replies on the page (no old text stays on screen)."""
        quote = Quote(message.id, message.author, message.kind, "" if message.deleted else snippet(message.body),
                      message.deleted)
        return str(Markup(self._message.render(message=message, me=me, peer=peer, pair=pair, oob=True))
                   + Markup('<span hx-swap-oob="innerHTML:.quoting-{0}-{1}">').format(pair, message.id)
                   + Markup(self._quote_text.render(quote=quote).strip()) + Markup("</span>"))

    def reactions(self, message: Message, me: str, peer: str, pair: str) -> str:
        """A message's reactions as `me` sees them (theirs pressed), swapped in place."""
        return self._reactions.render(message=message, me=me, peer=peer, pair=pair, oob=True)

    def muted(self, peers: dict[str, int]) -> str:
        """Whom the viewer mutes, until when (ms; their pages notify nothing of those), swapped in place."""
        return self._muted.render(muted=peers, oob=True)

    def message_data(self, message: Message, peer: str) -> dict:
        """A message as API clients see it (message_json)."""
        return message_json(message, peer)
