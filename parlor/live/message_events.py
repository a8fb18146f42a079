"""Chat's delivery port (parlor/chat/delivery.py MessageDelivery), made of events: a committed
message, a read, a deletion, a reaction or an edit becomes an event for each person of the pair, each side rendered
once by the injected MessageViews (views/chat.py) and appended to their stream, which every open
tab of theirs receives, on any process. A message's events set both people's conversation-list
entries in the same Redis call, and are appended once per message: the pair's published marker
guards them. Each person's unread count of the pair, and their total (TALLY_MARK in their
fragments), go along with the events that change them, in the same Redis call."""
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

    def seen(self, pair: str, up_to: int) -> str:
        """The author's messages up to `up_to` are "Seen"."""

    def replaced(self, message: StoredMessage, me: str, peer: str, pair: str) -> str:
        """A deleted or edited message as `me` sees it, swapped over the old one."""

    def reactions(self, message: StoredMessage, me: str, peer: str, pair: str) -> str:
        """A message's reactions as `me` sees them, swapped in place."""

    def message_data(self, message: StoredMessage, peer: str) -> dict:
        """A message as API clients see it; `peer` is the other person of the viewer's pair."""

    def unread_total(self) -> str:
        """The viewer's unread total (TALLY_MARK where the number goes), swapped in place."""

    def muted(self, peers: dict[str, int]) -> str:
        """Whom the viewer mutes, until when (ms), swapped in place (their pages notify nothing of those)."""


