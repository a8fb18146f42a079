"""/live: the WebSocket that carries public topics to anyone and personal events to their owner."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import tornado.ioloop
import tornado.websocket

from .base import REDIS_DOWN, SessionMixin

log = logging.getLogger("parlor.live")


class LiveSocket(SessionMixin, tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        # CSWSH: a page on another site must not ride the visitor's cookie into their live feed.
        if origin.rstrip("/") in self.application.config.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == self.request.host.lower()

    async def prepare(self) -> None:
        self.topics = self._topics()
        if self.topics is None:
            self.set_status(400)
            self.finish("boards lists the boards this page shows, like boards=10,25.")
            return
        try:
            await self.load_session()
        except REDIS_DOWN:
            self.set_status(503)
            self.finish("Parlor cannot reach its database right now.")

    def _topics(self) -> tuple[str, ...] | None:
        raw = self.get_query_argument("boards", "")
        boards = [part for part in raw.split(",") if part]
        if not all(b.isdigit() and b.isascii() and len(b) <= 8 for b in boards):
            return None
        if not {int(b) for b in boards} <= set(self.application.config.boards):
            return None
        return tuple(f"board:{int(b)}" for b in boards)

    async def open(self) -> None:
        await self.application.hub.join(self, self.current_user, self.topics)

    def on_message(self, message: str | bytes) -> None:
        pass  # the page only listens, for now

    def on_close(self) -> None:
        tornado.ioloop.IOLoop.current().add_callback(self.application.hub.leave, self)

    def send(self, text: str) -> None:
        """Push one fragment; a socket that closed meanwhile is skipped (on_close removes it)."""
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            self.write_message(text)
        except tornado.websocket.WebSocketClosedError:
            pass
