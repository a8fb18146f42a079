"""Refused: the one exception for an action Parlor will not do, saying why to the person asking.

The domain says what kind of refusal it is, never an HTTP status: handlers/base.py turns each kind
into a status in one table (STATUS_OF_KIND), for pages, fragments, JSON and JSONP alike.
"""
from __future__ import annotations

# The kinds of refusal, each with the one HTTP status it will be answered with (handlers/base.py).
KINDS = frozenset({
    "invalid",          # the input is wrong: fix it and send again
    "unauthenticated",  # who is asking is unknown: log in, or give a valid API token
    "forbidden",        # who is asking may not do this
    "not_found",        # there is no such thing (or it is not theirs to see)
    "conflict",         # it clashes with what is already there (taken, full, over)
    "gone",             # it existed and was used up or withdrawn (an invite)
    "too_large",        # more data than is accepted
    "too_long",         # an address longer than is accepted
    "unsupported",      # a kind of data that is not accepted (a picture's format)
    "too_many",         # over a limit: wait retry_after seconds
    "unavailable",      # the server cannot do it right now: try again later
})


class Refused(Exception):
    """An action refused: `kind` (one of KINDS), str() a message for the person, and
    `retry_after` (seconds) when waiting helps."""

    def __init__(self, kind: str, message: str, retry_after: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown kind of refusal: {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
