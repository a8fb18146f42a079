"""JSONP, for the scraping API and the long poll: which callback names are allowed, and the body."""
from __future__ import annotations

import re

# Script injection: a callback is an identifier or a dotted path of them, nothing that could be
# script of its own.
CALLBACK_RE = re.compile(r"[A-Za-z_$][\w$]{0,63}(\.[A-Za-z_$][\w$]{0,63})*", re.ASCII)


def jsonp(callback: str, json_text: str) -> str:
    """A JSONP body for a callback that matched CALLBACK_RE; the comment defuses a leading
    byte-order or content sniffing trick, and a missing function throws nothing."""
    return f"/**/ typeof {callback} === 'function' && {callback}({json_text});"
