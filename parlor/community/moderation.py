"""What admins do on /admin, each checked and each an audit entry: accounts, invites, suspensions,
password-reset links, board entries and reports. (Admin rights themselves: parlor/community/admins.py.)"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from parlor.accounts.accounts import Accounts, normalize_username
from parlor.accounts.credentials import RESET_LINK_GONE, Credentials
from parlor.accounts.invites import Invite, Invites, check_invite_form
from parlor.accounts.password_resets import PasswordResets
from parlor.accounts.suspensions import LENGTHS, Suspension, Suspensions, check_suspension_form
from parlor.chat.chat import Chat
from parlor.community.admins import Admins
from parlor.community.audit import CONSOLE, EXPIRY, AuditLog
from parlor.community.reports import Report, Reports
from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import is_guest_entry
from parlor.refusals import Refused

INVITE_LABEL_CHARS = 6  # of an invite code's 22, in the audit log
ADMIN_RESET_ON_CONSOLE = ("{name} is an admin: a reset link for an admin's account is made only on the server "
                          "(parlor admin reset-link {name}).")
MAX_ACTION_REASON_CHARS = 500  # the optional reason of an action that needs none: a sentence or two for the log


def invite_label(code: str) -> str:
    """An invite as the audit log names it: enough of its code to tell it apart, too little to use
    it (the log is read by more people, and kept longer, than the link)."""
    return f"invite {code[:INVITE_LABEL_CHARS]}…"


def _optional_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_ACTION_REASON_CHARS or not reason.isprintable():
        raise Refused("invalid", f"A reason is at most {MAX_ACTION_REASON_CHARS} printable characters.")
    return reason


@dataclass(frozen=True, eq=False)
class Moderation:
    """The admin actions, over the services they act on. `admins` answers whether someone is
    an admin (parlor/community/admins.py)."""

    accounts: Accounts
    admins: Admins
    invites: Invites
    suspensions: Suspensions
    resets: PasswordResets
    credentials: Credentials
    leaderboards: Leaderboards
    reports: Reports
    chat: Chat
    audit: AuditLog

    async def user(self, raw_name: str) -> str:
        """The canonical name of an existing account, or Refused (not_found)."""
        try:
            name = normalize_username(raw_name)
        except Refused:
            raise Refused("not_found", "There is no account by that name.") from None
        if not await self.accounts.exists(name):
            raise Refused("not_found", "There is no account by that name.")
        return name

    # -- accounts ----------------------------------------------------------------------------

    async def create_account(self, admin: str, raw_name: str, password: str) -> str:
        """Make an account (whatever the sign-up mode, uncounted); its name."""
        name = await self.accounts.create(raw_name, password)
        await self.audit.record(admin, "made an account", name)
        return name

    async def reset_link(self, admin: str, raw_name: str) -> str:
        """A one-time password-reset link's token for a user (shown once; the old link ends). An
        admin's account gets one only from the server's console (Admins.reset_link): on the web,
        one admin could take over another."""
        name = await self.user(raw_name)
        if await self.admins.is_admin(name):
            raise Refused("forbidden", ADMIN_RESET_ON_CONSOLE.format(name=name))
        token = await self.resets.make(name, admin)
        await self.audit.record(admin, "made a password-reset link", name)
        return token

    async def reset_password(self, token: str, new: str, address: str) -> str:
        """Set a password with an admin's link (Credentials.reset_password), and keep in the audit
        log who made the link, when it was used and from where; the user's name. A link made on
        the web does not open an account that became an admin's since."""
        link = await self.credentials.reset_link(token)
        if link is not None and link.made_by != CONSOLE and await self.admins.is_admin(link.user):
            raise Refused("not_found", RESET_LINK_GONE)
        link = await self.credentials.reset_password(token, new)
        made = f"{datetime.fromtimestamp(link.made_ms / 1000, timezone.utc):%Y-%m-%d %H:%M} UTC" if link.made_ms else "?"
        await self.audit.record(link.made_by or "(unknown)", "password-reset link used for", link.user, "",
                                f"made {made}, used from {address}; every session and token of the account ended")
        return link.user

    # -- invites -----------------------------------------------------------------------------

    async def make_invite(self, admin: str, uses: str, expiry_s: str, note: str) -> Invite:
        count, seconds, note = check_invite_form(uses, expiry_s, note)
        invite = await self.invites.create(admin, count, seconds, note)
        await self.audit.record(admin, "made an invite", invite_label(invite.code), note,
                                f"{count} use{'' if count == 1 else 's'}, until {invite.expires_at:%Y-%m-%d %H:%M} UTC")
        return invite

    async def revoke_invite(self, admin: str, code: str) -> None:
        invite = await self.invites.revoke(code)
        await self.audit.record(admin, "revoked an invite", invite_label(code), invite.note,
                                 f"used {invite.used} of {invite.uses}")

    # -- suspensions -------------------------------------------------------------------------

    async def suspend(self, admin: str, raw_name: str, length: str, reason: str) -> Suspension:
        """Suspend an account (not one's own, nor an admin's: revoke their rights first)."""
        seconds, reason = check_suspension_form(length, reason)
        name = await self.user(raw_name)
        if name == admin:
            raise Refused("invalid", "You cannot suspend yourself.")
        if await self.admins.is_admin(name):
            raise Refused("conflict", f"{name} is an admin: take their rights away first (parlor admin revoke {name}).")
        suspension = await self.suspensions.suspend(name, seconds, reason, admin)
        await self.audit.record(admin, "suspended", name, reason, f"for {LENGTHS[seconds]}")
        return suspension

    async def lift(self, admin: str, raw_name: str, reason: str = "") -> None:
        name = await self.user(raw_name)
        reason = _optional_reason(reason)
        if not await self.suspensions.lift(name):
            raise Refused("conflict", f"{name} is not suspended.")
        await self.audit.record(admin, "lifted the suspension of", name, reason)

    async def lift_ended(self) -> int:
        """Lift the suspensions whose time is up (any process may run this; each is lifted once)."""
        lifted = 0
        for name in await self.suspensions.ended():
            if await self.suspensions.lift(name):
                await self.audit.record(EXPIRY, "ended the suspension of", name)
                lifted += 1
        return lifted

    # -- boards ------------------------------------------------------------------------------

    async def board_entry(self, board: int, member: str) -> tuple[str, bool]:
        """The name a board's entry shows and whether it is a guest's; Refused (not_found) if none."""
        if board not in self.leaderboards.boards:
            raise Refused("not_found", "There is no such board.")
        name = await self.leaderboards.entry_name(board, member) if member.startswith(("u:", "a:")) else None
        if name is None:
            raise Refused("not_found", "That entry is not on the board (any more).")
        return name, is_guest_entry(member)

    async def remove_entry(self, admin: str, board: int, member: str, ban_name: bool, reason: str) -> str:
        """Take an entry (an account's, or an address's guest entry) off a board, and optionally
        ban the guest name it showed; the name it showed."""
        reason = _optional_reason(reason)
        name, guest = await self.board_entry(board, member)
        if not await self.leaderboards.remove_entry(board, member):
            raise Refused("not_found", "That entry is not on the board (any more).")
        if ban_name and guest:
            await self.leaderboards.ban_name(name)
        what = f"{name}{' (guest)' if guest else ''} on the 1 to {board} board"
        await self.audit.record(admin, "removed the board entry of", what, reason,
                                "and banned the guest name" if ban_name and guest else "")
        return name

    # -- reports -----------------------------------------------------------------------------

    async def dismiss_report(self, admin: str, report_id: str, reason: str = "") -> Report:
        reason = _optional_reason(reason)
        report = await self.reports.close(report_id, "dismissed", "dismissed")
        await self.audit.record(admin, "dismissed a report on", report.reported, reason, f"report {report_id}")
        return report

    async def delete_reported_message(self, admin: str, report_id: str) -> Report:
        """Delete the message a report is about (for both people, as its author's Delete does);
        the report's copy stays with the report."""
        report = await self._open_report(report_id)
        if not report.about_a_message:
            raise Refused("invalid", "This report is about a person, not a message.")
        try:
            await self.chat.delete(report.reported, report.reporter, report.message_id)
        except Refused:
            raise Refused("conflict", "That message is gone already (deleted, or its author left).") from None
        await self.reports.close(report_id, "acted", "message deleted")
        await self.audit.record(admin, "deleted a reported message of", report.reported, "",
                                f"message {report.message_id} to {report.reporter}, report {report_id}")
        return report

    async def suspend_reported(self, admin: str, report_id: str, length: str, reason: str) -> Report:
        report = await self._open_report(report_id)
        await self.suspend(admin, report.reported, length, reason)
        await self.reports.close(report_id, "acted", "author suspended")
        return report

    async def _open_report(self, report_id: str) -> Report:
        report = await self.reports.get(report_id)
        if report is None or report.status != "open":
            raise Refused("not_found", "There is no such open report (another admin may have closed it).")
        return report
