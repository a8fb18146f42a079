"""/admin: what admins see and do (parlor/community/moderation.py does it, and keeps the audit log).
Everyone else gets the same 404 as an address that does not exist: the pages are not advertised.
Every page and form works without JavaScript; every form carries the XSRF token."""
from __future__ import annotations

from urllib.parse import quote

from parlor.accounts.suspensions import LENGTHS
from parlor.community.account_list import ACCOUNTS_PAGE
from parlor.refusals import Refused

from .base import STATUS_MESSAGES, BaseHandler
from .inputs import safe_next, whole_number

LOG_PAGE = 100  # audit entries per page
MAX_LOG_OFFSET = 9_999_999  # entries; deeper than any audit log, refused before it is read
MAX_LIST_OFFSET = 9_999_999  # accounts; deeper than any account list, refused before it is read
REPORTS_SHOWN = 100  # open reports listed at once, newest first
# The invite form's choices of how long a link lasts (seconds -> words); within parlor/accounts/invites.py's bounds.
INVITE_EXPIRIES = {3600: "1 hour", 6 * 3600: "6 hours", 86400: "1 day", 3 * 86400: "3 days", 7 * 86400: "1 week",
                   14 * 86400: "2 weeks", 30 * 86400: "30 days"}


class AdminBase(BaseHandler):
    """Admins only; anyone else (anonymous, a token, a signed-in user, a former admin) gets 404."""

    async def prepare(self) -> None:
        await super().prepare()
        if not await self.application.admins.is_admin(self.current_user):
            raise Refused("not_found", STATUS_MESSAGES[404])
        self.is_admin = True
        self.open_reports = await self.application.reports.open_count()

    @property
    def moderation(self):
        return self.application.moderation

    def form(self, name: str) -> str:
        return self.get_body_argument(name, "")

    def site_url(self) -> str:
        """This site's address as the browser reached it, for links an admin passes on."""
        return f"{self.request.protocol}://{self.request.host}"


class AdminHandler(AdminBase):
    """GET /admin: the sign-up mode, what waits (reports, invites), suspensions, the boards' top
    entries with Remove, and the forms to make an account and to find one."""

    async def get(self) -> None:
        await self.show()

    async def show(self, status: int = 200, notice: str | None = None, error: str | None = None) -> None:
        app = self.application
        views = [await app.board_views.view(board) for board in app.config.boards]
        self.render_view("admin.html", "partials/_admin.html", status=status, notice=notice, error=error,
                         open_reports=await app.reports.open_count(), suspensions=await app.suspensions.all(),
                         views=views, config=app.config)


class AdminAccountsHandler(AdminHandler):
    """GET /admin/accounts?prefix=&offset=: every account, newest first (or those whose name starts
    with prefix), a page at a time, each with its standing and a link to it. POST (username,
    password): an account, whatever the sign-up mode, then the overview."""

    async def get(self) -> None:
        offset = self.int_argument("offset", 0, MAX_LIST_OFFSET, default=0, message="offset must be a whole number.")
        prefix = self.get_query_argument("prefix", "")
        page = await self.application.account_list.page(prefix, offset)
        self.render_view("admin_accounts.html", "partials/_admin_accounts.html", accounts=page, offset=offset,
                         prefix=prefix.strip().lower(), page_size=ACCOUNTS_PAGE)

    async def post(self) -> None:
        try:
            name = await self.moderation.create_account(self.current_user, self.form("username"), self.form("password"))
        except Refused as e:
            await self.show(self.refused_status(e), error=str(e))
            return
        await self.show(notice=f"The account {name} was made. Give its password to its owner.")


class AdminUserLookupHandler(AdminBase):
    """GET /admin/users?name=: the find-an-account form goes to that account's page."""

    def get(self) -> None:
        name = self.get_query_argument("name", "").strip().lower()
        self.redirect(f"/admin/users/{quote(name, safe='')}" if name else "/admin", status=303)


class AdminUserHandler(AdminBase):
    """GET /admin/users/<name>: an account's standing (admin, suspended), with Suspend, Lift and
    a password-reset link."""

    async def user_or_404(self, raw_name: str) -> str:
        return await self.moderation.user(raw_name)

    async def get(self, raw_name: str) -> None:
        await self.show(await self.user_or_404(raw_name))

    async def show(self, name: str, status: int = 200, notice: str | None = None, error: str | None = None,
                   reset_token: str | None = None) -> None:
        self.render_view("admin_user.html", "partials/_admin_user.html", status=status, user=name, notice=notice,
                         error=error, reset_token=reset_token, lengths=LENGTHS, base=self.site_url(),
                         admin=await self.application.admins.is_admin(name),
                         suspension=await self.application.suspensions.get(name))


class AdminSuspensionHandler(AdminUserHandler):
    """POST /admin/users/<name>/suspension: action=suspend (length, reason) or lift (reason)."""

    async def post(self, raw_name: str) -> None:
        name = await self.user_or_404(raw_name)
        action = self.form("action")
        try:
            if action == "suspend":
                suspension = await self.moderation.suspend(self.current_user, name, self.form("length"), self.form("reason"))
                notice = f"{name} is suspended {suspension.until_text}; their sessions and open pages have ended."
            elif action == "lift":
                await self.moderation.lift(self.current_user, name, self.form("reason"))
                notice = f"The suspension of {name} is lifted."
            else:
                raise Refused("invalid", "action must be suspend or lift.")
        except Refused as e:
            await self.show(name, self.refused_status(e), error=str(e))
            return
        if self.get_body_argument("next", None):
            self.redirect(safe_next(self.form("next"), "/admin"), status=303)
            return
        await self.show(name, notice=notice)


