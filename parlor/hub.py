"""Live delivery: per-user event streams, and the one place that knows connections.

Every per-user event (a message, a read marker, a board entry) is appended to the user's Redis
stream `events:<user>` and gets the stream's id; the append also publishes a notice that every
process receives on its one pub/sub subscription. A connection (a WebSocket, an SSE response, a
long poll) joins with the last id its client saw; it is sent every later event, in order, exactly
once: first what the stream holds, then what arrives live. Nothing is taken off the stream by a
delivery, so every tab of a user gets every event. A cursor older than the stream keeps gets an
explicit reload, never a silent gap.

Public pushes (the online count, leaderboards, presence, typing) carry no id: they are state, and
a page that reconnects renders the current state anyway.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, NamedTuple, Protocol

import redis
import redis.asyncio as aioredis

from .batching import Batcher
from .presence import Presence, presence_key
from .safety import blocks_key
from .sessions import SIGN_OUT_CHANNEL, sign_out_notice

log = logging.getLogger("parlor.hub")

EVENTS_CHANNEL_PREFIX = "parlor:events:"  # + a process id: events for users it holds, a JSON list
TYPING_CHANNEL = "parlor:typing"  # "<who>\n<to whom>"; never stored
TYPING_EVERY_MS = 2500  # a typist's notices are forwarded at most this often (the page sends every 3 s)
HEARTBEAT_EVERY_S = 5  # how often a process renews the presence of its connected users
KEEPALIVE_EVERY_S = 25  # SSE comment lines keep quiet streams open through proxies
CATCH_UP_PAGE = 200  # events read from a stream at a time when a connection catches up
CATCH_UP_READS = 32  # stream reads at once when many connections catch up (after a Redis blip)
PEER_NOTICE_LIMIT = 500  # a presence change is shown to this many of the user's latest peers
STREAM_ID_RE = re.compile(r"(\d{1,15})-(\d{1,19})", re.ASCII)
LISTEN_POLL_S = 1.0  # how long one wait for a pub/sub message lasts before waiting again
PUBSUB_QUIET_S = 10.0  # after this long without a message, ping the subscription ...
PUBSUB_PING_TIMEOUT_S = 5.0  # ... and give up on it (and on caches it feeds) without an answer
RESUBSCRIBE_DELAY_S = 0.5  # pause before subscribing again after losing Redis
# How old an "is online" answer for a pushed message's row may be. Presence notices clear it at
# once; this bounds only a change no notice told (a process that died, a subscription that was down).
ONLINE_CACHE_S = 10.0
ONLINE_CACHE_MAX = 10_000  # users remembered at most (then forgotten all at once)
# A session that expires (or whose sign-out notice was missed) ends its live connections within
# this long: each process asks Redis whether its connections' sessions still exist.
SESSION_CHECK_EVERY_S = 5
SESSION_CHECK_BATCH = 1000  # keys asked about in one round trip (one script, about a millisecond of Redis)


def stream_key(user: str) -> str:
    return f"events:{user}"


def stream_meta_key(user: str) -> str:
    return f"events:{user}:meta"  # hash: last (newest id ever given), trimmed (newest id dropped)


def parse_cursor(raw: str) -> tuple[int, int] | None:
    """A stream id "<ms>-<seq>" (or "0") as a comparable pair; None if it is not one."""
    if raw == "0":
        return (0, 0)
    match = STREAM_ID_RE.fullmatch(raw)
    return (int(match.group(1)), int(match.group(2))) if match else None


def websocket_text_frame(text: str) -> bytes:
    """One unfragmented, unmasked, uncompressed text frame from a server (RFC 6455 5.2): the same
    bytes for every socket that gets this text."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class Push:
    """A fragment rendered once. Each transport frames it once, then the same text (for a
    WebSocket, the same bytes on the wire) goes to every connection that gets it."""

    __slots__ = ("html", "_ws", "_wire", "_sse")
    id: str | None = None

    def __init__(self, html: str):
        self.html = html
        self._ws = self._wire = self._sse = None

    @property
    def ws_frame(self) -> str:
        if self._ws is None:
            self._ws = self._ws_frame()
        return self._ws

    @property
    def ws_wire(self) -> bytes:
        """ws_frame as a whole WebSocket frame, header and all."""
        if self._wire is None:
            self._wire = websocket_text_frame(self.ws_frame)
        return self._wire

    @property
    def sse_frame(self) -> str:
        if self._sse is None:
            self._sse = self._sse_frame()
        return self._sse

    def _ws_frame(self) -> str:
        return json.dumps({"content": self.html})  # hx-ws swaps "content"

    def _sse_frame(self) -> str:
        return _sse_data(self.html)


