"""The state fragments the hub pushes (parlor/live/hub.py's Views): online count, presence, typing."""
from __future__ import annotations

import jinja2

from parlor.chat.pair_file import pair_key


class LiveViews:
    """Fragments the hub pushes that are state, not events: rendered once per change."""

    def __init__(self, templates: jinja2.Environment):
        self._online = templates.get_template("partials/_online.html")
        self._presence = templates.get_template("partials/_presence.html")
        self._typing = templates.get_template("partials/_typing.html")
        self._open_reports = templates.get_template("partials/_reports_badge.html")

    def online_count(self, count: int) -> str:
        """The online count, swapped in place."""
        return self._online.render(online_count=count, oob=True)

    def presence(self, user: str, online: bool) -> str:
        """Whether `user` is online, swapped in place on their peers' pages."""
        return self._presence.render(who=user, online={user} if online else set(), oob=True)

    def typing(self, who: str, to: str) -> str:
        """"`who` is typing", on `to`'s page of their conversation."""
        return self._typing.render(who=who, pair=pair_key(who, to), typing=True, oob=True)

    def open_reports(self, count: int) -> str:
        """The open-reports count beside an admin's Admin link, swapped in place."""
        return self._open_reports.render(reports_waiting=count, oob=True)
