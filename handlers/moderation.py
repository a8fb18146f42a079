"""Blocking a peer, and deleting one's own messages (live, in both people's open tabs)."""
from __future__ import annotations

from parlor.accounts.accounts import normalize_username
from parlor.accounts.usernames import is_ghost
from parlor.chat import eliza
from parlor.chat.pair_file import pair_key
from parlor.refusals import Refused

from .chat import ChatBase, ChatListHandler
from .inputs import safe_next


class BlockHandler(ChatListHandler):
    """POST /blocks with peer= and action=block or unblock, then back to next= (the forms on a
    conversation, on /chat and on /account are plain forms). A blocked peer's messages are
    refused, they see none of my presence or typing, and our conversation leaves my list."""

    async def post(self) -> None:
        action = self.get_body_argument("action", "")
        if action not in ("block", "unblock"):
            raise Refused("invalid", "action must be block or unblock.")
        me, raw = self.current_user, self.get_body_argument("peer", "")
        if action == "unblock":
            try:
                peer = normalize_username(raw)
            except Refused:
                raise Refused("invalid", "There is no user by that name.") from None
        try:
            if action == "block":
                peer = await self.application.chat.peer(me, raw)
                if peer == eliza.USERNAME or is_ghost(peer):
                    raise Refused("invalid", "Only people can be blocked; this one cannot write to you.")
                await self.application.chat.block(me, peer)
                default = "/chat"
            else:
                await self.application.chat.unblock(me, peer)
                default = f"/chat/{peer}"
        except Refused as e:
            await self.show_list(self.refused_status(e), block_error=str(e))  # the /chat form, with the reason
            return
        self.redirect_after_post(safe_next(self.get_body_argument("next", None), default))


class MuteHandler(ChatBase):
    """POST /chat/<peer>/mute with action=mute and for=hour, day or always, or action=unmute; then
    back to the conversation. A muted peer's messages still arrive and count as unread in the
    list, but not in the Chat badge or the title, and no page of mine notifies or sounds for them."""

    async def post(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        action = self.get_body_argument("action", "")
        if action not in ("mute", "unmute"):
            raise Refused("invalid", "action must be mute or unmute.")
        duration = self.get_body_argument("for", "always") if action == "mute" else None
        await self.application.mutes.set(self.current_user, peer, duration)
        self.redirect_after_post(f"/chat/{peer}")


class DeleteMessageHandler(ChatBase):
    """/chat/<peer>/messages/<id>/delete. GET: a page that asks first (the message's Delete link
    without a script). POST: the author deletes their message; without JavaScript, back to the
    conversation; with htmx, the deleted message itself (every other tab gets it as an event)."""

    async def get(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        message = await self.application.chat.message(self.current_user, peer, int(raw_id))  # route: 0-9
        if message is None or message.author != self.current_user or message.deleted:
            raise Refused("not_found", "There is no message of yours with that number here.")
        self.render_view("delete_message.html", "partials/_delete_message.html", message=message,
                         me=self.current_user, peer=peer, pair=pair_key(self.current_user, peer))

    async def post(self, raw_peer: str, raw_id: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        message = await self.application.chat.delete(self.current_user, peer, int(raw_id))
        if self.wants_fragment():
            self.finish(self.render_template("partials/_message.html", message=message, me=self.current_user,
                                             peer=peer, pair=pair_key(self.current_user, peer)))
        else:
            self.redirect(f"/chat/{peer}", status=303)
