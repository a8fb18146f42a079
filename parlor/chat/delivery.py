"""The port a stored message leaves chat by: chat hands what it committed (a message, a read, a
deletion, a reaction, an edit) to a MessageDelivery, which the live wing implements (parlor/live/message_events.py)
and services.py wires. Who of a pair is sent anything, and who may learn of a reading, is decided
here, once."""
from __future__ import annotations

from typing import Protocol

from parlor.accounts.usernames import is_ghost
from parlor.chat import eliza
from parlor.chat.pair_file import Message


class MessageDelivery(Protocol):
    """Tells the people of a pair what chat stored: each message once, in the pair's order."""

    async def begin_pair(self, pair: str) -> None:
        """A new pair, before its first commit: it has delivered nothing yet (so a crash between
        that commit and the delivery is noticed)."""

    async def delivered_up_to(self, pair: str) -> int | None:
        """The id of the pair's newest message delivered; None for a pair from before markers."""

    async def message_stored(self, pair: str, me: str, peer: str, message: Message, unread: dict[str, int],
                             readers: list[str]) -> None:
        """A committed message of `me` and `peer` (`unread`: each one's unread count now) to those
        of them in `readers`, and the conversation at the top of both people's lists; delivered
        once however often it is handed over (after a crash, again)."""

    async def read(self, pair: str, reader: str, author: str, up_to: int, last: Message, unread: int,
                   author_learns: bool) -> None:
        """`reader` read up to message `up_to` of their conversation with `author` (`last`: its
        newest message; `unread`: what is left unread): their tabs and unread counts follow;
        `author` sees their messages up to there "Seen" if `author_learns`."""

    async def deleted(self, pair: str, me: str, peer: str, message: Message, newest: bool, unread: dict[str, int],
                      readers: list[str]) -> None:
        """`me` deleted their `message`: swapped in every tab of those in `readers`, with their
        conversation-list rows when it was the `newest`, and their unread counts now."""

    async def reacted(self, pair: str, me: str, peer: str, message: Message, readers: list[str]) -> None:
        """`me` put a reaction on `message` or took one back: its reactions now, swapped in every
        tab of those in `readers`."""

    async def edited(self, pair: str, me: str, peer: str, message: Message, newest: bool, unread: dict[str, int],
                     readers: list[str]) -> None:
        """`me` edited their `message`: swapped in every tab of those in `readers`, with their
        conversation-list rows when it is the `newest` (`unread`: their counts, then)."""

    async def unread_changed(self, user: str, peer: str, unread: int) -> None:
        """`user` now counts `unread` messages of `peer`'s (a block hides them, an unblock shows
        them again): their unread count and every tab of theirs follow."""


def receives_pushes(user: str) -> bool:
    """Whether anyone reads as `user`: not ELIZA, and not a deleted account's ghost."""
    return user != eliza.USERNAME and not is_ghost(user)


def readers(a: str, b: str) -> list[str]:
    """Those of a pair who are sent its messages, reads and deletions."""
    return [user for user in (a, b) if receives_pushes(user)]
