"""Sign up, log in, log out, and the account page: password, API token, blocked people, a
download of one's data, and leaving."""
from __future__ import annotations

import time

from parlor.accounts.credentials import RESET_LINK_GONE
from parlor.refusals import Kind, Refused

from .base import SESSION_COOKIE, BaseHandler
from .inputs import safe_next

# Refusals of what a form says, or of when it came: the form again, with the reason beside it.
# Any other kind refuses the form itself (sign-up closed, an invite or a reset link gone).
FORM_KINDS = frozenset({Kind.INVALID, Kind.CONFLICT, Kind.TOO_MANY, Kind.UNAVAILABLE})


class SignupHandler(BaseHandler):
    """/signup, as --signup allows: open to anyone, with an invite (?invite=<code>, then the form's
    invite field), or closed (admins make accounts). A link that cannot be used says why."""

    async def get(self) -> None:
        invite = self.get_query_argument("invite", "") or None
        next_path = safe_next(self.get_argument("next", None))
        try:
            await self.application.accounts.check_signup(invite)
        except Refused as e:
            self.refuse(e, invite, next_path)
            return
        self.render_view("signup.html", "partials/_signup_form.html",
                         username="", error=None, next=next_path, invite=invite)

    async def post(self) -> None:
        username = self.get_body_argument("username", "")
        invite = self.get_body_argument("invite", "") or None
        next_path = safe_next(self.get_body_argument("next", None))
        try:
            user = await self.application.accounts.sign_up(
                username, self.get_body_argument("password", ""), self.request.remote_ip, invite)
        except Refused as e:
            if e.kind not in FORM_KINDS:
                self.refuse(e, invite, next_path)
                return
            self.render_view("signup.html", "partials/_signup_form.html", status=self.refused_status(e),
                             username=username, error=str(e), next=next_path, invite=invite)
            return
        await self.sign_in(user)
        self.redirect_after_post(next_path)

    def refuse(self, e: Refused, invite: str | None, next_path: str) -> None:
        """No form: the reason (closed, invitation only, or what became of the invite)."""
        self.render_view("signup.html", "partials/_signup_form.html", status=self.refused_status(e), refused=str(e),
                         username="", error=None, next=next_path, invite=invite)


class LoginHandler(BaseHandler):
    def get(self) -> None:
        self.render_view("login.html", "partials/_login_form.html",
                         username="", error=None, next=safe_next(self.get_argument("next", None)))

    async def post(self) -> None:
        username = self.get_body_argument("username", "")
        next_path = safe_next(self.get_body_argument("next", None))
        try:
            user = await self.application.accounts.log_in(
                username, self.get_body_argument("password", ""), self.request.remote_ip
            )
        except Refused as e:  # a suspended account too: said to whoever knows its password
            self.render_view("login.html", "partials/_login_form.html",
                             status=self.refused_status(e), username=username, error=str(e), next=next_path)
            return
        await self.sign_in(user)
        # An admin's link set the password since the owner last changed it: the account page tells them.
        reset = await self.application.accounts.reset_notice(user)
        self.redirect_after_post("/account#reset-notice" if reset else next_path)


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        await self.sign_out()
        self.redirect_after_post("/")


class AccountHandler(BaseHandler):
    """/account: the password, the API token that scripts and other sites' pages use (JSONP,
    /api/messages), the people one blocked, one's data, and leaving."""

    async def prepare(self) -> None:
        await super().prepare()
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/login?next=/account")
                return
            raise Refused("unauthenticated", "Please log in first.")

    async def get(self) -> None:
        await self.show()

    async def show(self, new_token: str | None = None, notice: str | None = None, status: int = 200,
                   errors: dict[str, str] | None = None) -> None:
        """The account page; `notice` says what was just done, `errors` maps a form to its reason."""
        has_token = new_token is not None or await self.application.accounts.has_api_token(self.current_user)
        blocked = await self.application.safety.blocked(self.current_user)
        reset = await self.application.accounts.reset_notice(self.current_user)
        self.render_view("account.html", "partials/_account.html", status=status, has_token=has_token,
                         new_token=new_token, notice=notice, blocked=blocked, errors=errors or {}, reset=reset)

    async def refuse(self, form: str, e: Refused) -> None:
        """The page again with the reason next to the form; 429 when too many tries were made.
        A refusal not of the form's input is answered as any other."""
        if e.kind not in FORM_KINDS:
            raise e
        await self.show(status=self.refused_status(e), errors={form: str(e)})