def _sse_data(text: str) -> str:
    return "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text)) + "\n"


class Event(Push):
    """A per-user event: its stream id, its kind, the page fragment and the data (JSON) for API
    clients. `prev` is the id of the event before it in the user's stream, when known: a
    connection whose cursor is older has missed one and must read the stream."""

    __slots__ = ("id", "key", "kind", "data", "prev_key")

    def __init__(self, event_id: str, kind: str, html: str, data: str, prev: str | None = None):
        super().__init__(html)
        self.id, self.kind, self.data = event_id, kind, data
        self.key = parse_cursor(event_id)
        self.prev_key = parse_cursor(prev) if prev is not None else None

    def _ws_frame(self) -> str:
        return json.dumps({"id": self.id, "kind": self.kind, "content": self.html})

    def _sse_frame(self) -> str:
        return f"id: {self.id}\n" + _sse_data(self.html)

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "html": self.html, "data": json.loads(self.data)}


class Reload(Push):
    """The client's cursor is older than what the stream keeps: the page must fetch its state
    again. `cursor` is where a client continues from after that."""

    __slots__ = ("cursor",)

    def __init__(self, cursor: str):
        super().__init__("")
        self.cursor = cursor

    def _ws_frame(self) -> str:
        return json.dumps({"reload": True, "cursor": self.cursor})

    def _sse_frame(self) -> str:
        return f"id: {self.cursor}\nevent: parlor-reload\ndata: reload\n\n"


@dataclass
class Backlog:
    events: list[Event]
    reload: bool  # the cursor is older than the stream's oldest event, or unknown to it
    last: str  # the newest id the stream ever gave ("0-0" if none)


META_TTL_S = 31 * 24 * 3600  # as long as a session: a page that old may still hold a cursor
APPEND_EVENTS_LUA = (Path(__file__).parent / "lua" / "append_events.lua").read_text()


class Publication(NamedTuple):
    """What one write publishes: events (user, kind, html, data), sorted-set entries (key,
    member, score) set along with them, and a guard (key, number) that makes it once only: it
    is appended only if the key holds a smaller number (or none), which then becomes it."""

    events: list[tuple[str, str, str, object]]
    entries: list[tuple[str, str, int]] = []
    guard: tuple[str, int] | None = None

# Which of KEYS no longer exist: their positions (from 1).
_MISSING = """
local gone = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then gone[#gone + 1] = i end
end
return gone
"""

# "who is typing" to `to`, at most every ARGV[3] ms, and never between two people when either
# blocked the other. KEYS: typing:<who>:<to>, blocks:<who>, blocks:<to>. ARGV: who, to, ms, channel.
_TYPING = """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 or redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  return 0
end
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[3], 'NX') then return 0 end
redis.call('PUBLISH', ARGV[4], ARGV[1] .. '\\n' .. ARGV[2])
return 1
"""


