"""Chat's delivery port (parlor/chat/delivery.py MessageDelivery), made of events: a committed
message, a read or a deletion becomes an event for each person of the pair, each side rendered
once by the injected MessageViews (views/chat.py) and appended to their stream, which every open
tab of theirs receives, on any process. A message's events set both people's conversation-list
entries in the same Redis call, and are appended once per message: the pair's published marker
guards them."""
from __future__ import annotations

from typing import Callable, Protocol

import redis.asyncio as aioredis

from parlor.infra.user_keys import KeysNaming
from parlor.live.events import Outgoing
from parlor.live.hub import Hub


def published_key(pair: str) -> str:
    return f"published:{pair}"  # the id of the pair's newest message whose events were appended


class StoredMessage(Protocol):
    """What delivery reads of a chat message (parlor/chat/pair_file.py Message); the rest is the views'."""

    id: int
    author: str
    kind: str
    sent_ms: int


class MessageViews(Protocol):
    """The fragments and data of chat's events, rendered by the web layer (views/chat.py)."""

    def message(self, message: StoredMessage, me: str | None, peer: str, pair: str) -> str:
        """A new message as `me` sees it, at the end of the conversation (me None: as both see a text)."""

    def top_row(self, peer: str, last: StoredMessage, unread: int, online: set[str]) -> str:
        """The viewer's conversation-list row for `peer`, put at the top of the list."""

    def row(self, peer: str, last: StoredMessage, unread: int, online: set[str]) -> str:
        """The viewer's conversation-list row for `peer`, swapped in place."""

    def seen(self, pair: str) -> str:
        """"Seen" under the author's newest message."""

    def deleted(self, message: StoredMessage, me: str, peer: str, pair: str) -> str:
        """A deleted message as `me` sees it, swapped over the old one."""

    def message_data(self, message: StoredMessage, peer: str) -> dict:
        """A message as API clients see it; `peer` is the other person of the viewer's pair."""


class MessageEvents:
    """Chat's MessageDelivery, as events through the hub. `listing_key(user)` is the key of a
    user's conversation list (chat's, handed over by services.py); `on_stored(kind)` is told
    once per message handed over."""

    def __init__(self, redis: aioredis.Redis, hub: Hub, views: MessageViews, listing_key: Callable[[str], str],
                 on_stored: Callable[[str], None] = lambda kind: None):
        self._redis = redis
        self._hub = hub
        self._views = views
        self._listing_key = listing_key
        self._on_stored = on_stored

    async def begin_pair(self, pair: str) -> None:
        await self._redis.set(published_key(pair), 0, nx=True)

    async def delivered_up_to(self, pair: str) -> int | None:
        marker = await self._redis.get(published_key(pair))
        return None if marker is None else int(marker)

    async def message_stored(self, pair: str, me: str, peer: str, message: StoredMessage, unread: int,
                             readers: list[str]) -> None:
        self._on_stored(message.kind)
        views = self._views
        online = await self._hub.online([me, peer], recent=True)
        # A text message is the same for both people but for mine/theirs, which the page sets: it
        # is rendered once. Its Delete form is the author's, whose peer is `peer`. A picture's
        # address names the viewer's peer: one for each.
        both = views.message(message, None, peer, pair) if message.kind == "text" else None
        events = []
        for viewer, other in ((me, peer), (peer, me)):
            if viewer not in readers:
                continue
            viewer_unread = 0 if message.author == viewer else unread
            # The row goes to the top of the list (the page's script drops the old copy of it).
            html = ((both or views.message(message, viewer, other, pair))
                    + views.top_row(other, message, viewer_unread, online))
            events.append(Outgoing(viewer, "message", html, {"peer": other, "unread": viewer_unread,
                                                              "message": views.message_data(message, other)}))
        listed = [(self._listing_key(me), peer, message.sent_ms), (self._listing_key(peer), me, message.sent_ms)]
        await self._hub.publish(events, listed, guard=(published_key(pair), message.id))  # once per message

    async def read(self, pair: str, reader: str, author: str, newest: StoredMessage, author_learns: bool) -> None:
        online = await self._hub.online([reader, author], viewer=reader)
        events = [Outgoing(reader, "read", self._views.row(author, newest, 0, online),
                           {"peer": author, "reader": reader, "up_to": newest.id})]
        if author_learns:
            events.append(Outgoing(author, "read", self._views.seen(pair),
                                   {"peer": reader, "reader": reader, "up_to": newest.id}))
        await self._hub.publish(events)

    async def deleted(self, pair: str, me: str, peer: str, message: StoredMessage, unread: dict[str, int] | None,
                      readers: list[str]) -> None:
        events = []
        for viewer, other in ((me, peer), (peer, me)):
            if viewer not in readers:
                continue
            html = self._views.deleted(message, viewer, other, pair)
            if unread is not None:
                html += self._views.row(other, message, unread[viewer], await self._hub.online([other], viewer=viewer))
            events.append(Outgoing(viewer, "deleted", html, {"peer": other, "message_id": message.id}))
        await self._hub.publish(events)

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its pairs' published markers go (a later account with the name
        starts its pairs afresh)."""
        await keys.delete_matching(published_key(f"{user}_*"), published_key(f"*_{user}"))
