"""Playing: start a game, guess, and (for a guest who won) give a name for the board."""
from __future__ import annotations

from parlor.game.games import NO_SUCH_GAME
from parlor.game.ranking import MIN_GAMES, RECENT_GAMES, forfeit_guesses
from parlor.live.events import Outgoing
from parlor.refusals import Refused
from parlor.safety import address_group

from .base import BaseHandler
from .inputs import whole_number


class GameBase(BaseHandler):
    async def announce_standing(self, game) -> None:
        """A signed-in player's guess changed their entry: an event to every tab of theirs."""
        app, standing = self.application, game.standing
        html = app.templates.get_template("partials/_my_best.html").render(
            board=game.max, standing=standing, oob=True)
        await app.hub.publish([Outgoing(self.current_user, "score", html, {"board": game.max, **standing.as_json()})])

    @property
    def player(self) -> str | None:
        return self.session["player"] if self.session else None

    async def show_game(self, game, status: int = 200, error: str | None = None) -> None:
        progress = None
        if game.status == "won" and game.member and (game.named or not game.for_guest_entry):
            progress = await self.application.leaderboards.progress(game.max, game.member)
        self.render_view("game.html", "partials/_game.html", status=status, game=game, progress=progress,
                         error=error, min_games=MIN_GAMES, recent_games=RECENT_GAMES,
                         forfeit=forfeit_guesses(game.max))

    async def game_or_404(self, game_id: str):
        game = await self.application.games.load(game_id, self.player)
        if game is None:
            raise Refused("not_found", NO_SUCH_GAME)
        return game

    async def refuse(self, game_id: str, e: Refused) -> None:
        """A refused action: not_found as a page; otherwise the game again, with the reason."""
        if e.kind == "not_found":
            raise e
        await self.show_game(await self.game_or_404(game_id), status=self.refused_status(e), error=str(e))


class GamesHandler(GameBase):
    async def post(self) -> None:
        board = whole_number(self.get_body_argument("max", None)) or 0  # 0: no board (refused)
        game_id = await self.application.games.start(self.player, board, self.current_user,
                                                     address_group(self.request.remote_ip), self.new_player)
        self.redirect_after_post(f"/games/{game_id}")

    async def new_player(self) -> str:
        """A session for a visitor who had none (its cookie set), and its player id."""
        return (await self.ensure_session())["player"]


class GameHandler(GameBase):
    async def get(self, game_id: str) -> None:
        await self.show_game(await self.game_or_404(game_id))


class GuessHandler(GameBase):
    async def post(self, game_id: str) -> None:
        try:
            game = await self.application.games.guess(
                game_id, self.player, self.get_body_argument("guess", None, strip=False), self.current_user)
        except Refused as e:
            await self.refuse(game_id, e)
            return
        if game.finished:  # a guess on a finished game is refused above: this one ended it
            self.application.metrics.game_finished(game.max, game.status)
        if game.standing is not None:
            await self.announce_standing(game)
        if self.wants_fragment():
            await self.show_game(game)  # htmx swaps only the game
        else:
            self.redirect(f"/games/{game_id}", status=303)


class ClaimHandler(GameBase):
    async def post(self, game_id: str) -> None:
        try:
            await self.application.games.claim(
                game_id, self.player, self.get_body_argument("name", None),
                name_is_taken=self.application.accounts.name_is_taken, address=address_group(self.request.remote_ip))
        except Refused as e:
            await self.refuse(game_id, e)
            return
        self.redirect_after_post(f"/games/{game_id}")
