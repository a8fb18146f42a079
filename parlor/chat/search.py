"""Search: finding messages by their words, in one conversation or in all of a person's.

Each pair file holds its own FTS5 index (parlor/chat/pair_file.py SEARCH_INDEX), kept in step with
sends, edits and deletions by triggers. A person's search of all their conversations opens their
files one by one, those with the latest messages first, at most SEARCH_WINDOW files and for at most
SEARCH_DEADLINE_S; what it did not reach, the next search (the "older conversations" link) starts
with. Only the searcher's own pairs are ever opened, and those with people they blocked are left
out, as their conversation list leaves them out.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import redis.asyncio as aioredis

from parlor.chat.conversation_list import conversation_peers
from parlor.chat.pair_file import Message
from parlor.chat.pair_files import PairFiles
from parlor.refusals import Refused
from parlor.safety import MAX_BLOCKS, Safety

MAX_QUERY_CHARS = 200  # a sentence: one looks for words, not for a pasted page
MAX_QUERY_TERMS = 10  # words and phrases in one search: each is one more lookup in every file
RESULTS_PAGE = 20  # matches shown at once
# Files one search of all conversations opens at most: well under pair_files.DEFAULT_MAX_OPEN
# (256), so one person's search cannot push most of the open files out of the shared LRU.
SEARCH_WINDOW = 100
SEARCH_DEADLINE_S = 2.0  # a search of all conversations opens no more files after this long
SEARCH_CONCURRENCY = 4  # files searched at once (each has its own thread); more only queue on a few cores
SNIPPET_TOKENS = 32  # words of a long message shown around what was found
MARK_START, MARK_END = "\x02", "\x03"  # around each word found, in SQLite's snippet(); cut out again below

TERM_RE = re.compile(r'"([^"]*)"?|([^\s"]+)')  # a "phrase" (closed or not), or a bare word
TOKEN_RE = re.compile(r"[^\W_]+")  # what FTS5's unicode61 tokenizer keeps: letters and digits ("_" splits)
CURSOR_RE = re.compile(r"(\d{1,15})\.(\d{1,18})\.([a-z0-9-]{3,32})")  # all conversations: ms.id.peer
ID_CURSOR_RE = re.compile(r"\d{1,18}")  # one conversation: a message id

_MATCHES = f"""SELECT m.id, m.author, m.kind, m.sent_at, m.image_id,
                      snippet(messages_fts, 0, '{MARK_START}', '{MARK_END}', '…', {SNIPPET_TOKENS})
               FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
               WHERE messages_fts MATCH ? AND m.deleted_at IS NULL AND messages_fts.rowid < ? AND {{older}}
               ORDER BY messages_fts.rowid DESC LIMIT ?"""
_ANY_TIME = "1"
_BEFORE_TIME = "m.sent_at < ?"
_AT_OR_BEFORE_TIME = "m.sent_at <= ?"
_NEWEST = 2**62  # an id above any message's


def fts_query(text: str | None) -> str:
    """The FTS5 query for what a person typed: each bare word matches words that start with it,
    a "quoted phrase" those words in that order; all must be in the message. FTS5's own syntax
    (AND, NEAR, column filters, ^) is never passed through: every term is quoted. Refused (invalid)
    for nothing to look for, or too much."""
    text = (text or "").strip()
    if not text:
        raise Refused("invalid", "Type a word to search for.")
    if len(text) > MAX_QUERY_CHARS:
        raise Refused("invalid", f"A search is at most {MAX_QUERY_CHARS} characters; this one has {len(text)}.")
    terms = []
    for phrase, word in TERM_RE.findall(text):
        tokens = TOKEN_RE.findall(phrase or word)
        if tokens:
            terms.append('"' + " ".join(tokens) + '"' + ("" if phrase else "*"))
    if not terms:
        raise Refused("invalid", "Search for words or numbers: punctuation alone finds nothing.")
    if len(terms) > MAX_QUERY_TERMS:
        raise Refused("invalid", f"A search has at most {MAX_QUERY_TERMS} words or phrases; this one has {len(terms)}.")
    return " AND ".join(terms)


@dataclass(frozen=True)
class Match:
    """A message found: in the conversation with `peer`; `marked` is its text (or the part of a
    long one around what was found) in runs, True for the runs that matched."""

    peer: str
    message: Message
    marked: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Found:
    """A page of matches, newest first. `older`: where the next page starts (None: no more in
    these conversations). Of all conversations, those at positions start to end of the person's
    list (newest first) were searched; `more` says whether any come after them."""

    matches: list[Match]
    older: str | None = None
    start: int = 0
    end: int = 1
    more: bool = False
    stopped: bool = False  # the deadline ended the search before SEARCH_WINDOW files


def marked_runs(snippet: str) -> tuple[tuple[str, bool], ...]:
    """SQLite's snippet, its marks turned into runs of (text, matched)."""
    runs, marked = [], False
    for part in re.split(f"([{MARK_START}{MARK_END}])", snippet):
        if part in (MARK_START, MARK_END):
            marked = part == MARK_START
        elif part:
            runs.append((part, marked))
    return tuple(runs)


