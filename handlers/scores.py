"""Leaderboard pages, and the scraping contract: /scores/<max>/fragment and /scores/<max>.json."""
from __future__ import annotations

from typing import Awaitable

from parlor.game.ranking import MIN_GAMES, RECENT_GAMES, board_member, forfeit_guesses, member_for
from parlor.refusals import Refused
from parlor.safety import address_group
from parlor.web.views.boards import TOP, BoardView, histogram_bars

from .base import BaseHandler
from .inputs import whole_number
from .jsonp import CALLBACK_RE, jsonp

MAX_LIMIT = 100  # rows one request may ask for
MAX_OFFSET = 1_000_000  # deeper than any board we expect; refuse absurd numbers early


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
    """Public, cacheable, no session: what a scraper reads is rendered once per board version,
    and a kept copy is answered without waiting for Redis (BoardViews.trusted)."""

    def prepare(self) -> None:
        self.check_sizes()

    def get(self, raw_board: str) -> Awaitable[None] | None:
        board, (limit, offset) = self.board_or_404(raw_board), self.paging()
        self.check_request()
        trusted = self.application.board_views.trusted(board, limit, offset)
        if trusted is not None:  # answered at once: no coroutine, no turn of the event loop
            self.respond(trusted)
            return None
        return self.respond_from_redis(board, limit, offset)  # Tornado awaits what get returns

    async def respond_from_redis(self, board: int, limit: int, offset: int) -> None:
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
