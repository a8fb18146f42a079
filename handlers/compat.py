"""The tutorial's JSON endpoints, kept for its clients; they share every rule of the chat."""
from __future__ import annotations

from parlor.chat.chat import HISTORY_PAGE
from parlor.infra.times import iso_time
from parlor.refusals import Refused

from .base import BaseHandler
from .inputs import MAX_WHOLE_NUMBER


class CompatHandler(BaseHandler):
    answers_json = True
    accepts_token = True  # an API for scripts, like /api/messages

    async def prepare(self) -> None:
        await super().prepare()
        if not self.current_user:
            raise Refused("unauthenticated", "Log in first.")

    async def peer_of(self, one: str, two: str) -> str:
        """The other one of a pair that must include the signed-in user (else 403)."""
        me = self.current_user
        names = [n.strip().lower() for n in (one, two)]
        if me not in names:
            raise Refused("forbidden", "You can only use your own conversations.")
        other = names[1] if names[0] == me else names[0]
        return await self.application.chat.peer(me, other)


class CreateConversationHandler(CompatHandler):
    async def post(self) -> None:
        peer = await self.peer_of(self.get_body_argument("user_one", ""), self.get_body_argument("user_two", ""))
        await self.application.chat.create(self.current_user, peer)
        self.write_json({"success": True})


class MessageHistoryHandler(CompatHandler):
    """The latest messages of a conversation (HISTORY_PAGE at most, or limit=), oldest first;
    before=<id> pages back, and "more" says whether there is anything older."""

    async def post(self) -> None:
        peer = await self.peer_of(self.get_body_argument("user_one", ""), self.get_body_argument("user_two", ""))
        before = (self.int_argument("before", 0, MAX_WHOLE_NUMBER, message="before must be a message number.")
                  if self.get_argument("before", "") else None)  # empty: the latest
        limit = self.int_argument("limit", 1, HISTORY_PAGE, default=HISTORY_PAGE)
        messages, more = await self.application.chat.history_page(self.current_user, peer, before, limit)
        self.write_json({"history": [
            {"id": m.id, "author": m.author, "message": m.body, "kind": m.kind,
             "sent_at": iso_time(m.sent_ms)} for m in messages], "more": more})


class SendMessageHandler(CompatHandler):
    async def post(self, raw_peer: str) -> None:
        if self.get_body_argument("author", "").strip().lower() != self.current_user:
            raise Refused("forbidden", "You can only send messages as yourself.")
        peer = await self.application.chat.peer(self.current_user, raw_peer)
        message, _ = await self.application.chat.send(
            self.current_user, peer, self.get_body_argument("message", ""), self.get_body_argument("client_id", None))
        self.write_json({"success": True, "id": message.id})
