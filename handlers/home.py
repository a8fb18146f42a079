"""The front page: start a game, your games in progress, the top of every board."""
from .base import BaseHandler


class HomeHandler(BaseHandler):
    async def get(self) -> None:
        app = self.application
        player = self.session["player"] if self.session else None
        views = [await app.board_views.view(board) for board in app.config.boards]
        self.render_view("index.html", "partials/_home.html",
                         games=await app.games.in_progress(player), views=views,
                         live_boards=[v.page.board for v in views])
