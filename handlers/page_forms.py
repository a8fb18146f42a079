"""The forms a page sends over its live socket instead of POSTing them: a chat message (the send
form, as POST /chat/<peer>/messages takes it), how far it has shown a conversation (the read form,
as POST /chat/<peer>/read), and its heartbeat."""
from __future__ import annotations

import json

from parlor.chat.pair_file import StorageFailed
from parlor.infra.redis_client import REDIS_DOWN
from parlor.live.events import Push
from parlor.refusals import Refused
from parlor.web.views.chat import send_state

from .base import MAX_JSON_DEPTH, STATUS_MESSAGES, STORAGE_FAILED
from .inputs import MAX_WHOLE_NUMBER, nests_deeper, whole_number
from .wire import PONG


class PageForms:
    """What LiveSocket does with a page's frames (it has current_user, application, send, send_wire)."""

    async def on_message(self, message: str | bytes) -> None:
        """A form of the page, sent over its socket: a chat message (the send form), or how far
        the page has shown a conversation (the read form); any other frame is ignored (the page
        acts through forms)."""
        fields = page_form(message)
        if fields is not None and "ping" in fields:  # the page's heartbeat: it is told it is heard
            self.send_wire(PONG)
            return
        if fields is None or not self.current_user:
            return
        if "up_to" in fields:
            await self.read(fields)
            return
        sent = sent_message(fields)
        if sent is None:
            return
        raw_peer, body, client_id = sent
        chat = self.application.chat
        try:
            peer = await chat.peer(self.current_user, raw_peer)
            await chat.send(self.current_user, peer, body, client_id)
        except Refused as e:
            self.answer(client_id, str(e))
        except StorageFailed:
            self.answer(client_id, STORAGE_FAILED)
        except REDIS_DOWN:
            self.answer(client_id, STATUS_MESSAGES[503])
        else:
            self.answer(client_id)  # the message itself comes as an event, in every tab

    async def read(self, fields: dict) -> None:
        """The read form: {"to", "up_to"}, as POST /chat/<peer>/read takes them; nothing is
        answered (the read comes back as an event, in every tab)."""
        up_to, raw_peer = whole_number(str(fields["up_to"]), 1, MAX_WHOLE_NUMBER), fields.get("to")
        if up_to is None or not isinstance(raw_peer, str):
            return
        try:
            peer = await self.application.chat.peer(self.current_user, raw_peer)
            await self.application.chat.mark_read(self.current_user, peer, up_to)
        except (Refused, StorageFailed, *REDIS_DOWN):
            pass  # the page says it again with the next message it shows

    def answer(self, client_id: str | None, error: str | None = None) -> None:
        """The state of the message this socket sent: "Sent", or why it was not."""
        self.send(Push(send_state(client_id, error)))


def page_form(frame: str | bytes) -> dict | None:
    """The fields of a form the page sent over its socket (a flat JSON object), or None."""
    if not isinstance(frame, str) or not frame.startswith("{") or nests_deeper(frame, MAX_JSON_DEPTH):
        return None
    try:
        fields = json.loads(frame)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def sent_message(fields: dict) -> tuple[str, str, str | None] | None:
    """(to, body, client_id) of the send form's fields, or None if they are not that form's."""
    to, body, client_id = fields.get("to"), fields.get("body", ""), fields.get("client_id")
    if not isinstance(to, str) or not isinstance(body, str) or not isinstance(client_id, (str, type(None))):
        return None
    return to, body, client_id