class MessageEvents:
    """Chat's MessageDelivery, as events through the hub. `listing_key(user)` is the key of a
    user's conversation list and `unread_key(user)` of their unread counts (chat's, handed over
    by services.py), `muted_key(user)` of whom they muted, until when (left out of their total);
    `on_stored(kind)` is told once per message handed over."""

    def __init__(self, redis: aioredis.Redis, hub: Hub, views: MessageViews, listing_key: Callable[[str], str],
                 unread_key: Callable[[str], str], muted_key: Callable[[str], str],
                 on_stored: Callable[[str], None] = lambda kind: None):
        self._redis = redis
        self._hub = hub
        self._views = views
        # The chat wing's key builders (services.py hands them in: live/ does not import chat/).
        self._listing_key, self._unread_key, self._muted_key = listing_key, unread_key, muted_key
        self._on_stored = on_stored

    def _counted(self, counts: dict[str, tuple[str, int]]) -> dict:
        """publish()'s counts and tallies for {viewer: (peer, unread)}: each viewer's count of
        that peer set, and their total (but muted peers') shown in their events."""
        return {"counts": [(self._unread_key(viewer), peer, unread) for viewer, (peer, unread) in counts.items()],
                "tallies": {viewer: self._tally(viewer) for viewer in counts}}

    def _tally(self, user: str) -> tuple[str, str]:
        return self._unread_key(user), self._muted_key(user)

    async def begin_pair(self, pair: str) -> None:
        await self._redis.set(published_key(pair), 0, nx=True)

    async def delivered_up_to(self, pair: str) -> int | None:
        marker = await self._redis.get(published_key(pair))
        return None if marker is None else int(marker)

    async def message_stored(self, pair: str, me: str, peer: str, message: StoredMessage, unread: dict[str, int],
                             readers: list[str]) -> None:
        self._on_stored(message.kind)
        views = self._views
        online = await self._hub.online([me, peer], recent=True)
        # A text message is the same for both people but for mine/theirs, which the page sets: it
        # is rendered once. Its Delete form is the author's, whose peer is `peer`. A picture's
        # address names the viewer's peer: one for each.
        both = views.message(message, None, peer, pair) if message.kind == "text" else None
        events, counts = [], {}
        for viewer, other in ((me, peer), (peer, me)):
            if viewer not in readers:
                continue
            # The row goes to the top of the list (the page's script drops the old copy of it).
            html = ((both or views.message(message, viewer, other, pair))
                    + views.top_row(other, message, unread[viewer], online) + views.unread_total())
            events.append(Outgoing(viewer, "message", html, {"peer": other, "unread": unread[viewer],
                                                              "message": views.message_data(message, other)}))
            counts[viewer] = (other, unread[viewer])
        listed = [(self._listing_key(me), peer, message.sent_ms), (self._listing_key(peer), me, message.sent_ms)]
        await self._hub.publish(events, listed, guard=(published_key(pair), message.id),  # once per message
                                **self._counted(counts))

    async def read(self, pair: str, reader: str, author: str, up_to: int, last: StoredMessage, unread: int,
                   author_learns: bool) -> None:
        online = await self._hub.online([reader, author], viewer=reader)
        data = {"peer": author, "reader": reader, "up_to": up_to}
        events = [Outgoing(reader, "read", self._views.row(author, last, unread, online) + self._views.unread_total(),
                           {**data, "unread": unread})]
        if author_learns:
            events.append(Outgoing(author, "read", self._views.seen(pair, up_to), {**data, "peer": reader}))
        await self._hub.publish(events, **self._counted({reader: (author, unread)}))

    async def deleted(self, pair: str, me: str, peer: str, message: StoredMessage, newest: bool,
                      unread: dict[str, int], readers: list[str]) -> None:
        await self._replaced("deleted", pair, me, peer, message, newest, unread, readers)

    async def edited(self, pair: str, me: str, peer: str, message: StoredMessage, newest: bool,
                     unread: dict[str, int], readers: list[str]) -> None:
        await self._replaced("edited", pair, me, peer, message, newest, unread, readers)

    async def _replaced(self, kind: str, pair: str, me: str, peer: str, message: StoredMessage, newest: bool,
                        unread: dict[str, int], readers: list[str]) -> None:
        """A message swapped in both people's tabs (with their list rows and counts when it is the
        newest: the rows' preview follows it)."""
        events, counts = [], {}
        for viewer, other in ((me, peer), (peer, me)):
            if viewer not in readers:
                continue
            html = self._views.replaced(message, viewer, other, pair)
            data = {"peer": other, "message_id": message.id}
            if kind == "edited":
                data["message"] = self._views.message_data(message, other)
            if newest:
                html += self._views.row(other, message, unread[viewer], await self._hub.online([other], viewer=viewer))
                counts[viewer] = (other, unread[viewer])
                data["unread"] = unread[viewer]
            elif kind == "deleted":
                data["unread"] = unread[viewer]
                counts[viewer] = (other, unread[viewer])
            events.append(Outgoing(viewer, kind, html + (self._views.unread_total() if viewer in counts else ""), data))
        await self._hub.publish(events, **self._counted(counts))

    async def reacted(self, pair: str, me: str, peer: str, message: StoredMessage, readers: list[str]) -> None:
        events = [Outgoing(viewer, "reacted", self._views.reactions(message, viewer, other, pair),
                           {"peer": other, "message_id": message.id,
                            "reactions": self._views.message_data(message, other).get("reactions", [])})
                  for viewer, other in ((me, peer), (peer, me)) if viewer in readers]
        await self._hub.publish(events)

    async def unread_changed(self, user: str, peer: str, unread: int) -> None:
        await self._hub.publish([Outgoing(user, "unread", self._views.unread_total(), {"peer": peer, "unread": unread})],
                                **self._counted({user: (peer, unread)}))

    async def mutes_changed(self, user: str, muted: dict[str, int]) -> None:
        """`user` muted or unmuted someone: every tab of theirs learns whom they mute now (and
        until when, in ms), and their unread total without those."""
        await self._hub.publish([Outgoing(user, "muted", self._views.muted(muted) + self._views.unread_total(),
                                          {"muted": muted})], tallies={user: self._tally(user)})

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its pairs' published markers go (a later account with the name
        starts its pairs afresh)."""
        await keys.delete_matching(published_key(f"{user}_*"), published_key(f"*_{user}"))
