"""The front page."""
from .base import BaseHandler


class HomeHandler(BaseHandler):
    def get(self) -> None:
        self.render_view("index.html", "partials/_welcome.html")
