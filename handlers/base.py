"""BaseHandler: sessions, page-or-fragment rendering, security headers, and errors people can read."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import traceback
from http import HTTPStatus

import tornado.log
import tornado.web
from markupsafe import Markup

from parlor.chat.pair_file import StorageFailed
from parlor.infra.redis_client import REDIS_DOWN
from parlor.refusals import Kind, Refused

from .headers import PRIVATE_CACHE_CONTROL, SECURITY_HEADERS, transport_headers
from .inputs import nests_deeper, whole_number

log = logging.getLogger("parlor.web")

SESSION_COOKIE = "parlor_session"
SESSION_COOKIE_DAYS = 31  # a little over the Redis session's own TTL; Redis decides
MAX_FORM_BYTES = 64 * 1024  # a form never needs more; an upload handler sets its own limit
MAX_URL_CHARS = 8192  # no address of ours comes near; longer is an attack or a broken client
MAX_JSON_DEPTH = 8  # our JSON bodies are one flat object; deeper only attacks the parser (RecursionError)

STATUS_MESSAGES = {
    400: "That request was not understood.",
    401: "Please log in first.",
    403: "That was refused. If you were sending a form, reload the page and try again.",
    404: "There is nothing here.",
    405: "This address does not accept that kind of request.",
    409: "That conflicts with what is already there.",
    413: "That is more data than this address accepts.",
    414: "That address is too long.",
    429: "Too many tries. Please wait a little and try again.",
    500: "Something went wrong on our side. It has been logged.",
    503: "Parlor cannot reach its database right now. Please try again in a moment.",
}
STORAGE_FAILED = "Parlor cannot store that right now: its disk is full or failing. Please try again later."

# An API token or a password-reset link's (token=), a form's XSRF token (the chat form sends it in
# the URL), an invite code: whoever reads the log must not be able to use them.
SECRET_IN_URL_RE = re.compile(r"([?&])(token|_xsrf|invite)=[^&\s]*")


def hide_secrets(uri: str) -> str:
    return SECRET_IN_URL_RE.sub(r"\1\2=[hidden]", uri)


# The one place a refusal's kind becomes an HTTP status: pages, fragments, JSON and JSONP alike.
STATUS_OF_KIND = {
    Kind.INVALID: 400,
    Kind.UNAUTHENTICATED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.GONE: 410,
    Kind.TOO_LARGE: 413,
    Kind.TOO_LONG: 414,
    Kind.UNSUPPORTED: 415,
    Kind.TOO_MANY: 429,
    Kind.UNAVAILABLE: 503,
}
assert STATUS_OF_KIND.keys() == set(Kind), "every kind of refusal has its status"


def refusal_status(refused: Refused) -> int:
    """The HTTP status a refusal is answered with."""
    return STATUS_OF_KIND[refused.kind]


class SessionMixin:
    """Finds the visitor's session from the signed cookie; shared by pages and the WebSocket."""

    session_id: str | None = None
    session: dict[str, str] | None = None

    async def load_session(self) -> None:
        # A cookie that fails its signature (tampered, or signed with another key) reads as None:
        # the visitor is simply signed out.
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_COOKIE_DAYS)
        if not raw:
            return
        session_id = raw.decode("ascii", "replace")
        data = await self.application.sessions.load(session_id)
        if data:
            self.session_id, self.session = session_id, data
            self.current_user = data.get("user")


