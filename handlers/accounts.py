"""Sign up, log in, log out."""
from __future__ import annotations

from parlor.users import AccountError, LoginThrottled, UsernameTaken

from .base import BaseHandler, safe_next


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
