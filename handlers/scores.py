"""Leaderboard pages, and the scraping contract: /scores/<max>/fragment and /scores/<max>.json."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from email.utils import formatdate

from parlor.game.ranking import MIN_GAMES, RECENT_GAMES, Page, Stats, board_member, forfeit_guesses, member_for
from parlor.live.listener import Subscribed
from parlor.refusals import Refused
from parlor.safety import address_group

from .base import BaseHandler
from .inputs import whole_number
from .jsonp import CALLBACK_RE, jsonp

TOP = 10  # rows on the front page, in pushes, and by default
MAX_LIMIT = 100  # rows one request may ask for
MAX_OFFSET = 1_000_000  # deeper than any board we expect; refuse absurd numbers early
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
    """Rendered boards cached per board version. A write on any process publishes a notice; the
    notice drops this process's copies and pushes the new top rows to pages showing that board.
    Nothing is cached while the notices cannot be trusted (the subscription is down)."""

    def __init__(self, leaderboards, templates, hub, notices: Subscribed):
        """`notices` says whether board notices arrive now (the Listener keeps it)."""
        self._leaderboards = leaderboards
        self._fragment = templates.get_template("partials/_board.html")
        self._hub = hub
        self._notices = notices
        self._cache: dict[tuple[int, int], BoardView] = {}
        self._generation = 0  # bumped by every invalidation; a fill that spans one is not kept

    def cached(self, board: int, limit: int = TOP, offset: int = 0) -> BoardView | None:
        """The view if this process holds it: no Redis, no rendering."""
        return self._cache.get((board, limit)) if offset == 0 else None

    async def view(self, board: int, limit: int = TOP, offset: int = 0) -> BoardView:
        hit = self.cached(board, limit, offset)
        if hit is not None:
            return hit
        generation = self._generation
        page = await self._leaderboards.page(board, offset, limit)
        view = BoardView(page, self._fragment.render(page=page, oob=False), board_json(page),
                         f'"b{board}-v{page.version}-o{offset}-l{limit}"',
                         formatdate(page.updated_ms / 1000, usegmt=True))
        if offset == 0 and self._notices.now and generation == self._generation:
            self._cache[(board, limit)] = view
        return view

    def forget(self, board: int | None = None) -> None:
        self._generation += 1
        for key in [k for k in self._cache if board is None or k[0] == board]:
            del self._cache[key]

    async def board_changed(self, notice: str) -> None:
        """A board changed somewhere: forget it, push its new top rows to pages showing it."""
        board = int(notice)
        self.forget(board)
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


class BoardMixin:
    def board_or_404(self, raw: str) -> int:
        board = whole_number(raw)
        if board not in self.application.config.boards:
            raise Refused("not_found", "There is no such board.")
        return board

    def own_members(self) -> list[str]:
        """The board members whose games are the viewer's: their account, and this browser as a
        guest (its games from before logging in)."""
        if not self.session:
            return []
        player = self.session["player"]
        return [member_for(None, player)] + ([member_for(self.current_user, player)] if self.current_user else [])

    def paging(self) -> tuple[int, int]:
        return (self.int_argument("limit", 1, MAX_LIMIT, default=TOP),
                self.int_argument("offset", 0, MAX_OFFSET, default=0))


class ScrapeHandler(BoardMixin, BaseHandler):
    """Public, cacheable, no session: what a scraper reads costs no Redis round trip when cached.
    A cached answer is sent synchronously; only a miss awaits Redis."""

    def prepare(self) -> None:
        self.check_sizes()

    def get(self, raw_board: str):
        board, (limit, offset) = self.board_or_404(raw_board), self.paging()
        self.check_request()
        view = self.application.board_views.cached(board, limit, offset)
        if view is not None:
            self.respond(view)
            return None
        return self._fill(board, limit, offset)  # Tornado awaits what get returns

    async def _fill(self, board: int, limit: int, offset: int) -> None:
        self.respond(await self.application.board_views.view(board, limit, offset))

    def check_request(self) -> None:
        """Refuse what cannot be answered, before any work."""

    def respond(self, view: BoardView) -> None:
        raise NotImplementedError

    def answer(self, view: BoardView, content_type: str, body: str) -> None:
        self._headers.update(view.headers)
        if view.etag in self.request.headers.get("If-None-Match", ""):
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Type", content_type)
        self.finish(body)


class BoardFragmentHandler(ScrapeHandler):
    def respond(self, view: BoardView) -> None:
        self.answer(view, "text/html; charset=utf-8", view.fragment)


class BoardJsonHandler(ScrapeHandler):
    answers_json = True

    def check_request(self) -> None:
        self.callback = self.get_query_argument("callback", None)
        if self.callback is not None and not CALLBACK_RE.fullmatch(self.callback):
            raise Refused("invalid", "callback must be a JavaScript name like handle or app.onScores.")

    def respond(self, view: BoardView) -> None:
        if self.callback is None:
            self.answer(view, "application/json; charset=utf-8", view.json_text)
        else:
            body = jsonp(self.callback, view.json_text)
            self.answer(view, "application/javascript; charset=utf-8", body)


class ScoresHandler(BaseHandler):
    """All boards, the top rows of each."""

    async def get(self) -> None:
        views = [await self.application.board_views.view(b) for b in self.application.config.boards]
        self.render_view("scores.html", "partials/_boards.html", views=views,
                         live_boards=[v.page.board for v in views], recent_games=RECENT_GAMES, min_games=MIN_GAMES)


class BoardPageHandler(BoardMixin, BaseHandler):
    """One board: a page of it, or the place of a player (?around=<name> or ?around=me)."""

    async def get(self, raw_board: str) -> None:
        board = self.board_or_404(raw_board)
        limit, offset = self.paging()
        around = self.get_query_argument("around", None)
        me = board_member(self.current_user, address_group(self.request.remote_ip))
        live = around is None and offset == 0 and limit == TOP
        if around is None:
            page = (await self.application.board_views.view(board, limit, offset)).page
        else:
            member = me if around == "me" else f"u:{around.strip().lower()}"
            page = await self.application.leaderboards.around(board, member) if member else None
            if page is None:
                raise Refused("not_found", "That player is not on this board.")
        progress = await self.application.leaderboards.progress(board, me) if self.current_user else None
        stats = None if self.wants_fragment() else await self.application.leaderboards.stats(board, self.own_members())
        self.render_view("board.html", "partials/_board.html", page=page, oob=False, me=me,
                         my_best=progress.entry if progress else None, progress=progress,
                         limit=limit, around=around, live_boards=[board] if live else [],
                         stats=stats, bars=histogram_bars(stats) if stats else [], min_games=MIN_GAMES,
                         recent_games=RECENT_GAMES, forfeit=forfeit_guesses(board), next=self.request.uri)


class BoardStatsHandler(BoardMixin, BaseHandler):
    """GET /scores/<max>/stats.json: the histogram of the board page as JSON, with the viewer's own
    games (so it is not shared with other sites: no CORS header, no JSONP)."""

    answers_json = True
    renders_pages = False

    async def get(self, raw_board: str) -> None:
        stats = await self.application.leaderboards.stats(self.board_or_404(raw_board), self.own_members())
        self.set_header("Cache-Control", "private, no-cache")
        self.write_json(stats.as_json())
