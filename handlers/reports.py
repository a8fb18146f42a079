"""Reporting a message, or a person, to the admins (parlor/community/reports.py keeps the report and its copy).
Both are a page with a form, reached by a plain link: with or without JavaScript, in w3m too."""
from __future__ import annotations

from parlor.community.reports import MAX_REPORT_TEXT, REASONS
from parlor.refusals import Refused

from .chat import ChatBase


class ReportBase(ChatBase):
    """The form (GET) and the report (POST); the reporter is told it was received, never what an
    admin did about it."""

    async def show(self, peer: str, message_id: int | None, status: int = 200, error: str | None = None,
                   received: bool | None = None, reason: str = "", text: str = "") -> None:
        """The form (with the message it is about, and a reason a report was refused), or, once
        made, that it was received."""
        message = None
        if message_id is not None and received is None:
            message = await self.application.reports.message(self.current_user, peer, message_id)
        elif received is None:  # the form about a person: only someone one talked with
            await self.application.reports.check_person(self.current_user, peer)
        self.render_view("report.html", "partials/_report.html", status=status, peer=peer, message=message,
                         message_id=message_id, reasons=REASONS, max_text=MAX_REPORT_TEXT, error=error,
                         received=received, reason=reason, text=text)

    async def report(self, peer: str, message_id: int | None) -> None:
        reason, text = self.get_body_argument("reason", ""), self.get_body_argument("text", "")
        try:
            new = await self.application.reports.file(self.current_user, peer, message_id, reason, text)
        except Refused as e:
            if e.kind == "not_found":
                raise
            await self.show(peer, message_id, self.refused_status(e), error=str(e), reason=reason, text=text)
            return
        await self.show(peer, message_id, received=new)


class ReportMessageHandler(ReportBase):
    """/chat/<peer>/messages/<id>/report: a message of the peer's in my conversation with them."""

    async def get(self, raw_peer: str, raw_id: str) -> None:
        await self.show(await self.peer_or_error(raw_peer), int(raw_id))

    async def post(self, raw_peer: str, raw_id: str) -> None:
        await self.report(await self.peer_or_error(raw_peer), int(raw_id))


class ReportPersonHandler(ReportBase):
    """/chat/<peer>/report: the person; the report keeps the conversation's latest messages."""

    async def get(self, raw_peer: str) -> None:
        await self.show(await self.peer_or_error(raw_peer), None)

    async def post(self, raw_peer: str) -> None:
        await self.report(await self.peer_or_error(raw_peer), None)
