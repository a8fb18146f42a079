"""Boards rendered: a page of a board as its fragment and JSON (the scraping contract), kept per
board version in each process; the push of a changed board's top rows to the pages showing it;
a board's histogram as bars."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from email.utils import formatdate

import jinja2

from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import Page, Stats
from parlor.infra.batching import Batcher
from parlor.infra.redis_client import REDIS_DOWN
from parlor.live.hub import Hub
from parlor.live.processes import Processes

log = logging.getLogger("parlor.web")

TOP = 10  # rows on the front page, in pushes, and by default
HISTOGRAM_MIN_BARS = 10  # bars in a board's histogram at least; later counts share the last bar
HISTOGRAM_PAST_BEST = 6  # bars past the best possible count, when that makes more than the minimum


@dataclass(frozen=True)
class BoardView:
    """One page of a board, rendered once: the HTML fragment and the JSON, with its ETag."""

    page: Page
    fragment: str
    json_text: str
    etag: str
    last_modified: str

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """What every answer with this view carries (made once: valid by construction)."""
        return {"ETag": self.etag, "Last-Modified": self.last_modified,
                "Cache-Control": "no-cache",  # store, but ask again: boards change any time
                "Access-Control-Allow-Origin": "*"}  # public data, for other sites' pages


def board_json(page: Page) -> str:
    """The JSON of a board page; `<` escaped so it is safe anywhere; non-ASCII (U+2028...) escaped."""
    body = {"board": page.board, "version": page.version, "total": page.total, "offset": page.offset,
            "entries": [entry.as_json() for entry in page.entries]}
    return json.dumps(body, ensure_ascii=True).replace("<", "\\u003c")


@dataclass(frozen=True)
class Copy:
    """A rendered view kept in this process, and when its version was last read from Redis."""

    view: BoardView
    read_at: float  # Processes.clock, when that read was sent


class BoardViews:
    """Rendered boards kept per board version. A kept view is answered without asking Redis while
    Processes trusts it (a lease after its version was read: a write on another process waits the
    lease out before it answers). From half its lease on, its version is read again (the reads
    of requests that come together go in one round trip); it is kept while it is the board's.
    A write on this process drops its copies before it answers (`changed`); another process's
    notice drops them here and pushes the new top rows to pages showing that board."""

    def __init__(self, leaderboards: Leaderboards, templates: jinja2.Environment, hub: Hub, processes: Processes):
        self._leaderboards = leaderboards
        self._fragment = templates.get_template("partials/_board.html")
        self._hub = hub
        self._processes = processes
        self._copies: dict[tuple[int, int], Copy] = {}
        self._changes: dict[int, int] = {}  # per board, the changes this process has heard of
        self._renewing: dict[tuple[int, int], asyncio.Future] = {}  # copies being read again in the background
        self._versions: Batcher[int, int] = Batcher(leaderboards.versions)

    def trusted(self, board: int, limit: int = TOP, offset: int = 0) -> BoardView | None:
        """The kept view of this page if it may be answered now without asking Redis. Past half
        its lease it is read again in the background: under steady load no request waits."""
        copy = self._copies.get((board, limit)) if offset == 0 else None
        if copy is None or not self._processes.trusts(copy.read_at):
            return None
        if self._processes.clock() - copy.read_at >= self._processes.timing.lease_s / 2 \
                and (board, limit) not in self._renewing:
            self._renewing[(board, limit)] = asyncio.ensure_future(self._renew(board, limit))
        return copy.view

    async def view(self, board: int, limit: int = TOP, offset: int = 0) -> BoardView:
        """A page of a board as it is in Redis now; the first page rendered once per version."""
        trusted = self.trusted(board, limit, offset)
        return trusted if trusted is not None else await self._read(board, limit, offset)

    async def _read(self, board: int, limit: int, offset: int) -> BoardView:
        """The version of a kept copy, or the page, read from Redis; kept unless the board changed
        meanwhile (a read that began before a change this process heard of may be older)."""
        copy = self._copies.get((board, limit)) if offset == 0 else None
        changes, read_at = self._changes.get(board, 0), self._processes.clock()
        if copy is not None and copy.view.page.version == await self._versions.submit(board):
            view = copy.view
        else:
            page = await self._leaderboards.page(board, offset, limit)
            view = BoardView(page, self._fragment.render(page=page, oob=False), board_json(page),
                             f'"b{board}-v{page.version}-o{offset}-l{limit}"',
                             formatdate(page.updated_ms / 1000, usegmt=True))
        kept = self._copies.get((board, limit))
        if offset == 0 and changes == self._changes.get(board, 0) and (kept is None or kept.read_at <= read_at):
            self._copies[(board, limit)] = Copy(view, read_at)
        return view

    async def _renew(self, board: int, limit: int) -> None:
        try:
            await self._read(board, limit, 0)
        except REDIS_DOWN as e:  # the first request after the lease reads it itself
            log.warning("board %d could not be read again: %s", board, e)
        finally:
            del self._renewing[(board, limit)]

    def changed(self, board: int) -> None:
        """The board changed (a write here calls this before it is answered; a notice, for a
        write elsewhere): its copies go, and no read already under way is kept."""
        self._changes[board] = self._changes.get(board, 0) + 1
        for key in [k for k in self._copies if k[0] == board]:
            del self._copies[key]

    async def board_changed(self, notice: str) -> None:
        """A board changed somewhere: drop it, push its new top rows to pages showing it."""
        board = int(notice)
        self.changed(board)
        topic = f"board:{board}"
        if self._hub.has_topic(topic):
            # Only the pushed fragment is made here (one render, no JSON): the next request for
            # the board fills the cache, off the path of a fan-out to every open page.
            page = await self._leaderboards.page(board, 0, TOP)
            self._hub.send_topic(topic, self._fragment.render(page=page, oob=True))


@dataclass(frozen=True)
class Bar:
    """One bar of a board's histogram: winning games that took `guesses` (or more, if last)."""

    guesses: int
    label: str
    games: int
    mine: int


def histogram_bars(stats: Stats) -> list[Bar]:
    """A bar per guess count up to a few past the best possible (HISTOGRAM_MIN_BARS at least); the
    long tail of slower games shares the last bar, so one 900-guess game cannot flatten the rest."""
    last = max(HISTOGRAM_MIN_BARS, stats.best_possible + HISTOGRAM_PAST_BEST)
    bars = [Bar(g, str(g), stats.counts.get(g, 0), stats.mine.get(g, 0)) for g in range(1, last)]

    def tail(counts: dict[int, int]) -> int:
        return sum(games for guesses, games in counts.items() if guesses >= last)

    return bars + [Bar(last, f"{last}+", tail(stats.counts), tail(stats.mine))]
