"""What people do to a message already sent: react to it, or edit their own. Each action passes
the blocks, suspensions and message rate limit a send passes (parlor/safety.py, one round trip),
is stored in the pair's file, and leaves by the delivery port in the pair's order, like a send."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Awaitable, Callable

from parlor.chat.delivery import MessageDelivery, readers
from parlor.chat.conversation import Conversation
from parlor.chat.pair_file import Message, Quote, StorageFailed, pair_key
from parlor.chat.pair_files import PairFiles
from parlor.refusals import Refused

log = logging.getLogger("parlor.chat")

MAX_MESSAGE_CHARS = 4000  # a long paragraph; anything longer is a paste, better sent as a file
# The emoji offered: a fixed few keep a message's row short and each reaction one tap; anything
# else is refused (no free text rides in on a reaction).
REACTIONS = ("👍", "❤️", "😂", "😮", "😢", "🎉")
# A message can be edited this long after it was sent: time to fix a slip, not to rewrite what
# the peer has long read and answered.
EDIT_WINDOW_S = 24 * 3600
NOT_STORED = ("Parlor cannot store messages right now: its disk is full or failing. "
              "Nothing was stored; please try again later.")
NOT_YOURS = "There is no message of yours with that number here."
REPLIED_GONE = "There is no message with that number to reply to here (it may have been deleted)."


def editable(message: Message) -> bool:
    """Whether its author may still edit `message`: a text, not deleted, within EDIT_WINDOW_S."""
    return (message.kind == "text" and not message.deleted
            and time.time() * 1000 - message.sent_ms <= EDIT_WINDOW_S * 1000)


def checked_text(body: str | None, picture: bool = False) -> str:
    """A message's text as it is stored (trimmed), or Refused (invalid) when it is empty without
    a picture or longer than MAX_MESSAGE_CHARS: the same rule for a send and an edit."""
    text = (body or "").strip()
    if not text and not picture:
        raise Refused("invalid", "Write a message or attach a picture.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise Refused("invalid", f"A message is at most {MAX_MESSAGE_CHARS} characters; this one has {len(text)}.")
    return text


async def quote_of(conversation: Conversation | None, reply_to: int | None) -> Quote | None:
    """How a reply quotes message `reply_to` of this conversation (None: it is no reply);
    Refused not_found if there is no such message, or it was deleted."""
    if reply_to is None:
        return None
    quote = await conversation.quote(reply_to) if conversation else None
    if quote is None or quote.deleted:
        raise Refused("not_found", REPLIED_GONE)
    return quote


@contextlib.contextmanager
def stored_or_refused(what: str):
    """A disk that refuses a write becomes Refused (unavailable): nothing was stored."""
    try:
        yield
    except StorageFailed as e:
        log.error("%s was not stored: %s", what, e)
        raise Refused("unavailable", NOT_STORED) from None


class MessageActions:
    """Reactions and edits. `in_order(a, b)` holds a pair's commit-then-publish steps one at a
    time; `check_send(me, peer, picture)` refuses what a send would refuse and counts it."""

    def __init__(self, logs: PairFiles, delivery: MessageDelivery,
                 in_order: Callable[[str, str], contextlib.AbstractAsyncContextManager],
                 check_send: Callable[[str, str, bool], Awaitable[None]]):
        self._logs = logs
        self._delivery = delivery
        self._in_order = in_order
        self._check_send = check_send

    async def quote(self, me: str, peer: str, message_id: int) -> Quote:
        """How a reply of `me`'s would quote a message of our conversation (quote_of)."""
        async with self._logs.conversation(me, peer) as conversation:
            return await quote_of(conversation, message_id)

    async def react(self, me: str, peer: str, message_id: int, emoji: str) -> tuple[Message, bool]:
        """`me` puts `emoji` (one of REACTIONS) on a message of our conversation, or takes it back
        if it was there; both of us see it at once. Returns the message and whether it was added."""
        if emoji not in REACTIONS:
            raise Refused("invalid", f"React with one of {' '.join(REACTIONS)}.")
        await self._check_send(me, peer, False)
        async with self._in_order(me, peer):
            with stored_or_refused(f"a reaction of {me} to {peer}"):
                async with self._logs.conversation(me, peer) as conversation:
                    result = await conversation.react(message_id, me, emoji) if conversation else None
            if result is None:
                raise Refused("not_found", "There is no message with that number here.")
            message, added = result
            await self._delivery.reacted(pair_key(me, peer), me, peer, message, readers(me, peer))
        return message, added

    async def edit(self, me: str, peer: str, message_id: int, body: str | None) -> Message:
        """Replace the text of my text message, within EDIT_WINDOW_S of sending it: "edited" for
        both of us, the old text gone from the file. Checked as a send is (text, blocks, limits)."""
        text = checked_text(body)
        await self._check_send(me, peer, False)
        async with self._in_order(me, peer):
            with stored_or_refused(f"an edit of {me} to {peer}"):
                async with self._logs.conversation(me, peer) as conversation:
                    message = await conversation.message(message_id) if conversation else None
                    self._check_editable(me, message)
                    if text == message.body:
                        return message  # nothing changes: nothing to tell
                    edited = await conversation.edit(message_id, me, text)
                    if edited is None:  # deleted meanwhile, by another process
                        raise Refused("not_found", NOT_YOURS)
                    newest = (await conversation.last()).id == edited.id  # then both list rows change
                    unread = {user: await conversation.unread(user) for user in (me, peer)} if newest else {}
            await self._delivery.edited(pair_key(me, peer), me, peer, edited, newest, unread, readers(me, peer))
        return edited

    @staticmethod
    def _check_editable(me: str, message: Message | None) -> None:
        if message is None or message.author != me or message.deleted:
            raise Refused("not_found", NOT_YOURS)
        if message.kind != "text":
            raise Refused("invalid", "Only a text message can be edited; a picture stays as it was sent.")
        if not editable(message):
            raise Refused("forbidden", f"A message can be edited for {EDIT_WINDOW_S // 3600} hours after it "
                                       "is sent; this one is older.")