class EventLog:
    """The per-user streams: append (and notify every process), read after a cursor."""

    def __init__(self, redis: aioredis.Redis, max_events: int = 1000, max_age_s: int = 86400):
        self._redis = redis
        self.max_events = max_events
        self.max_age_ms = max_age_s * 1000
        self._append = redis.register_script(APPEND_EVENTS_LUA)

    async def append(self, user: str, kind: str, html: str, data: object) -> str:
        """Store one event for `user`; returns its id. Every process holding `user` hears of it."""
        [[event]] = await self.append_publications([Publication([(user, kind, html, data)])])
        return event.id

    async def append_publications(self, publications: list[Publication], process: str = "") -> list[list[Event]]:
        """Each publication's events (user, kind, html, data) and sorted-set entries, atomically,
        all in one round trip; returns each publication's events with their ids ([] for one its
        guard skipped). Every process holding a user's connections but `process` is told."""
        keys, args = [], [self.max_events, self.max_age_ms, META_TTL_S, EVENTS_CHANNEL_PREFIX, process,
                          int(time.time() * 1000), len(publications)]
        encoded = []
        for publication in publications:
            if publication.guard:
                keys.append(publication.guard[0])
            args += [publication.guard[1] if publication.guard else "", len(publication.events),
                     len(publication.entries)]
            data = [json.dumps(d) for _, _, _, d in publication.events]
            encoded.append(data)
            for (user, kind, html, _), json_data in zip(publication.events, data):
                keys += [stream_key(user), stream_meta_key(user), presence_key(user)]
                args += [user, kind, html, json_data]
            for key, member, score in publication.entries:
                keys.append(key)
                args += [score, member]
        answers = await self._append(keys=keys, args=args)
        appended = []
        for publication, data, ids in zip(publications, encoded, answers, strict=True):
            appended.append([Event(ids[2 * n], kind, html, json_data, ids[2 * n + 1])
                             for n, ((_, kind, html, _), json_data) in enumerate(zip(publication.events, data))]
                            if ids else [])
        return appended

    async def cursor(self, user: str) -> str:
        """The id of `user`'s newest event: a page rendered now continues from here."""
        return await self._redis.hget(stream_meta_key(user), "last") or "0-0"

    async def read(self, user: str, after: str, count: int) -> Backlog:
        """Up to `count` events after `after`, oldest first; reload if events after it are gone."""
        async with self._redis.pipeline(transaction=True) as pipe:  # one consistent snapshot
            pipe.xrange(stream_key(user), f"({after}" if after != "0" else "-", "+", count)
            pipe.hmget(stream_meta_key(user), "last", "trimmed")
            pipe.exists(stream_key(user))
            pipe.xrange(stream_key(user), after, after)  # the cursor's own event, if still kept
            entries, (last, trimmed), exists, itself = await pipe.execute()
        position = parse_cursor(after)
        if last is None:
            reload = position != (0, 0)  # a cursor this Redis never gave (its data was lost)
        else:
            floor = trimmed if exists else last  # everything up to floor is gone
            floor_key = parse_cursor(floor) if floor is not None else (0, 0)
            reload = (position > parse_cursor(last) or position < floor_key
                      # Above the floor, the cursor's own event must still be there: if it is not,
                      # Redis lost data (a restart from an older snapshot) and events may be gone.
                      or (position > floor_key and position != (0, 0) and not itself))
        if reload:
            return Backlog([], True, last or "0-0")
        return Backlog([Event(event_id, f["k"], f["h"], f["d"]) for event_id, f in entries], False, last or "0-0")


class Connection(Protocol):
    def send(self, push: Push) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


@dataclass(eq=False)
class Subscription:
    user: str | None
    topics: tuple[str, ...]
    linger: bool  # a long poll: its user stays online a moment after it answers
    credential: str | None = None  # the key (a session's, an API token's) whose end ends it
    cursor: tuple[int, int] = (0, 0)
    backlog: list[Event] | None = None  # events heard while catching up; None once live
    stale: bool = False  # notices may have been lost during the catch-up: read once more
    catch_up: asyncio.Task | None = field(default=None, repr=False)


class Views(Protocol):
    def online_count(self, count: int) -> str: ...

    def presence(self, user: str, online: bool) -> str: ...

    def typing(self, who: str, to: str) -> str: ...