class ApiTokenHandler(AccountHandler):
    """POST /account/token: action=new with password= (shown once, replaces the old one) or
    action=revoke."""

    async def post(self) -> None:
        action = self.get_body_argument("action", "")
        accounts = self.application.accounts
        if action == "new":
            try:
                token = await self.application.credentials.new_api_token(
                    self.current_user, self.get_body_argument("password", ""), self.request.remote_ip)
            except Refused as e:
                await self.refuse("token", e)
                return
            await self.show(new_token=token)
        elif action == "revoke":
            revoked = await accounts.revoke_api_token(self.current_user)
            await self.show(notice="Your API token was revoked." if revoked else "You had no API token.")
        else:
            raise Refused("invalid", "action must be new or revoke.")


class PasswordHandler(AccountHandler):
    """POST /account/password: current= and new=; every other session of the user is signed
    out (their open pages too)."""

    async def post(self) -> None:
        try:
            ended = await self.application.credentials.change_password(
                self.current_user, self.get_body_argument("current", ""), self.get_body_argument("new", ""),
                self.request.remote_ip, self.session_id)
        except Refused as e:
            await self.refuse("password", e)
            return
        others = f" {ended} other session{'' if ended == 1 else 's'} of yours {'was' if ended == 1 else 'were'} signed out."
        await self.show(notice="Your password was changed." + (others if ended else ""))


class DataHandler(AccountHandler):
    """GET /account/data: a zip of one's conversations (JSON, pictures beside them) and games."""

    async def get(self) -> None:
        export = self.application.data_export
        await export.allow(self.current_user)  # over the limit: a 429 page, before any byte of the zip
        day = time.strftime("%Y-%m-%d", time.gmtime())
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="parlor-{self.current_user}-{day}.zip"')
        async for piece in export.archive(self.current_user):
            if piece:
                self.write(piece)
                await self.flush()  # the next page is read once this one left: memory stays flat
        self.finish()


class LeaveHandler(AccountHandler):
    """POST /account/delete with password=: the account is deleted, and this visitor signed out."""

    async def post(self) -> None:
        try:
            await self.application.leaving.leave(
                self.current_user, self.get_body_argument("password", ""), self.request.remote_ip)
        except Refused as e:
            await self.refuse("leave", e)
            return
        self.clear_cookie(SESSION_COOKIE)  # the session itself ended with the account
        self.redirect_after_post("/")


class PasswordResetHandler(BaseHandler):
    """/password-reset?token=: the one-time link an admin made (parlor/accounts/password_resets.py). GET shows the
    form; POST (token, new) sets the password, uses the link up and ends every session of the
    account."""

    async def get(self) -> None:
        token = self.get_query_argument("token", "")
        link = await self.application.credentials.reset_link(token)
        if link is None:
            raise Refused("not_found", RESET_LINK_GONE)
        self.render_view("password_reset.html", "partials/_password_reset.html", token=token, user=link.user,
                         error=None, done=False)

    async def post(self) -> None:
        token = self.get_body_argument("token", "")
        try:
            user = await self.application.moderation.reset_password(
                token, self.get_body_argument("new", ""), self.request.remote_ip)
        except Refused as e:
            if e.kind not in FORM_KINDS:  # the link is gone: no form
                raise
            link = await self.application.credentials.reset_link(token)
            self.render_view("password_reset.html", "partials/_password_reset.html", status=self.refused_status(e),
                             token=token, user=link.user if link else "", error=str(e), done=False)
            return
        self.render_view("password_reset.html", "partials/_password_reset.html", token="", user=user, error=None,
                         done=True)
