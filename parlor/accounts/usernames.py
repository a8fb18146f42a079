"""What a username may be, and where a name is found in Redis: the rule, names no one may take,
and the ghost names that stand for deleted accounts in their peers' conversations."""
from __future__ import annotations

import re
import secrets

from parlor.accounts.lookalikes import look_alike_key

# ASCII only, checked before folding: no look-alike letters (Kelvin sign, fullwidth "ａｄｍｉｎ"),
# and no "_", which stays free to join two names into one chat file name.
USERNAME_RE = re.compile(r"[A-Za-z0-9-]{3,32}")
USERNAME_RULE = "A username is 3 to 32 characters: letters a–z, digits and hyphens."
RESERVED_USERNAMES = frozenset({"eliza"})  # the built-in chatbot answers to this name
# A deleted account's messages stay in its peers' conversations under a name of this form, which
# no one can sign up with; pages show it as "deleted user".
GHOST_PREFIX = "deleted-"
GHOST_ID_BYTES = 6  # 12 hex digits: a ghost name per deleted account, never reused


# Every account, for the admins' list: by when it was made (score: ms) and by name (score 0, so
# ZRANGEBYLEX finds a prefix). Kept by the scripts that make and remove an account.
ACCOUNTS_BY_AGE_KEY = "accounts:by-age"
ACCOUNTS_BY_NAME_KEY = "accounts:by-name"


def user_key(name: str) -> str:
    return f"user:{name}"


def reserved_key(name: str) -> str:
    return f"reserved:{name}"  # a deleted account's name, kept from others for a while


def look_alike_index_key(name: str) -> str:
    """Where the account whose name looks like `name` is found (TR39 skeleton; parlor/accounts/lookalikes.py)."""
    return f"look-alike:{look_alike_key(name)}"


def is_ghost(name: str) -> bool:
    """Whether a name stands for a deleted account in its peers' conversations."""
    return name.startswith(GHOST_PREFIX)


def new_ghost() -> str:
    return GHOST_PREFIX + secrets.token_hex(GHOST_ID_BYTES)


def display_name(name: str) -> str:
    """A name as pages show it: a deleted account's is "deleted user"."""
    return "deleted user" if is_ghost(name) else name