class Hub:
    """Local connections, their rooms and topics; delivers events and pushes state to them."""

    def __init__(self, redis: aioredis.Redis, events: EventLog, presence: Presence, views: Views,
                 peers_of: Callable[[str, int], Awaitable[list[str]]]):
        self._redis = redis
        self.events = events
        self.presence = presence
        self._views = views
        self._peers_of = peers_of
        self._subs: dict[Connection, Subscription] = {}
        self._rooms: dict[str, set[Connection]] = {}
        self._topics: dict[str, set[Connection]] = {}
        self._credentials: dict[str, set[Connection]] = {}  # signed-in connections by credential key
        self._last_session_check = time.monotonic()
        self.session_check_every_s = SESSION_CHECK_EVERY_S
        self._keepalive: set = set()
        self._last_heartbeat = 0.0
        self._last_keepalive = time.monotonic()
        self.online_count = 0  # as last counted; pages render it without asking Redis
        self.closing = False
        self._reads = asyncio.Semaphore(CATCH_UP_READS)
        self._online_cache: dict[str, tuple[bool, float]] = {}  # user -> (online, good until)
        # Told once per live event fanned out here (not per connection) with the ms of its id.
        self.on_delivered: Callable[[int], None] | None = None
        self._typing = redis.register_script(_TYPING)
        self._missing = redis.register_script(_MISSING)
        # Appends go one call at a time (whatever waits goes together), so this process fans
        # out its own events in the order their ids were given.
        self._appends: Batcher[Publication, list[str]] = Batcher(self._append_and_fan_out)

    @property
    def events_channel(self) -> str:
        """Where other processes send events for users whose connections this process holds."""
        return EVENTS_CHANNEL_PREFIX + self.presence.process

    # -- connections -----------------------------------------------------------------------

    async def join(self, connection: Connection, user: str | None = None, topics: tuple[str, ...] = (),
                   after: str | None = None, linger: bool = False, credential: str | None = None) -> bool:
        """Add a connection: public pushes and its topics to anyone; a signed-in user's events,
        from the one after `after` (or from now), to that user, until `credential` (the Redis key
        of the session or API token it came with) ends. False when the user already has the most
        connections allowed (nothing was added)."""
        if self.closing:
            connection.close(1012, "server restarting")
            return True
        if user is not None and not await self.presence.join(user):
            return False
        if self.closing:  # shutdown began while we waited
            await self.presence.leave(user)
            connection.close(1012, "server restarting")
            return True
        subscription = Subscription(user, topics, linger, credential if user is not None else None)
        self._subs[connection] = subscription
        for topic in topics:
            self._topics.setdefault(topic, set()).add(connection)
        if hasattr(connection, "keepalive"):
            self._keepalive.add(connection)
        if user is None:
            return True
        self._rooms.setdefault(user, set()).add(connection)
        if credential is not None:
            self._credentials.setdefault(credential, set()).add(connection)
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
            if self._subs.get(connection) is not subscription:
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
        if subscription is None or subscription.user is None:
            return
        try:
            await self.presence.leave(subscription.user, linger=subscription.linger)
        except (redis.RedisError, OSError) as e:
            self._last_heartbeat = 0.0  # the next tick puts the counts right
            log.warning("presence of %s not updated: %s", subscription.user, e)

    def _forget(self, connection: Connection) -> Subscription | None:
        """Take a connection off this process's rooms and topics; its subscription, if it had one."""
        subscription = self._subs.pop(connection, None)
        if subscription is None:
            return None
        self._keepalive.discard(connection)
        if subscription.catch_up is not None:
            subscription.catch_up.cancel()
        for topic in subscription.topics:
            subscribers = self._topics.get(topic)
            if subscribers is not None:
                subscribers.discard(connection)
                if not subscribers:
                    del self._topics[topic]
        room = self._rooms.get(subscription.user) if subscription.user is not None else None
        if room is not None:
            room.discard(connection)
            if not room:
                del self._rooms[subscription.user]
        held = self._credentials.get(subscription.credential) if subscription.credential is not None else None
        if held is not None:
            held.discard(connection)
            if not held:
                del self._credentials[subscription.credential]
        return subscription

    def close_all(self, code: int, reason: str) -> None:
        """Close every local connection (on shutdown: 1012, so clients reconnect elsewhere);
        none joins after this."""
        self.closing = True
        for connection in list(self._subs):
            connection.close(code, reason)

    async def leave_all(self) -> None:
        """Drop every local connection's presence now (on shutdown), so their clients, coming
        back on another process, are not counted twice against the connection limit."""
        gone = [s for s in map(self._forget, list(self._subs)) if s is not None and s.user is not None]
        await self.presence.leave_many([(s.user, s.linger) for s in gone])  # batched: 15,000 take a second

    def connection_count(self) -> int:
        return len(self._subs)

    def transports(self):
        """Each local connection's transport ("ws", "sse", "poll"), for the metrics."""
        return (getattr(connection, "transport", "other") for connection in self._subs)

    def users_connected(self) -> int:
        """Users with at least one connection on this process."""
        return len(self._rooms)

    def has_user(self, user: str) -> bool:
        """Whether this process holds a connection of that user."""
        return user in self._rooms

    def has_topic(self, topic: str) -> bool:
        return topic in self._topics

    async def online(self, users: list[str], viewer: str | None = None, recent: bool = False) -> set[str]:
        """Which of these users are online, as `viewer` may see it (not those who blocked them).
        `recent` (with no viewer) accepts an answer up to ONLINE_CACHE_S old, which a presence
        notice clears sooner: enough for the dot beside a pushed message, whose two people
        cannot have blocked each other (a blocked pair's sends are refused)."""
        if not recent or viewer is not None:
            return await self.presence.online(users, viewer)
        now = time.monotonic()
        cache = self._online_cache
        if all(user in cache and cache[user][1] > now for user in users):
            return {user for user in users if cache[user][0]}
        result = await self.presence.online(users)
        if len(cache) > ONLINE_CACHE_MAX:
            cache.clear()
        for user in users:
            cache[user] = (user in result, now + ONLINE_CACHE_S)
        return result

    # -- pushing ---------------------------------------------------------------------------

    def send_public(self, push: Push | str) -> int:
        """Push to every local connection; returns how many it went to."""
        push = Push(push) if isinstance(push, str) else push
        for connection in list(self._subs):
            connection.send(push)
        return len(self._subs)

    def send_topic(self, topic: str, push: Push | str) -> int:
        """Push to every local connection whose page shows this topic."""
        push = Push(push) if isinstance(push, str) else push
        subscribers = self._topics.get(topic, ())
        for connection in list(subscribers):
            connection.send(push)
        return len(subscribers)

    def send_to_user(self, user: str, push: Push | str) -> int:
        """Push state (no id, not stored) to every local connection of one user."""
        push = Push(push) if isinstance(push, str) else push
        room = self._rooms.get(user, ())
        for connection in list(room):
            connection.send(push)
        return len(room)

    async def publish(self, events: list[tuple[str, str, str, object]],
                      entries: list[tuple[str, str, int]] = (),
                      guard: tuple[str, int] | None = None) -> list[str]:
        """Store per-user events (user, kind, html, data), and set the (key, member, score)
        entries in the same call; returns the events' ids ([] if the guard skipped them). This
        process's connections get them at once, other processes' through a notice. A guard
        (key, number) makes it once only: see Publication."""
        return await self._appends.submit(Publication(events, list(entries), guard))

    async def _append_and_fan_out(self, publications: list[Publication]) -> list[list[str]]:
        appended = await self.events.append_publications(publications, self.presence.process)
        for publication, events in zip(publications, appended):
            for (user, _, _, _), event in zip(publication.events, events):
                self._fan_out(user, event)
        return [[event.id for event in events] for events in appended]

    def _fan_out(self, user: str, event: Event) -> None:
        room = self._rooms.get(user)
        if not room:
            return
        for connection in list(room):
            subscription = self._subs.get(connection)
            if subscription is not None:
                self._deliver(connection, subscription, event)
        if self.on_delivered is not None:
            self.on_delivered(event.key[0])

    async def typing(self, who: str, to: str) -> None:
        """Tell `to`'s open pages that `who` is typing (at most every TYPING_EVERY_MS), unless
        either of them blocked the other."""
        await self._typing(keys=[f"typing:{who}:{to}", blocks_key(who), blocks_key(to)],
                           args=[who, to, TYPING_EVERY_MS, TYPING_CHANNEL])

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
        self._online_cache.pop(user, None)
        if not self._rooms:
            return
        peers = [p for p in await self._peers_of(user, PEER_NOTICE_LIMIT) if p in self._rooms]
        if peers:
            push = Push(self._views.presence(user, state == "1"))
            for peer in peers:
                self.send_to_user(peer, push)

    async def on_typing(self, notice: str) -> None:
        who, to = notice.split("\n", 1)
        if to in self._rooms:
            self.send_to_user(to, Push(self._views.typing(who, to)))

    async def on_sign_out(self, notice: str) -> None:
        user, keys = notice.split("\n", 1)
        if keys == "*":
            self._close_signed_out(self._rooms.get(user, ()))
        else:
            for key in keys.split(","):
                self._close_signed_out(self._credentials.get(key, ()))

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
            self._online_cache.clear()  # presence notices were missed too
            self._last_session_check = 0.0  # and sign-out notices: the next tick asks Redis
        for connection, subscription in list(self._subs.items()):
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
        keys = list(self._credentials)
        if not keys:
            return 0
        gone = []
        for start in range(0, len(keys), SESSION_CHECK_BATCH):
            missing = await self._missing(keys=keys[start:start + SESSION_CHECK_BATCH])
            gone += [keys[start + i - 1] for i in missing]
        by_user: dict[str, list[str]] = {}
        for key in gone:
            connections = self._credentials.get(key, ())
            user = next((self._subs[c].user for c in connections if c in self._subs), None)
            if user is not None:
                by_user.setdefault(user, []).append(key)
            self._close_signed_out(connections)
        if by_user:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user, ended in by_user.items():
                    pipe.publish(SIGN_OUT_CHANNEL, sign_out_notice(user, ended))
                await pipe.execute()
        return len(gone)

    # -- the periodic state push -------------------------------------------------------------

    async def tick(self) -> None:
        """Once a second: renew presence, count users online, push the count if it changed;
        keep quiet SSE streams open; every few seconds, end connections whose session ended."""
        now = time.monotonic()
        if now - self._last_keepalive >= KEEPALIVE_EVERY_S:
            self._last_keepalive = now
            for connection in list(self._keepalive):
                connection.keepalive()
        if now - self._last_session_check >= self.session_check_every_s:
            self._last_session_check = now
            try:
                await self.check_sessions()
            except (redis.RedisError, OSError) as e:
                log.warning("session check skipped: %s", e)
        try:
            if self._rooms and time.time() - self._last_heartbeat >= HEARTBEAT_EVERY_S:
                lapsed = await self.presence.renew(list(self._rooms))
                self._last_heartbeat = time.time()
                if lapsed:  # other processes sent nothing for them while the claim was gone
                    self.resync(lapsed)
            count = await self.presence.sweep()
        except (redis.RedisError, OSError) as e:
            log.warning("presence tick skipped: %s", e)
            return
        if count != self.online_count:
            self.online_count = count
            if self._subs:
                self.send_public(self._views.online_count(count))  # rendered once, sent to all


