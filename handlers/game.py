"""Playing: start a game, guess, and (for a guest who won) give a name for the board."""
from __future__ import annotations

from parlor.games import GameError

from .base import BaseHandler, ClientError


class GameBase(BaseHandler):
    async def announce_standing(self, game) -> None:
        """A signed-in player's game went on the board: an event to every tab of theirs."""
        app = self.application
        standing = await app.leaderboards.best(game.max, game.recorded_as)
        if standing is None:
            return
        html = app.templates.get_template("partials/_my_best.html").render(
            board=game.max, standing=standing, oob=True)
        await app.hub.publish([(self.current_user, "score", html, {"board": game.max, **standing.as_json()})])

    @property
    def player(self) -> str | None:
        return self.session["player"] if self.session else None

    async def show_game(self, game, status: int = 200, error: str | None = None) -> None:
        standing = None
        if game.recorded_as:
            standing = await self.application.leaderboards.best(game.max, game.recorded_as)
        self.render_view("game.html", "partials/_game.html", status=status, game=game,
                         standing=standing, error=error)

    async def game_or_404(self, game_id: str):
        game = await self.application.games.load(game_id, self.player)
        if game is None:
            raise ClientError(404, "There is no such game, or it has expired.")
        return game

    async def refuse(self, game_id: str, e: GameError) -> None:
        """A refused action: 404 as a page; otherwise the game again, with the reason."""
        if e.status == 404:
            raise ClientError(404, str(e))
        if e.retry_after:
            self.set_header("Retry-After", str(e.retry_after))
        await self.show_game(await self.game_or_404(game_id), status=e.status, error=str(e))


class GamesHandler(GameBase):
    async def post(self) -> None:
        raw = self.get_body_argument("max", "")
        board = int(raw) if raw.isdigit() and raw.isascii() and len(raw) <= 8 else None
        session = await self.ensure_session()
        try:
            game_id = await self.application.games.start(session["player"], board)
        except GameError as e:
            raise ClientError(e.status, str(e)) from None
        self.redirect_after_post(f"/games/{game_id}")


class GameHandler(GameBase):
    async def get(self, game_id: str) -> None:
        await self.show_game(await self.game_or_404(game_id))


class GuessHandler(GameBase):
    async def post(self, game_id: str) -> None:
        try:
            game = await self.application.games.guess(
                game_id, self.player, self.get_body_argument("guess", None, strip=False), self.current_user)
        except GameError as e:
            await self.refuse(game_id, e)
            return
        if game.finished:  # a guess on a finished game is refused above: this one ended it
            self.application.metrics.game_finished(game.max, game.status)
        if game.recorded_as:
            self.application.board_views.forget(game.max)  # our own notice comes back a moment later
            await self.announce_standing(game)
        if self.wants_fragment():
            await self.show_game(game)  # htmx swaps only the game
        else:
            self.redirect(f"/games/{game_id}", status=303)


class ClaimHandler(GameBase):
    async def post(self, game_id: str) -> None:
        try:
            game = await self.application.games.claim(
                game_id, self.player, self.current_user, self.get_body_argument("name", None),
                is_username=self.application.accounts.is_taken)
        except GameError as e:
            await self.refuse(game_id, e)
            return
        self.application.board_views.forget(game.max)  # our own notice comes back a moment later
        if self.current_user:
            await self.announce_standing(game)
        self.redirect_after_post(f"/games/{game_id}")
