"""The admins' list of accounts: newest first, or those whose name starts with what was typed,
a page at a time, each with its standing (admin, suspended)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis

from parlor.accounts.directory import Directory
from parlor.community.admins import ADMINS_KEY
from parlor.refusals import Kind, Refused
from parlor.safety import SUSPENDED_KEY

ACCOUNTS_PAGE = 50  # accounts a page lists: a class at a glance
PREFIX_RE = re.compile(r"[a-z0-9-]{0,32}")  # the start of a username, folded to lower case


@dataclass(frozen=True)
class AccountRow:
    name: str
    made_at: datetime
    admin: bool
    suspended: bool


@dataclass(frozen=True)
class AccountPage:
    rows: list[AccountRow]
    total: int  # accounts listed in all (a prefix search: its matches, at most MAX_PREFIX_MATCHES)
    more_matches: bool  # a prefix matched more than a search sorts: type more of the name


def check_prefix(raw: str) -> str:
    """A typed prefix, folded to lower case, or Refused (invalid)."""
    prefix = (raw or "").strip().lower()
    if not PREFIX_RE.fullmatch(prefix):
        raise Refused(Kind.INVALID, "Search with the start of a username: up to 32 letters a–z, digits and hyphens.")
    return prefix


class AccountList:
    """Pages of accounts with their standing."""

    def __init__(self, redis: aioredis.Redis, directory: Directory):
        self._redis = redis
        self._directory = directory

    async def page(self, raw_prefix: str, offset: int) -> AccountPage:
        prefix = check_prefix(raw_prefix)
        if prefix:
            found, total, more = await self._directory.with_prefix(prefix, offset, ACCOUNTS_PAGE)
        else:
            (found, total), more = await self._directory.newest(offset, ACCOUNTS_PAGE), False
        names = [name for name, _ in found]
        if not names:
            return AccountPage([], total, more)
        async with self._redis.pipeline(transaction=False) as read:
            read.smismember(ADMINS_KEY, names)
            read.zmscore(SUSPENDED_KEY, names)
            admins, ends = await read.execute()
        now_ms = time.time() * 1000
        rows = [AccountRow(name, made, bool(admin), end is not None and end > now_ms)
                for (name, made), admin, end in zip(found, admins, ends)]
        return AccountPage(rows, total, more)
