"""Sign up, log in, log out, and the account page (the API token)."""
from __future__ import annotations

from parlor.users import AccountError, LoginThrottled, UsernameTaken

from .base import BaseHandler, ClientError, safe_next


class SignupHandler(BaseHandler):
    def get(self) -> None:
        self.render_view("signup.html", "partials/_signup_form.html",
                         username="", error=None, next=safe_next(self.get_argument("next", None)))

    async def post(self) -> None:
        username = self.get_body_argument("username", "")
        next_path = safe_next(self.get_body_argument("next", None))
        try:
            user = await self.application.accounts.sign_up(username, self.get_body_argument("password", ""))
        except AccountError as e:
            self.render_view("signup.html", "partials/_signup_form.html",
                             status=409 if isinstance(e, UsernameTaken) else 400,
                             username=username, error=str(e), next=next_path)
            return
        await self.sign_in(user)
        self.redirect_after_post(next_path)


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
        except AccountError as e:
            status = 400
            if isinstance(e, LoginThrottled):
                status = 429
                self.set_header("Retry-After", str(e.retry_after))
            self.render_view("login.html", "partials/_login_form.html",
                             status=status, username=username, error=str(e), next=next_path)
            return
        await self.sign_in(user)
        self.redirect_after_post(next_path)


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        await self.sign_out()
        self.redirect_after_post("/")


class AccountHandler(BaseHandler):
    """/account: the API token that scripts and other sites' pages use (JSONP, /api/messages)."""

    async def prepare(self) -> None:
        await super().prepare()
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/login?next=/account")
                return
            raise ClientError(401, "Please log in first.")

    async def get(self) -> None:
        await self.show()

    async def show(self, new_token: str | None = None, notice: str | None = None) -> None:
        has_token = new_token is not None or await self.application.accounts.has_api_token(self.current_user)
        self.render_view("account.html", "partials/_account.html", has_token=has_token,
                         new_token=new_token, notice=notice)


class ApiTokenHandler(AccountHandler):
    """POST /account/token: action=new (shown once, replaces the old one) or action=revoke."""

    async def post(self) -> None:
        action = self.get_body_argument("action", "")
        accounts = self.application.accounts
        if action == "new":
            await self.show(new_token=await accounts.new_api_token(self.current_user))
        elif action == "revoke":
            revoked = await accounts.revoke_api_token(self.current_user)
            await self.show(notice="Your API token was revoked." if revoked else "You had no API token.")
        else:
            raise ClientError(400, "action must be new or revoke.")
