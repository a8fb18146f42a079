"""Checks of what a request carries, as plain functions: whether a text is a whole number, how
deep its JSON nests, and whether a place to go after a form stays on this site."""
from __future__ import annotations

import re

# No number a request gives us is larger: ids, offsets and lengths fit SQLite's and PostgreSQL's
# integers. A longer text is no number of ours, and int() never reads it.
MAX_WHOLE_NUMBER = 2**63 - 1
MAX_DIGITS = len(str(MAX_WHOLE_NUMBER))

# A path on this site, in the characters a URL path and query may hold unescaped.
SAFE_PATH_RE = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site is a place to go after login (stops open redirects)."""
    if not target or len(target) > 2000 or not SAFE_PATH_RE.fullmatch(target):
        return default
    return target


def whole_number(raw: str | None, low: int = 0, high: int = MAX_WHOLE_NUMBER) -> int | None:
    """`raw` as a whole number from `low` to `high` written in the digits 0-9 alone ("٣", "²",
    "+3", " 3" and "3_0" are not, though int() takes them); None if it is not one."""
    if raw is None or len(raw) > MAX_DIGITS or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def nests_deeper(text: str, limit: int) -> bool:
    """Whether the brackets of a JSON text, outside its strings, nest deeper than `limit`."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual case, counted in C
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:  # a string ends at a quote no backslash escapes; a backslash escapes one character
            in_string = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
