"""Refused: the one exception for an action Parlor will not do, saying why to the person asking.

The domain says what kind of refusal it is, never an HTTP status: handlers/base.py turns each kind
into a status in one table (STATUS_OF_KIND), for pages, fragments, JSON and JSONP alike.
"""
from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """The kinds of refusal, each with the one HTTP status it will be answered with (handlers/base.py)."""

    INVALID = "invalid"                  # the input is wrong: fix it and send again
    UNAUTHENTICATED = "unauthenticated"  # who is asking is unknown: log in, or give a valid API token
    FORBIDDEN = "forbidden"              # who is asking may not do this
    NOT_FOUND = "not_found"              # there is no such thing (or it is not theirs to see)
    CONFLICT = "conflict"                # it clashes with what is already there (taken, full, over)
    GONE = "gone"                        # it existed and was used up or withdrawn (an invite)
    TOO_LARGE = "too_large"              # more data than is accepted
    TOO_LONG = "too_long"                # an address longer than is accepted
    UNSUPPORTED = "unsupported"          # a kind of data that is not accepted (a picture's format)
    TOO_MANY = "too_many"                # over a limit: wait retry_after seconds
    UNAVAILABLE = "unavailable"          # the server cannot do it right now: try again later


class Refused(Exception):
    """An action refused: `kind` (a Kind, or its value), str() a message for the person, and
    `retry_after` (seconds) when waiting helps."""

    def __init__(self, kind: Kind | str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.kind = Kind(kind)  # ValueError for a kind that has no status
        self.message = message
        self.retry_after = retry_after
