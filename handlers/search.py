"""Search pages: one conversation's messages by their words, and all of one's conversations."""
from __future__ import annotations

from parlor.chat.pair_file import pair_key
from parlor.refusals import Refused

from .chat import ChatBase
from .inputs import MAX_WHOLE_NUMBER


class ConversationSearchHandler(ChatBase):
    """GET /chat/<peer>/search?q=<words>[&before=<id>]: the form, and the matches newest first,
    each a link to the message among the ones around it. htmx swaps the results in place."""

    async def get(self, raw_peer: str) -> None:
        peer = await self.peer_or_error(raw_peer)
        text = self.get_query_argument("q", "")
        found, error, status = None, None, 200
        if text.strip():  # an empty box is only the form
            try:
                found = await self.application.search.conversation(
                    self.current_user, peer, text, self.get_query_argument("before", None))
            except Refused as e:
                error, status = str(e), self.refused_status(e)
        self.render_view("search.html", "partials/_search_results.html", status=status, peer=peer, q=text,
                         found=found, error=error, pairs={peer: pair_key(self.current_user, peer)})


class SearchHandler(ChatBase):
    """GET /search?q=<words>[&from=&to=&before=]: matches in all of one's conversations, naming
    the peer, newest first; each search opens a bounded number of files (parlor/chat/search.py),
    and links on to older matches and to the conversations it did not reach."""

    async def get(self) -> None:
        text = self.get_query_argument("q", "")
        found, error, status = None, None, 200
        if text.strip():
            try:
                start = self.int_argument("from", 0, MAX_WHOLE_NUMBER, default=0, message="from must be a whole number.")
                end = self.int_argument("to", 0, MAX_WHOLE_NUMBER, default=-1, message="to must be a whole number.")
                found = await self.application.search.everywhere(
                    self.current_user, text, start, None if end < 0 else end, self.get_query_argument("before", None))
            except Refused as e:
                error, status = str(e), self.refused_status(e)
        pairs = {m.peer: pair_key(self.current_user, m.peer) for m in found.matches} if found else {}
        self.render_view("search.html", "partials/_search_results.html", status=status, peer=None, q=text,
                         found=found, error=error, pairs=pairs)
