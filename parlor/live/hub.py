"""Live delivery: joins and leaves, each event fanned out to its user's connections, state
pushed to the pages that show it. A connection joins with the last event id its client saw and
is sent every later event of its user, in order, exactly once: first what the event log
(parlor/live/events.py) holds, then what arrives live, from this process's appends or another's notice
(parlor/live/listener.py). Public pushes (online count, boards, presence, typing) carry no id: they are
state, which a reconnecting page renders anyway. A push is rendered once for every connection;
framing it is the transports' business (handlers/wire.py); parlor/live/rooms.py holds the connections.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Awaitable, Callable, Protocol

import redis
import redis.asyncio as aioredis

from parlor.accounts.sessions import SIGN_OUT_CHANNEL, sign_out_notice
from parlor.infra.batching import Batcher
from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.live.addresses import AddressCounts
from parlor.live.events import EVENTS_CHANNEL_PREFIX, Event, EventLog, Outgoing, Publication, Push, Reload, parse_cursor
from parlor.live.online import OnlineAnswers
from parlor.live.presence import Presence
from parlor.live.rooms import Connection, Rooms, Subscription
from parlor.live.typing import TypingNotices

log = logging.getLogger("parlor.hub")

HEARTBEAT_EVERY_S = 5  # how often a process renews the presence of its connected users
KEEPALIVE_EVERY_S = 25  # SSE comment lines keep quiet streams open through proxies
CATCH_UP_PAGE = 200  # events read from a stream at a time when a connection catches up
CATCH_UP_READS = 32  # stream reads at once when many connections catch up (after a Redis blip)
PEER_NOTICE_LIMIT = 500  # a presence change is shown to this many of the user's latest peers
# A session that expires (or whose sign-out notice was missed) ends its live connections within
# this long: each process asks Redis whether its connections' sessions still exist.
SESSION_CHECK_EVERY_S = 5
SESSION_CHECK_BATCH = 1000  # keys asked about in one round trip: one script that holds Redis about a millisecond


class Views(Protocol):
    """The state fragments the hub pushes, rendered by the web layer (views/live.py)."""
    def online_count(self, count: int) -> str: ...
    def presence(self, user: str, online: bool) -> str: ...
    def typing(self, who: str, to: str) -> str: ...


class Hub:
    """Joins and leaves this process's connections; delivers events and pushes state to them."""

    def __init__(self, redis: aioredis.Redis, events: EventLog, presence: Presence, views: Views,
                 peers_of: Callable[[str, int], Awaitable[list[str]]],
                 on_delivered: Callable[[int], None] = lambda appended_ms: None, addresses: AddressCounts | None = None):
        """`peers_of(user, limit)`: whom a user's presence changes are shown to (conversation_peers).
        `on_delivered(ms)`: told once per live event fanned out here (not per connection), with the
        time of its id. `addresses`: the connections per address (None: counted, never refused)."""
        self._redis = redis
        self.events = events
        self.presence = presence
        self.addresses = addresses or AddressCounts(redis, presence.process, 0, 0)
        self._views = views
        self._peers_of = peers_of
        self._rooms = Rooms()
        self._last_session_check = time.monotonic()
        self.session_check_every_s = SESSION_CHECK_EVERY_S
        self._last_heartbeat = 0.0
        self._last_keepalive = time.monotonic()
        self.online_count = 0  # as last counted; pages render it without asking Redis
        self.closing = False
        self._reads = asyncio.Semaphore(CATCH_UP_READS)
        self._online = OnlineAnswers(presence)
        self._on_delivered = on_delivered
        self.typing_notices = TypingNotices(redis)
        self._scripts = register_scripts(redis, __package__, "missing_keys")
        # Appends go one call at a time (whatever waits goes together), so this process fans
        # out its own events in the order their ids were given.
        self._appends: Batcher[Publication, list[str]] = Batcher(self._append_and_fan_out)

    @property
    def events_channel(self) -> str:
        """Where other processes send events for users whose connections this process holds."""
        return EVENTS_CHANNEL_PREFIX + self.presence.process

    async def join(self, connection: Connection, user: str | None = None, topics: tuple[str, ...] = (),
                   after: str | None = None, linger: bool = False, credential: str | None = None,
                   address: str | None = None) -> bool:
        """Add a connection: public pushes and its topics to anyone; a signed-in user's events,
        from the one after `after` (or from now), to that user, until `credential` (the Redis key
        of the session or API token it came with) ends. False when the user has the most connections
        allowed; Refused (too_many) when its address (address_group) has; nothing added either way."""
        if self.closing:
            connection.close(1012, "server restarting")
            return True
        if address is not None:
            await self.addresses.join(address, anonymous=user is None)
        if user is not None and not await self.presence.join(user):
            await self.addresses.leave(address, anonymous=False)
            return False
        subscription = Subscription(user, topics, linger, credential if user is not None else None, address=address)
        self._rooms.add(connection, subscription)
        if self.closing:  # shutdown began while we waited
            await self.leave(connection)
            connection.close(1012, "server restarting")
            return True
        if user is None:
            return True
        subscription.backlog = []  # from here on, live events wait until the backlog is sent
        try:
            if after is None:
                after = await self.events.cursor(user)
            await self._catch_up(connection, subscription, after)
        except BaseException:
            await self.leave(connection)
            raise
        return True

    async def _catch_up(self, connection: Connection, subscription: Subscription, after: str) -> None:
        """Send what the stream holds after `after`, then what arrived meanwhile; then go live."""
        cursor = after
        while True:
            subscription.stale = False
            async with self._reads:
                backlog = await self.events.read(subscription.user, cursor, CATCH_UP_PAGE)
            if self._rooms.subscriptions.get(connection) is not subscription:
                return  # left while we read
            if backlog.reload:
                connection.send(Reload(backlog.last))
                cursor = backlog.last
                if not subscription.stale:
                    break
                continue
            for event in backlog.events:
                connection.send(event)
                cursor = event.id
            if len(backlog.events) < CATCH_UP_PAGE and not subscription.stale:
                break
        subscription.cursor = parse_cursor(cursor)
        waiting, subscription.backlog = subscription.backlog, None
        for event in waiting:
            self._deliver(connection, subscription, event)

    def _deliver(self, connection: Connection, subscription: Subscription, event: Event) -> None:
        """Send an event once and in order: one the connection had is dropped; one whose
        predecessor it has not had (another process's event overtaken by this one) makes it
        read the stream from its cursor, which brings both."""
        if subscription.backlog is not None:
            subscription.backlog.append(event)
        elif event.key > subscription.cursor:
            if event.prev_key is not None and event.prev_key > subscription.cursor:
                self._start_catch_up(connection, subscription)
                subscription.backlog.append(event)
                return
            subscription.cursor = event.key
            connection.send(event)

    async def leave(self, connection: Connection) -> None:
        """Remove a connection everywhere; a user's last connection anywhere takes them offline."""
        subscription = self._forget(connection)
        if subscription is None:
            return
        try:  # its counts go: its address's, and its user's presence
            if subscription.address is not None:
                await self.addresses.leave(subscription.address, anonymous=subscription.user is None)
            if subscription.user is not None:
                await self.presence.leave(subscription.user, linger=subscription.linger)
        except (redis.RedisError, OSError) as e:
            self._last_heartbeat = 0.0  # the next tick puts the counts right
            log.warning("live counts of %s not updated: %s", subscription.user or subscription.address, e)

    def _forget(self, connection: Connection) -> Subscription | None:
        """Take a connection off this process's rooms and topics; its subscription, if it had one."""
        subscription = self._rooms.remove(connection)
        if subscription is not None and subscription.catch_up is not None:
            subscription.catch_up.cancel()
        return subscription

    def close_all(self, code: int, reason: str) -> None:
        """Close every local connection (1012 on shutdown: clients reconnect elsewhere); none joins after."""
        self.closing = True
        for connection in list(self._rooms.subscriptions):
            connection.close(code, reason)

    async def leave_all(self) -> None:
        """Drop every local connection's counts at shutdown: their clients, back elsewhere, count once."""
        gone = [s for s in map(self._forget, list(self._rooms.subscriptions)) if s is not None and s.user is not None]
        await self.presence.leave_many([(s.user, s.linger) for s in gone])  # a few round trips, not one a user
        await self.addresses.leave_all()

    def connection_count(self) -> int:
        return len(self._rooms.subscriptions)

    def transports(self):
        """Each local connection's transport ("ws", "sse", "poll"), for the metrics."""
        return (getattr(connection, "transport", "other") for connection in self._rooms.subscriptions)

    def users_connected(self) -> int:
        """Users with at least one connection on this process."""
        return len(self._rooms.users)

    def has_user(self, user: str) -> bool:
        """Whether this process holds a connection of that user."""
        return user in self._rooms.users

    def has_topic(self, topic: str) -> bool:
        return topic in self._rooms.topics

    async def online(self, users: list[str], viewer: str | None = None, recent: bool = False) -> set[str]:
        """Which of these users are online, as `viewer` may see it: see OnlineAnswers.online."""
        return await self._online.online(users, viewer, recent)

    def send_public(self, push: Push | str) -> int:
        """Push to every local connection; returns how many it went to."""
        return _send(self._rooms.subscriptions, push)

    def send_topic(self, topic: str, push: Push | str) -> int:
        """Push to every local connection whose page shows this topic."""
        return _send(self._rooms.of_topic(topic), push)

    def send_to_user(self, user: str, push: Push | str) -> int:
        """Push state (no id, not stored) to every local connection of one user."""
        return _send(self._rooms.of_user(user), push)

    async def publish(self, events: list[Outgoing], listed: list[tuple[str, str, int]] = (),
                      guard: tuple[str, int] | None = None, counts: list[tuple[str, str, int]] = (),
                      tallies: dict[str, tuple[str, str]] | None = None) -> list[str]:
        """Store per-user events, set the `listed` sorted-set entries (key, member, score) and the
        `counts` (hash, field, number) in the same call, and return the events' ids ([] if the
        guard skipped them); this process's connections get them at once, other processes' by a
        notice. A guard (key, number) makes it once only; see Publication for `tallies`."""
        return await self._appends.submit(Publication(events, list(listed), guard, list(counts), tallies or {}))

    async def _append_and_fan_out(self, publications: list[Publication]) -> list[list[str]]:
        appended = await self.events.append_publications(publications, self.presence.process)
        for publication, events in zip(publications, appended):
            for (user, _, _, _), event in zip(publication.events, events):
                self._fan_out(user, event)
        return [[event.id for event in events] for events in appended]

    def _fan_out(self, user: str, event: Event) -> None:
        room = self._rooms.of_user(user)
        if not room:
            return
        subscriptions = self._rooms.subscriptions
        for connection in list(room):
            subscription = subscriptions.get(connection)
            if subscription is not None:
                self._deliver(connection, subscription, event)
        self._on_delivered(event.key[0])

    async def typing(self, who: str, to: str) -> None:
        """Tell `to`'s open pages that `who` is typing (TypingNotices.notify)."""
        await self.typing_notices.notify(who, to)

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: so are its typing notices' throttles."""
        await self.typing_notices.forget_user(user, keys)

    async def sign_out(self, user: str) -> None:
        """Close every live connection of `user` on every process, whatever it came with (the
        account is gone). Sessions and tokens that end publish their own sign-out."""
        await self._redis.publish(SIGN_OUT_CHANNEL, sign_out_notice(user, None))

    # -- notices from every process (the Listener calls these) -------------------------------

    async def on_events(self, notice: str) -> None:
        """Events another process appended for users this process holds: [[id, prev, user,
        kind, html, data], ...]."""
        for event_id, prev, user, kind, html, data in json.loads(notice):
            self._fan_out(user, Event(event_id, kind, html, data, prev))

    async def on_presence(self, notice: str) -> None:
        user, state = notice.split("\n", 1)
        self._online.forget(user)
        if not self._rooms.users:
            return
        peers = [p for p in await self._peers_of(user, PEER_NOTICE_LIMIT) if p in self._rooms.users]
        if peers:
            push = Push(self._views.presence(user, state == "1"))
            for peer in peers:
                self.send_to_user(peer, push)

    async def on_typing(self, notice: str) -> None:
        who, to = notice.split("\n", 1)
        if to in self._rooms.users:
            self.send_to_user(to, Push(self._views.typing(who, to)))

    async def on_sign_out(self, notice: str) -> None:
        user, keys = notice.split("\n", 1)
        if keys == "*":
            self._close_signed_out(self._rooms.of_user(user))
        else:
            for key in keys.split(","):
                self._close_signed_out(self._rooms.of_credential(key))

    def _close_signed_out(self, connections) -> None:
        # Only connections that carry a user's private events are held by a credential; a guest's
        # carry what anyone may see, so nothing is closed when a guest session ends.
        # A closed connection takes no more events; its transport then leaves the hub.
        for connection in list(connections):
            connection.close(1008, "signed out")  # 1008: the page does not reconnect

    def resync(self, users: set[str] | None = None) -> None:
        """Notices may have been missed (the subscription was down; with `users`, this process's
        claim on them had lapsed, so nobody sent it theirs): every connection of those users
        (None: of everyone) catches up from its cursor again."""
        if users is None:
            self._online.forget()  # presence notices were missed too
            self._last_session_check = 0.0  # and sign-out notices: the next tick asks Redis
        for connection, subscription in list(self._rooms.subscriptions.items()):
            if subscription.user is None or (users is not None and subscription.user not in users):
                continue
            if subscription.backlog is not None:
                subscription.stale = True  # catching up already: it reads once more before going live
                continue
            self._start_catch_up(connection, subscription)

    def _start_catch_up(self, connection: Connection, subscription: Subscription) -> None:
        """Read the stream from the connection's cursor; live events wait until that is sent."""
        subscription.backlog = []
        cursor = "%d-%d" % subscription.cursor
        subscription.catch_up = asyncio.get_running_loop().create_task(
            self._resync_one(connection, subscription, cursor))

    async def _resync_one(self, connection: Connection, subscription: Subscription, cursor: str) -> None:
        try:
            await self._catch_up(connection, subscription, cursor)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("a connection could not catch up (%s); closing it so it resumes", e)
            connection.close(1011, "catching up failed; reconnect")
        finally:
            subscription.catch_up = None

    async def check_sessions(self) -> int:
        """Close the local connections whose session or API token no longer exists (it expired,
        or its sign-out notice was missed), and publish their sign-out for every process and
        cache; one round trip per SESSION_CHECK_BATCH. Returns how many credentials had ended."""
        keys = list(self._rooms.credentials)
        if not keys:
            return 0
        gone = []
        for start in range(0, len(keys), SESSION_CHECK_BATCH):
            missing = await self._scripts.missing_keys(keys=keys[start:start + SESSION_CHECK_BATCH])
            gone += [keys[start + i - 1] for i in missing]
        by_user: dict[str, list[str]] = {}
        for key in gone:
            connections = self._rooms.of_credential(key)
            subscriptions = self._rooms.subscriptions
            user = next((subscriptions[c].user for c in connections if c in subscriptions), None)
            if user is not None:
                by_user.setdefault(user, []).append(key)
            self._close_signed_out(connections)
        if by_user:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user, ended in by_user.items():
                    pipe.publish(SIGN_OUT_CHANNEL, sign_out_notice(user, ended))
                await pipe.execute()
        return len(gone)

    async def tick(self) -> None:
        """Once a second: renew presence, count users online, push the count if it changed;
        keep quiet SSE streams open; every few seconds, end connections whose session ended."""
        now = time.monotonic()
        if now - self._last_keepalive >= KEEPALIVE_EVERY_S:
            self._last_keepalive = now
            for connection in list(self._rooms.keepalive):
                connection.keepalive()
        if now - self._last_session_check >= self.session_check_every_s:
            self._last_session_check = now
            try:
                await self.check_sessions()
            except (redis.RedisError, OSError) as e:
                log.warning("session check skipped: %s", e)
        try:
            if self._rooms.subscriptions and time.time() - self._last_heartbeat >= HEARTBEAT_EVERY_S:
                lapsed = await self.presence.renew(list(self._rooms.users))
                await self.addresses.renew()
                self._last_heartbeat = time.time()
                if lapsed:  # other processes sent nothing for them while the claim was gone
                    self.resync(lapsed)
            count = await self.presence.sweep()
        except (redis.RedisError, OSError) as e:
            log.warning("presence tick skipped: %s", e)
            return
        if count != self.online_count:
            self.online_count = count
            if self._rooms.subscriptions:
                self.send_public(self._views.online_count(count))  # rendered once, sent to all


def _send(connections, push: Push | str) -> int:
    """Push to each of these connections (a copy of the set: a send may close one); how many."""
    push = Push(push) if isinstance(push, str) else push
    for connection in list(connections):
        connection.send(push)
    return len(connections)
