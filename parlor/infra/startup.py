"""What must hold before a server process serves; each check refuses to start with one line saying why."""
from __future__ import annotations


class CannotStart(Exception):
    """Parlor will not start (or `parlor admin` will not run) here: the message says why and what to do."""
