"""The connection registry: the one place that holds this process's live connections (WebSockets,
SSE responses, long polls) and finds them by user, by the topic their page shows and by the
credential (session or API token) they came with. It knows nothing of Redis; the Hub
(parlor/live/hub.py) decides who joins, leaves and gets what."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from parlor.live.events import Event, Push


class Connection(Protocol):
    """What the hub needs of a transport's connection (tests use a fake socket through it)."""

    def send(self, push: Push) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


@dataclass(eq=False)
class Subscription:
    user: str | None
    topics: tuple[str, ...]
    linger: bool  # a long poll: its user stays online a moment after it answers
    credential: str | None = None  # the key (a session's, an API token's) whose end ends it
    address: str | None = None  # where it comes from (address_group), counted per address
    cursor: tuple[int, int] = (0, 0)
    backlog: list[Event] | None = None  # events heard while catching up; None once live
    stale: bool = False  # notices may have been lost during the catch-up: read once more
    catch_up: asyncio.Task | None = field(default=None, repr=False)


class Rooms:
    """Every local connection with its subscription; each user's room, each topic's subscribers,
    each credential's connections, and the connections that want keepalives."""

    def __init__(self):
        self.subscriptions: dict[Connection, Subscription] = {}
        self.users: dict[str, set[Connection]] = {}  # user -> their connections (their room)
        self.topics: dict[str, set[Connection]] = {}
        self.credentials: dict[str, set[Connection]] = {}  # signed-in connections by credential key
        self.keepalive: set[Connection] = set()

    def add(self, connection: Connection, subscription: Subscription) -> None:
        """Hold a connection: in its topics; in its user's room and its credential's, if it has them."""
        self.subscriptions[connection] = subscription
        for topic in subscription.topics:
            self.topics.setdefault(topic, set()).add(connection)
        if hasattr(connection, "keepalive"):
            self.keepalive.add(connection)
        if subscription.user is not None:
            self.users.setdefault(subscription.user, set()).add(connection)
        if subscription.credential is not None:
            self.credentials.setdefault(subscription.credential, set()).add(connection)

    def remove(self, connection: Connection) -> Subscription | None:
        """Let go of a connection everywhere; its subscription, if it had one."""
        subscription = self.subscriptions.pop(connection, None)
        if subscription is None:
            return None
        self.keepalive.discard(connection)
        for topic in subscription.topics:
            _discard(self.topics, topic, connection)
        if subscription.user is not None:
            _discard(self.users, subscription.user, connection)
        if subscription.credential is not None:
            _discard(self.credentials, subscription.credential, connection)
        return subscription

    def of_user(self, user: str) -> set[Connection] | tuple[()]:
        return self.users.get(user, ())

    def of_topic(self, topic: str) -> set[Connection] | tuple[()]:
        return self.topics.get(topic, ())

    def of_credential(self, credential: str) -> set[Connection] | tuple[()]:
        return self.credentials.get(credential, ())


def _discard(groups: dict[str, set[Connection]], name: str, connection: Connection) -> None:
    """Take a connection out of one group; an empty group goes."""
    group = groups.get(name)
    if group is not None:
        group.discard(connection)
        if not group:
            del groups[name]
