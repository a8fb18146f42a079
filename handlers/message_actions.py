"""What is done to a message already sent: show it, reply to it, react to it, edit one's own.
Each works as a plain form or link; with htmx the same URL answers with the fragment to swap."""
from __future__ import annotations

from parlor.chat.pair_file import pair_key
from parlor.refusals import Refused

from .chat import ChatBase


class MessageHandler(ChatBase):
    """GET /chat/<peer>/messages/<id>: the message (htmx: a reply's quote, or Cancel on an edit,
    swaps it in); without a script, the page of messages that ends with it, scrolled to it."""

    fragment = "partials/_message.html"

    async def get(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        message_id = int(raw_id)  # route: 0-9
        pair = pair_key(self.current_user, peer)
        message = await self.application.chat.message(self.current_user, peer, message_id)
        if message is None:
            raise Refused("not_found", "There is no message with that number here.")
        self.add_header("Vary", "HX-Request")
        if not self.wants_fragment():
            self.redirect(f"/chat/{peer}/messages?before={message_id + 1}#message-{pair}-{message_id}")
            return
        self.finish(self.render_template(self.fragment, message=message, me=self.current_user, peer=peer, pair=pair))


class MessageMenuHandler(MessageHandler):
    """GET /chat/<peer>/messages/<id>/actions: the message's menu as its viewer has it, fetched by
    a message pushed alike to both people when its menu first opens (htmx only; without, the
    message in its place, as above)."""

    fragment = "partials/_message_menu.html"


class ReplyHandler(ChatBase):
    """GET /chat/<peer>/messages/<id>/reply: the composer set to answer that message (htmx: the
    reply slot above the message box; without a script, the conversation with it)."""

    async def get(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        replying = await self.application.chat.actions.quote(self.current_user, peer, int(raw_id))  # route: 0-9
        if self.wants_fragment():
            self.add_header("Vary", "HX-Request")
            self.finish(self.render_template("partials/_reply_slot.html", replying=replying, peer=peer))
            return
        await self.show_conversation(peer, replying=replying)


class ReactionsHandler(ChatBase):
    """POST /chat/<peer>/messages/<id>/reactions with emoji=: put it on the message, or take it
    back if it was there. htmx gets the message's reactions (with the reason, when refused);
    without a script, back to the conversation at the message."""

    async def post(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        me, message_id = self.current_user, int(raw_id)  # route: 0-9
        pair = pair_key(me, peer)
        try:
            message, _ = await self.application.chat.actions.react(me, peer, message_id,
                                                                   self.get_body_argument("emoji", ""))
        except Refused as e:
            current = await self.application.chat.message(me, peer, message_id) if self.wants_fragment() else None
            if current is None or current.deleted:
                raise
            self.set_status(self.refused_status(e))
            self.finish(self.render_template("partials/_reactions.html", message=current, me=me, peer=peer,
                                             pair=pair, error=str(e)))
            return
        if self.wants_fragment():
            self.finish(self.render_template("partials/_reactions.html", message=message, me=me, peer=peer,
                                             pair=pair))
        else:
            self.redirect(f"/chat/{peer}#message-{pair}-{message_id}", status=303)


class EditMessageHandler(ChatBase):
    """/chat/<peer>/messages/<id>/edit. GET: the form, in the message's place (htmx) or on a page.
    POST body=: the new text for both people, "edited"; htmx gets the message, a plain form goes
    back to the conversation; a refusal shows the form again with the reason and the text typed."""

    async def get(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        message = await self.application.chat.message(self.current_user, peer, int(raw_id))  # route: 0-9
        if message is None or message.author != self.current_user or message.deleted:
            raise Refused("not_found", "There is no message of yours with that number here.")
        self.show_form(peer, message, message.body)

    def show_form(self, peer: str, message, body: str, status: int = 200, error: str | None = None) -> None:
        self.render_view("edit_message.html", "partials/_edit_message.html", status=status, message=message,
                         body=body, error=error, peer=peer, pair=pair_key(self.current_user, peer))

    async def post(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        me, message_id, body = self.current_user, int(raw_id), self.get_body_argument("body", "")  # route: 0-9
        try:
            message = await self.application.chat.actions.edit(me, peer, message_id, body)
        except Refused as e:
            current = await self.application.chat.message(me, peer, message_id)
            if current is None or current.author != me or current.deleted:
                raise
            self.show_form(peer, current, body, self.refused_status(e), str(e))
            return
        pair = pair_key(me, peer)
        if self.wants_fragment():
            self.finish(self.render_template("partials/_message.html", message=message, me=me, peer=peer, pair=pair))
        else:
            self.redirect(f"/chat/{peer}#message-{pair}-{message_id}", status=303)