class AdminResetLinkHandler(AdminUserHandler):
    """POST /admin/users/<name>/reset-link: a one-time password-reset link, shown only now."""

    async def post(self, raw_name: str) -> None:
        name = await self.user_or_404(raw_name)
        try:
            token = await self.moderation.reset_link(self.current_user, name)
        except Refused as e:  # an admin's account: only on the server's console
            await self.show(name, self.refused_status(e), error=str(e))
            return
        await self.show(name, reset_token=token)


class AdminReportsHandler(AdminBase):
    """GET /admin/reports: the open reports, newest first, each with the copy it keeps."""

    async def get(self) -> None:
        await self.show()

    async def show(self, status: int = 200, notice: str | None = None, error: str | None = None) -> None:
        reports, total = await self.application.reports.open_reports(REPORTS_SHOWN)
        self.render_view("admin_reports.html", "partials/_admin_reports.html", status=status, reports=reports,
                         total=total, notice=notice, error=error, lengths=LENGTHS)


class AdminReportHandler(AdminReportsHandler):
    """POST /admin/reports/<id>: action=dismiss (reason), delete (the reported message) or
    suspend (length, reason: the reported person). A GET shows the open reports."""

    async def get(self, report_id: str) -> None:
        await self.show()

    async def post(self, report_id: str) -> None:
        action, moderation, admin = self.form("action"), self.moderation, self.current_user
        try:
            if action == "dismiss":
                report = await moderation.dismiss_report(admin, report_id, self.form("reason"))
                notice = f"The report on {report.reported} was dismissed."
            elif action == "delete":
                report = await moderation.delete_reported_message(admin, report_id)
                notice = f"The message of {report.reported} was deleted."
            elif action == "suspend":
                report = await moderation.suspend_reported(admin, report_id, self.form("length"), self.form("reason"))
                notice = f"{report.reported} is suspended."
            else:
                raise Refused("invalid", "action must be dismiss, delete or suspend.")
        except Refused as e:
            await self.show(self.refused_status(e), error=str(e))
            return
        await self.show(notice=notice)


class AdminReportPictureHandler(AdminBase):
    """GET /admin/reports/<id>/picture: the copy of the reported picture a report keeps."""

    async def get(self, report_id: str) -> None:
        picture = await self.application.reports.picture(report_id)
        if picture is None:
            raise Refused("not_found", "This report keeps no picture.")
        self.set_header("Content-Type", "image/jpeg")
        self.set_header("Content-Security-Policy", "sandbox")
        self.set_header("Cache-Control", "no-store")
        self.finish(picture)


class AdminInvitesHandler(AdminBase):
    """GET /admin/invites: every invite with its uses; POST: a new one (uses, expiry, note), then
    back to the list."""

    async def get(self) -> None:
        await self.show()

    async def show(self, status: int = 200, notice: str | None = None, error: str | None = None) -> None:
        invites = await self.application.invites.all()
        self.render_view("admin_invites.html", "partials/_admin_invites.html", status=status, invites=invites,
                         notice=notice, error=error, base=self.site_url(), expiries=INVITE_EXPIRIES)

    async def post(self) -> None:
        try:
            invite = await self.moderation.make_invite(self.current_user, self.form("uses"), self.form("expiry"),
                                                       self.form("note"))
        except Refused as e:
            await self.show(self.refused_status(e), error=str(e))
            return
        # Then a GET of the list, the new one first: reloading that page makes no second invite.
        self.redirect(f"/admin/invites#invite-{invite.code}", status=303)


class AdminInviteRevokeHandler(AdminInvitesHandler):
    """POST /admin/invites/<code>/revoke: the link makes no more accounts. A GET shows the invites."""

    async def get(self, code: str) -> None:
        await self.show()

    async def post(self, code: str) -> None:
        try:
            await self.moderation.revoke_invite(self.current_user, code)
        except Refused as e:
            await self.show(self.refused_status(e), error=str(e))
            return
        await self.show(notice="The invite was revoked.")


class AdminLogHandler(AdminBase):
    """GET /admin/log?offset=: the audit log, newest first."""

    async def get(self) -> None:
        offset = self.int_argument("offset", 0, MAX_LOG_OFFSET, default=0, message="offset must be a whole number.")
        entries, total = await self.application.audit.entries(offset, LOG_PAGE)
        self.render_view("admin_log.html", "partials/_admin_log.html", entries=entries, total=total, offset=offset,
                         page=LOG_PAGE)


class AdminBoardEntryHandler(AdminBase):
    """GET /admin/boards/<max>/remove?member=&next=: asks to confirm, with an optional reason (and,
    for a guest, whether to ban the name). POST (member, ban=1, reason, next): the entry leaves
    the board, on every open board page at once."""

    async def get(self, raw_board: str) -> None:
        board = whole_number(raw_board) or 0  # no board: refused as such
        member = self.get_query_argument("member", "")
        name, guest = await self.moderation.board_entry(board, member)
        self.render_view("admin_board_remove.html", "partials/_admin_board_remove.html", board=board, member=member,
                         shown=name, guest=guest, next=safe_next(self.get_query_argument("next", None), "/admin"))

    async def post(self, raw_board: str) -> None:
        board = whole_number(raw_board) or 0  # no board: refused as such
        await self.moderation.remove_entry(self.current_user, board, self.form("member"),
                                           self.form("ban") == "1", self.form("reason"))
        target = safe_next(self.get_body_argument("next", None), "/admin")
        self.redirect(target, status=303)