class Listener:
    """This process's one pub/sub subscription: notices from any process reach local handlers.

    While the subscription is down, notices can be missed, so on every (re)subscribe
    `on_resubscribe` runs first: caches that rely on notices must forget what they hold.
    """

    def __init__(self, redis: aioredis.Redis, handlers: dict[str, Callable[[str], Awaitable[None]]],
                 on_resubscribe: Callable[[], None]):
        self._redis = redis
        self._handlers = handlers
        self._on_resubscribe = on_resubscribe
        self._task: asyncio.Task | None = None
        self.subscribed = False  # caches may trust notices only while this is True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(*self._handlers)
                await self._confirmed(pubsub)
                self._on_resubscribe()  # notices may have been missed while we were away
                self.subscribed = True
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError, TimeoutError) as e:
                log.warning("pub/sub lost (%s); subscribing again", e)
            finally:
                self.subscribed = False
                try:
                    await pubsub.aclose()
                except (redis.RedisError, OSError):
                    pass
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def _confirmed(self, pubsub) -> None:
        """Wait until Redis confirms every subscription: only then can notices be trusted."""
        waiting = set(self._handlers)
        deadline = time.monotonic() + PUBSUB_PING_TIMEOUT_S
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError("Redis did not confirm the subscription")
            message = await pubsub.get_message(timeout=LISTEN_POLL_S)
            if message and message["type"] == "subscribe":
                waiting.discard(message["channel"])

    async def _listen(self, pubsub) -> None:
        """Hand notices to their handlers; ping when quiet, so a dead connection is noticed."""
        last_heard = time.monotonic()
        pinged_at = None
        while True:
            # An explicit timeout: the client's socket_timeout would end a quiet subscription.
            message = await pubsub.get_message(timeout=LISTEN_POLL_S)
            now = time.monotonic()
            if message is not None:
                last_heard, pinged_at = now, None
                if message["type"] == "message":
                    await self._dispatch(message["channel"], message["data"])
            elif pinged_at is not None and now - pinged_at > PUBSUB_PING_TIMEOUT_S:
                raise TimeoutError("no answer to a pub/sub ping")
            elif pinged_at is None and now - last_heard > PUBSUB_QUIET_S:
                await pubsub.ping()
                pinged_at = now

    async def _dispatch(self, channel: str, data: str) -> None:
        try:
            await self._handlers[channel](data)
        except (redis.RedisError, OSError) as e:
            log.warning("handling a notice on %s failed: %s", channel, e)
            self._on_resubscribe()  # whatever it was caching may now be stale
        except Exception:
            log.exception("handling a notice on %s failed", channel)
