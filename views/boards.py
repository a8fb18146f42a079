"""Boards rendered: a page of a board as its fragment and JSON (the scraping contract), cached per
board version in each process; the push of a changed board's top rows to the pages showing it;
a board's histogram as bars."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from email.utils import formatdate

import jinja2

from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import Page, Stats
from parlor.infra.batching import Batcher
from parlor.live.hub import Hub

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


class BoardViews:
    """Rendered boards cached per board version. A cached view is served only while its version
    is the board's version in Redis, read for every request (the reads of requests that come
    together go in one round trip): a write on any process shows in the very next answer of
    every process, before its notice arrives. The notice drops this process's stale copies and
    pushes the new top rows to pages showing that board."""

    def __init__(self, leaderboards: Leaderboards, templates: jinja2.Environment, hub: Hub):
        self._leaderboards = leaderboards
        self._fragment = templates.get_template("partials/_board.html")
        self._hub = hub
        self._cache: dict[tuple[int, int], BoardView] = {}
        self._versions: Batcher[int, int] = Batcher(leaderboards.versions)

    async def view(self, board: int, limit: int = TOP, offset: int = 0) -> BoardView:
        """A page of a board as it is in Redis now; the first page rendered once per version."""
        if offset == 0:
            hit = self._cache.get((board, limit))
            if hit is not None and hit.page.version == await self._versions.submit(board):
                return hit
        page = await self._leaderboards.page(board, offset, limit)
        view = BoardView(page, self._fragment.render(page=page, oob=False), board_json(page),
                         f'"b{board}-v{page.version}-o{offset}-l{limit}"',
                         formatdate(page.updated_ms / 1000, usegmt=True))
        if offset == 0:
            self._cache[(board, limit)] = view
        return view

    async def board_changed(self, notice: str) -> None:
        """A board changed somewhere: drop it, push its new top rows to pages showing it."""
        board = int(notice)
        for key in [k for k in self._cache if k[0] == board]:
            del self._cache[key]
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