class Search:
    """Search in one conversation, or in all of a person's (rate limited: it opens many files)."""

    def __init__(self, logs: PairFiles, redis: aioredis.Redis, safety: Safety):
        self._logs = logs
        self._redis = redis
        self._safety = safety

    async def conversation(self, me: str, peer: str, text: str | None, before: str | None = None) -> Found:
        """Messages of `me` and `peer` with the words, newest first, RESULTS_PAGE at a time
        (`before`: the `older` of the page before). No file is made."""
        query = fts_query(text)
        if before and not ID_CURSOR_RE.fullmatch(before):
            raise Refused("invalid", "before must be a message number.")
        below = int(before) if before else _NEWEST
        matches = await self._matches(me, peer, query, below, _ANY_TIME, (), RESULTS_PAGE + 1)
        older = str(matches[RESULTS_PAGE - 1].message.id) if len(matches) > RESULTS_PAGE else None
        return Found(matches[:RESULTS_PAGE], older)

    async def everywhere(self, me: str, text: str | None, start: int = 0, end: int | None = None,
                         before: str | None = None) -> Found:
        """Messages with the words in `me`'s conversations at positions start to end of their
        list (newest first; end None: as many as SEARCH_WINDOW and SEARCH_DEADLINE_S allow),
        newest first, RESULTS_PAGE at a time (`before`: the `older` of the page before)."""
        query = fts_query(text)
        cursor = _parse_cursor(before)
        await self._safety.hit("searches", me)
        stop = start + SEARCH_WINDOW if end is None else min(end, start + SEARCH_WINDOW)
        # Positions count the conversations the list shows (blocked people's are left out): read
        # as many more as one may block, and one: are there any after the window?
        peers = await conversation_peers(self._redis, me, stop + MAX_BLOCKS + 1)
        window = peers[start:stop]
        loop = asyncio.get_running_loop()
        deadline, matches, searched = loop.time() + SEARCH_DEADLINE_S, [], 0
        while searched < len(window) and (not searched or loop.time() < deadline):  # one batch at least
            batch = window[searched:searched + SEARCH_CONCURRENCY]
            for found in await asyncio.gather(*(self._older(me, peer, query, cursor) for peer in batch)):
                matches += found
            searched += len(batch)
            matches = sorted(matches, key=_order, reverse=True)[:RESULTS_PAGE + 1]
        older = None
        if len(matches) > RESULTS_PAGE:
            last = matches[RESULTS_PAGE - 1]
            older = f"{last.message.sent_ms}.{last.message.id}.{last.peer}"
        return Found(matches[:RESULTS_PAGE], older, start, start + searched,
                     more=len(peers) > start + searched, stopped=searched < len(window))

    async def _older(self, me: str, peer: str, query: str, cursor: tuple[int, int, str] | None) -> list[Match]:
        """The newest RESULTS_PAGE + 1 matches in the conversation with `peer` that come after
        `cursor` in the order of all conversations' matches (_order, newest first)."""
        if cursor is None:
            return await self._matches(me, peer, query, _NEWEST, _ANY_TIME, (), RESULTS_PAGE + 1)
        sent_ms, message_id, cursor_peer = cursor
        if peer == cursor_peer:  # the same time: only its older messages
            return await self._matches(me, peer, query, message_id, _AT_OR_BEFORE_TIME, (sent_ms,), RESULTS_PAGE + 1)
        condition = _AT_OR_BEFORE_TIME if peer < cursor_peer else _BEFORE_TIME  # the same time: by peer
        return await self._matches(me, peer, query, _NEWEST, condition, (sent_ms,), RESULTS_PAGE + 1)

    async def _matches(self, me: str, peer: str, query: str, below: int, older: str, times: tuple,
                       limit: int) -> list[Match]:
        async with self._logs.conversation(me, peer) as conversation:
            if conversation is None:
                return []
            async with conversation.lock:  # no other operation's transaction is half done on it
                rows = await conversation.db.execute_fetchall(_MATCHES.format(older=older), (query, below, *times, limit))
        return [Match(peer, Message(id=message_id, author=author, kind=kind, body="", sent_ms=sent_ms,
                                    image_id=image_id), marked_runs(snippet))
                for message_id, author, kind, sent_ms, image_id, snippet in rows]


def _order(match: Match) -> tuple[int, str, int]:
    """Where a match goes among all conversations' matches: by time, then peer, then id."""
    return match.message.sent_ms, match.peer, match.message.id


def _parse_cursor(raw: str | None) -> tuple[int, int, str] | None:
    if raw is None or raw == "":
        return None
    found = CURSOR_RE.fullmatch(raw)
    if not found:
        raise Refused("invalid", "before must be a place in the results, as the Older link gives it.")
    return int(found.group(1)), int(found.group(2)), found.group(3)
