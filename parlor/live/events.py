"""The event log: every per-user event (a message, a read marker, a board entry) is appended to
the user's Redis stream `events:<user>` and gets the stream's id, which only grows. The append
also tells every other process holding the user's connections. A reader asks for what came after
a cursor (the last id its client saw) and gets it in order, or an explicit reload when the stream
no longer keeps what came after it: never a silent gap. Nothing is taken off a stream by reading
it, so every tab of a user gets every event.

What is appended is plain data (Outgoing); what is read back or handed to connections is a Push:
a fragment rendered once, which each transport (handlers/wire.py) frames once for all sockets.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import NamedTuple

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.live.presence import presence_key

EVENTS_CHANNEL_PREFIX = "parlor:events:"  # + a process id: events for users it holds, a JSON list
STREAM_ID_RE = re.compile(r"(\d{1,15})-(\d{1,19})", re.ASCII)
META_TTL_S = 31 * 24 * 3600  # as long as a session: a page that old may still hold a cursor
# Where an event's html shows its user's tally (Publication.tallies): an HTML comment, which no
# escaped text can hold, so nothing a person writes can be mistaken for it.
TALLY_MARK = "<!--tally-->"


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


class Outgoing(NamedTuple):
    """One event to append: for `user`, of `kind`, its page fragment and its data for API clients."""

    user: str
    kind: str
    html: str
    data: object  # anything json.dumps takes


class Push:
    """A fragment rendered once, as state (no id, not stored). `framed` holds each transport's
    framing of it, made by the first connection that sends it and reused by every other."""

    __slots__ = ("html", "framed")
    id: str | None = None

    def __init__(self, html: str):
        self.html = html
        self.framed: dict[str, str | bytes] = {}


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

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "html": self.html, "data": json.loads(self.data)}


class Reload(Push):
    """The client's cursor is older than what the stream keeps: the page must fetch its state
    again. `cursor` is where a client continues from after that."""

    __slots__ = ("cursor",)

    def __init__(self, cursor: str):
        super().__init__("")
        self.cursor = cursor


@dataclass
class Backlog:
    events: list[Event]
    reload: bool  # the cursor is older than the stream's oldest event, or unknown to it
    last: str  # the newest id the stream ever gave ("0-0" if none)


class Publication(NamedTuple):
    """What one write publishes: its events, the sorted-set entries (key, member, score) `listed`
    along with them (each person's conversation list, say), the `counts` (hash, field, number; 0
    removes the field) set along with them (each person's unread count per peer), and a guard
    (key, number) that makes it once only: it is appended only if the key holds a smaller number
    (or none), which then becomes it. `tallies` names, per user, a counted hash and a sorted set
    of exclusions: the hash's total (its fields summed, the counts set, but the fields the
    exclusions hold with a score above now, in ms) that user's events show wherever their html
    holds TALLY_MARK."""

    events: list[Outgoing]
    listed: list[tuple[str, str, int]] = []
    guard: tuple[str, int] | None = None
    counts: list[tuple[str, str, int]] = []
    tallies: dict[str, tuple[str, str]] = {}


class EventLog:
    """The per-user streams: append (and notify every process), read after a cursor."""

    def __init__(self, redis: aioredis.Redis, max_events: int = 1000, max_age_s: int = 86400):
        self._redis = redis
        self.max_events = max_events
        self.max_age_ms = max_age_s * 1000
        self._scripts = register_scripts(redis, __package__, "append_events")

    async def append(self, user: str, kind: str, html: str, data: object) -> str:
        """Store one event for `user`; returns its id. Every process holding `user` hears of it."""
        [[event]] = await self.append_publications([Publication([Outgoing(user, kind, html, data)])])
        return event.id

    async def append_publications(self, publications: list[Publication], process: str = "") -> list[list[Event]]:
        """Each publication's events, listed entries and counts, atomically, all in one round
        trip; returns each publication's events with their ids ([] for one its guard skipped).
        Every process holding a user's connections but `process` is told."""
        keys, args = [], [self.max_events, self.max_age_ms, META_TTL_S, EVENTS_CHANNEL_PREFIX, process,
                          int(time.time() * 1000), TALLY_MARK, len(publications)]
        encoded = []
        for publication in publications:
            if publication.guard:
                keys.append(publication.guard[0])
            args += [publication.guard[1] if publication.guard else "", len(publication.events),
                     len(publication.listed), len(publication.counts)]
            data = [json.dumps(d) for _, _, _, d in publication.events]  # an Outgoing, or any 4-tuple
            encoded.append(data)
            for (user, kind, html, _), json_data in zip(publication.events, data):
                tally = publication.tallies.get(user)
                keys += [stream_key(user), stream_meta_key(user), presence_key(user), *(tally or ())]
                args += [user, kind, html, json_data, "1" if tally else ""]
            for key, member, score in publication.listed:
                keys.append(key)
                args += [score, member]
            for key, field, number in publication.counts:
                keys.append(key)
                args += [field, number]
        answers = await self._scripts.append_events(keys=keys, args=args)
        appended = []
        for publication, data, ids in zip(publications, encoded, answers, strict=True):
            appended.append([Event(ids[3 * n], kind, ids[3 * n + 2] or html, json_data, ids[3 * n + 1])
                             for n, ((_, kind, html, _), json_data) in enumerate(zip(publication.events, data))]
                            if ids else [])
        return appended

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: so is its stream."""
        await self._redis.delete(stream_key(user), stream_meta_key(user))

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
