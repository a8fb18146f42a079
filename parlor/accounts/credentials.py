"""Credentials that need the current password or a reset link: changing the password, a new API
token, setting a password through an admin's one-time link; each ends the sessions it must."""
from __future__ import annotations

import time
from dataclasses import dataclass

from parlor.accounts.accounts import Accounts, check_password, token_key
from parlor.accounts.password_resets import PasswordResets, ResetLink, ResetNotice
from parlor.accounts.sessions import Sessions, session_key
from parlor.refusals import Kind, Refused

RESET_LINK_GONE = "This link cannot be used: it was used already, or has expired, or a newer one replaced it."


def live_credential(token: str | None, session_id: str | None) -> str | None:
    """What a live connection's life hangs on (Hub.join's credential): its API token if it came
    with one, else its session; its end (logout, expiry, a revoked token) ends the connection."""
    if token is not None:
        return token_key(token)
    return session_key(session_id) if session_id else None


@dataclass(frozen=True, eq=False)
class Credentials:
    """Password and token changes, each checked and throttled as a login is."""

    accounts: Accounts
    sessions: Sessions
    resets: PasswordResets

    async def change_password(self, user: str, current: str, new: str, address: str, keep_session: str) -> int:
        """Check the current password (failures count like failed logins), set the new one, end
        the API token and every other session of the user, their live pages too; returns how
        many sessions ended."""
        check_password(new)
        await self.check(user, current, address, "That is not your current password.")
        await self.accounts.set_password(user, new)
        return len(await self.sessions.end_all(user, keep=keep_session))

    async def reset_link(self, token: str) -> ResetLink | None:
        """The reset link, if it can still be used."""
        return await self.resets.find(token)

    async def reset_password(self, token: str, new: str) -> ResetLink:
        """Set a new password with a one-time link an admin made (parlor/accounts/password_resets.py):
        the password is hashed first, then the link used up in one step (of several tries at once,
        one gets it), then the password set; every session of the user ends (their open pages too)
        and their API token, and the owner is told at their next login. Returns the link."""
        password_hash = await self.accounts.password_hash(new)
        link = await self.resets.use(token)
        if link is None:
            raise Refused("not_found", RESET_LINK_GONE)
        notice = ResetNotice(link.made_by, int(time.time() * 1000))
        await self.accounts.store_password_hash(link.user, password_hash, notice.stored())
        await self.sessions.end_all(link.user)
        return link

    async def new_api_token(self, user: str, password: str, address: str) -> str:
        """Check the password (failures count like failed logins; a stolen session alone cannot
        mint a lasting credential), then make a new API token, ending the old one."""
        if not password:
            raise Refused(Kind.INVALID, "Give your password to make a token.")
        await self.check(user, password, address, "That is not your password.")
        return await self.accounts.new_api_token(user)

    async def check(self, user: str, password: str, address: str, wrong: str) -> None:
        """The user's password, checked and throttled as a login is."""
        try:
            await self.accounts.log_in(user, password, address)
        except Refused as e:
            if e.kind in (Kind.TOO_MANY, Kind.UNAVAILABLE):  # try later: said as it is
                raise
            raise Refused(Kind.INVALID, wrong) from None
