"""The API for scripts and other sites' pages, authenticated by the user's API token alone."""
from __future__ import annotations

from parlor.refusals import Refused
from parlor.web.views.chat import message_json

from .base import BaseHandler
from .inputs import MAX_WHOLE_NUMBER, whole_number


class ApiMessagesHandler(BaseHandler):
    """POST /api/messages with to=, body= and an optional client_id= and reply_to= (a form or a
    JSON object): sends a text message as the token's user, answering message reply_to if given.
    A resend with the same client_id is stored once."""

    accepts_token = True

    answers_json = True

    def check_xsrf_cookie(self) -> None:
        # Tornado checks XSRF before prepare(). This API reads no cookie, so a request without a
        # token gets what it lacks (401), not a 403 about a form.
        if self.api_token() is None:
            raise Refused("unauthenticated", "This API needs your API token: Authorization: Bearer <token>, or token=.")

    def fields(self) -> dict[str, str | None]:
        names = ("to", "body", "client_id", "reply_to")
        if self.request.headers.get("Content-Type", "").split(";")[0].strip() == "application/json":
            data = self.json_body()
            if isinstance(data, dict) and type(data.get("reply_to")) is int:
                data["reply_to"] = str(data["reply_to"])  # a message number, as a script writes it
            if not isinstance(data, dict) or not all(isinstance(data.get(n, ""), str) for n in names):
                raise Refused("invalid", 'Send a JSON object like {"to": "bob", "body": "hello"}.')
            return {n: data.get(n) for n in names}
        return {n: self.get_body_argument(n, None) for n in names}

    async def post(self) -> None:
        fields = self.fields()
        chat = self.application.chat
        peer = await chat.peer(self.current_user, fields["to"] or "")
        reply_to = None
        if fields["reply_to"]:
            reply_to = whole_number(fields["reply_to"], 1, MAX_WHOLE_NUMBER)
            if reply_to is None:
                raise Refused("invalid", "reply_to must be a message number.")
        message, created = await chat.send(self.current_user, peer, fields["body"], fields["client_id"],
                                           reply_to=reply_to)
        self.write_json({"created": created, "to": peer, "message": message_json(message, peer)},
                        201 if created else 200)