class BaseHandler(SessionMixin, tornado.web.RequestHandler):
    max_body_bytes = MAX_FORM_BYTES
    accepts_token = False  # the API endpoints only: elsewhere a token is ignored, the cookie rules
    renders_pages = True  # whole pages carry the cursor their live connection resumes from
    live_cursor: str | None = None  # a page's live connection resumes after this event id
    is_admin = False  # the signed-in viewer of a whole page is an admin (the header links /admin)
    unread_total = 0  # messages the signed-in viewer of a whole page has not read (the Chat link's badge)
    muted: dict[str, int] = {}  # whom the signed-in viewer of a whole page mutes, until when in ms (never changed in place)
    open_reports = 0  # for an admin's page: the open reports, shown beside the Admin link
    answers_json = False  # endpoints that answer JSON answer their errors in JSON too

    def set_default_headers(self) -> None:
        self._headers.update(SECURITY_HEADERS)
        self._headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
        self._headers.update(transport_headers(self))

    _counted = False

    async def prepare(self) -> None:
        self.application.in_flight += 1  # a stopping server waits for these to finish
        self._counted = True
        self.check_sizes()
        token = self.api_token()
        if token is not None:
            # A token request is the token's user and no one else: the cookie is not even read.
            self.current_user = await self.application.accounts.user_for_token(token)
            if self.current_user is None:
                raise Refused("unauthenticated", "That API token is not valid (it may have been replaced).")
            return
        await self.load_session()
        if self.current_user and self.renders_pages and self.request.method == "GET" and not self.wants_fragment():
            # Read before the page's data: events after this id reach the page when its live
            # connection opens, even those that come before it does.
            app = self.application
            self.live_cursor, self.is_admin, (self.unread_total, self.muted) = await asyncio.gather(
                app.hub.events.cursor(self.current_user), app.admins.is_admin(self.current_user),
                app.chat.page_state(self.current_user))  # independent reads: one wait, not three
            self.open_reports = await app.reports.open_count() if self.is_admin else 0
        if self.session and self.application.sessions.needs_renewal(self.session):
            # The session lives on from now, and its cookie with it: at most once every RENEW_AFTER_S.
            await self.application.sessions.renewed(self.session_id, self.session)
            self._set_session_cookie(self.session_id)

    def api_token(self) -> str | None:
        """The API token of a script or another site's page: `Authorization: Bearer …` or `token=`,
        on the endpoints made for them only. Anywhere else a token would let a forged form skip
        XSRF (logging a victim into the forger's account) and reach more than the API."""
        if not self.accepts_token:
            return None
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer "):].strip()
        return self.get_query_argument("token", None)

    def check_xsrf_cookie(self) -> None:
        # A body over the route's limit was not read (BodyLimit), its _xsrf field with it: it is
        # answered 413 for its size, not 403 for the token it could not show.
        self.check_sizes()
        # XSRF rides on cookies; a request carrying an API token is authenticated by that token
        # alone (prepare() ignores the cookie), so a forged one gains nothing from the visitor's.
        if self.api_token() is not None:
            return
        super().check_xsrf_cookie()

    def on_finish(self) -> None:
        self.stop_counting()

    def stop_counting(self) -> None:
        """This request is no longer in flight: finished, or its client left before it ran."""
        if self._counted:
            self.application.in_flight -= 1
            self._counted = False

    def check_sizes(self) -> None:
        """414 for an over-long address; 413 from the declared length (or the length of a chunked
        body), with a message (Tornado's own limit answers a bare 400). Tornado closes
        connections whose headers pass 64 KiB."""
        if len(self.request.uri) > MAX_URL_CHARS:
            raise Refused("too_long", f"That address is too long: at most {MAX_URL_CHARS} characters.")
        declared = self.request.headers.get("Content-Length")
        if declared is None:
            self.check_body_size()
            return
        if (length := whole_number(declared)) is None:
            raise Refused("invalid", "The Content-Length header is not a number.")
        if length > self.max_body_bytes:
            raise Refused("too_large", self.too_large_message())

    def check_body_size(self) -> None:
        """413 for a body over the limit that declared no length (chunked): Tornado read it whole,
        up to the server's MAX_REQUEST_BYTES, before prepare()."""
        if len(self.request.body) > self.max_body_bytes:
            raise Refused("too_large", self.too_large_message())

    def int_argument(self, name: str, low: int, high: int, default: int | None = None,
                     message: str | None = None) -> int:
        """The query or form argument `name` as a whole number from `low` to `high` (whole_number);
        `default` when it is absent (none: it must be there), else 400 with `message`."""
        raw = self.get_argument(name, None)
        value = default if raw is None else whole_number(raw, low, high)
        if value is None:
            raise Refused("invalid", message or f"{name} must be a whole number from {low} to {high}.")
        return value

    def json_body(self) -> object:
        """The request's body as JSON; 400 with a message if it is not JSON, or nests deeper than
        MAX_JSON_DEPTH (a few KiB of "[" would otherwise exhaust the parser's recursion)."""
        try:
            text = self.request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("invalid", "The body is not valid JSON.") from None
        if nests_deeper(text, MAX_JSON_DEPTH):
            raise Refused("invalid", f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.")
        try:
            return json.loads(text)
        except ValueError:
            raise Refused("invalid", "The body is not valid JSON.") from None

    def too_large_message(self) -> str:
        return f"That is too much data: this address accepts at most {self.max_body_bytes // 1024} KiB."

    # -- sessions --------------------------------------------------------------------------

    def set_cookie(self, name: str, value, **kwargs) -> None:
        # Eavesdropping: a cookie set over https (directly, or behind a proxy that says so
        # with --xheaders) is never sent back over plain http. The XSRF cookie too.
        if self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_cookie(name, value, **kwargs)

    def _set_session_cookie(self, session_id: str) -> None:
        self.set_signed_cookie(
            SESSION_COOKIE, session_id, expires_days=SESSION_COOKIE_DAYS, httponly=True, samesite="Lax",
        )

    async def ensure_session(self) -> dict[str, str]:
        """The visitor's session, made now if they have none yet."""
        if self.session is None:
            self.session_id, self.session = await self.application.sessions.create()
            self._set_session_cookie(self.session_id)
        return self.session

    async def sign_in(self, user: str) -> None:
        """Start a signed-in session under a new id, carrying a guest session's data over (its
        running games); someone else's signed-in session is ended, never carried over."""
        carry = self.session_id
        if self.session and self.session.get("user") not in (None, user):
            await self.application.sessions.end(self.session_id)
            carry = None
        self.session_id, self.session = await self.application.sessions.rotate(carry, user=user)
        self._set_session_cookie(self.session_id)
        self.current_user = user

    async def sign_out(self) -> None:
        if self.session_id:
            await self.application.sessions.end(self.session_id)
        self.clear_cookie(SESSION_COOKIE)
        self.session_id = self.session = self.current_user = None

    # -- rendering -------------------------------------------------------------------------

    def wants_fragment(self) -> bool:
        """htmx asked for a piece of a page; a history restore wants the whole page."""
        headers = self.request.headers
        return headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in headers

    def template_context(self) -> dict:
        return {
            "current_user": self.current_user,
            "xsrf_token": self.xsrf_token.decode("ascii"),
            "xsrf_form_html": Markup(self.xsrf_form_html()),
            "static_url": self.static_url,
            "online_count": self.application.hub.online_count,
            "config_boards": self.application.config.boards,
            "path": self.request.path,
            "live_cursor": self.live_cursor,
            "is_admin": self.is_admin,
            "unread_total": self.unread_total,
            "muted": self.muted,
            "reports_waiting": self.open_reports,
            "signup_mode": self.application.config.signup,
        }

    def render_template(self, name: str, **context) -> str:
        template = self.application.templates.get_template(name)
        return template.render(**self.template_context(), **context)

    def render_view(self, page_template: str, fragment_template: str, status: int = 200, **context) -> None:
        """Send the whole page, or only its fragment when htmx asks; one template renders both."""
        self.set_status(status)
        self.add_header("Vary", "HX-Request")
        template = fragment_template if self.wants_fragment() else page_template
        self.finish(self.render_template(template, **context))

    def redirect_after_post(self, target: str) -> None:
        """POST-then-redirect; htmx follows HX-Redirect to load the whole page."""
        if self.wants_fragment():
            self.set_header("HX-Redirect", target)
            self.finish()
        else:
            self.redirect(target, status=303)

    def write_json(self, payload: object, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload))

    # -- errors ----------------------------------------------------------------------------

    def refused_status(self, refused: Refused) -> int:
        """The status of a refusal that a handler answers with its own page (the form again, with
        the reason), Retry-After set when waiting helps."""
        if getattr(refused, "retry_after", None):
            self.set_header("Retry-After", str(refused.retry_after))
        return refusal_status(refused)

    def error_status(self, status_code: int, exc: BaseException | None) -> tuple[int, str]:
        """The status and the message for the person of an error answer, the status set (and
        Retry-After when waiting helps): a refusal's from its kind, 503 for a store that is down."""
        if isinstance(exc, Refused):
            status_code = self.refused_status(exc)
            self.set_status(status_code)
            return status_code, exc.message
        if isinstance(exc, (*REDIS_DOWN, StorageFailed)):
            self.set_status(503)
            self.set_header("Retry-After", "5")
            return 503, STORAGE_FAILED if isinstance(exc, StorageFailed) else STATUS_MESSAGES[503]
        return status_code, STATUS_MESSAGES.get(status_code, HTTPStatus(status_code).phrase)

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status_code, message = self.error_status(status_code, exc)
        detail = None
        if self.settings.get("serve_traceback") and "exc_info" in kwargs and status_code >= 500:
            detail = "".join(traceback.format_exception(*kwargs["exc_info"]))
        self.clear_header("HX-Redirect")
        if self.answers_json:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            body = {"error": message, "status": status_code}
            if detail:
                body["traceback"] = detail
            self.finish(json.dumps(body))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        context = {"status": status_code, "message": message, "detail": detail}
        try:
            template = "partials/_error.html" if self.wants_fragment() else "error.html"
            self.finish(self.render_template(template, **context))
        except Exception:  # an error page must never fail in turn
            log.exception("rendering the error page failed")
            self.finish(f"<!doctype html><title>{status_code}</title><p>{status_code}</p>")

    def _request_summary(self) -> str:
        # Tornado's own log lines (a refused request, an uncaught exception) start with this.
        return f"{self.request.method} {hide_secrets(self.request.uri)} ({self.request.remote_ip})"

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, REDIS_DOWN):
            log.warning("%s: Redis unavailable (%s)", self._request_summary(), value)
        elif isinstance(value, StorageFailed):
            log.error("%s: a chat file could not be written (%s)", self._request_summary(), value)
        elif isinstance(value, Refused):  # one line, as Tornado logs its own HTTPError
            tornado.log.gen_log.warning("%d %s: %s", refusal_status(value), self._request_summary(), value.message)
        elif isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)  # one line, from _request_summary
        else:  # Tornado's own would add repr(self.request), whose uri may hold a token
            tornado.log.app_log.error("Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))


class NotFoundHandler(BaseHandler):
    """Every unknown address: a 404 page, whatever the method."""

    async def prepare(self) -> None:
        await super().prepare()
        raise Refused("not_found", STATUS_MESSAGES[404])
