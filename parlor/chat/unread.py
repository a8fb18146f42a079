"""Unread messages: each person's count per conversation, kept in Redis beside the conversation
list (set with the events that change them, so no page has to open every pair file to show a
total), and what a conversation page needs of the read markers."""
from __future__ import annotations

from dataclasses import dataclass

from parlor.chat.pair_file import Message


def unread_key(user: str) -> str:
    return f"unread:{user}"  # hash: peer -> messages of theirs `user` has not read (none: no field)


@dataclass(frozen=True)
class Opened:
    """A conversation as its page shows it: the latest messages, where the viewer had read up to
    before this page (the "New messages" line goes after it), and where the peer has read up to
    (the viewer's messages up to there are "Seen"; 0 when the viewer may not learn it)."""

    messages: list[Message]
    read_before: int
    peer_read: int
