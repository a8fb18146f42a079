"""The audit log: every admin action (who, what, whom, when, why), newest first, in a bounded
Redis list and as a log line (one JSON object with --log-format json)."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

from parlor.infra.redis_client import register_scripts

log = logging.getLogger("parlor.audit")

AUDIT_KEY = "audit"  # list, newest first: one JSON object per admin action
AUDIT_LENGTH = 10_000  # entries kept; older ones remain only in the log lines
CONSOLE = "(console)"  # who acted when an action came from `parlor admin` on the server itself
EXPIRY = "(expiry)"  # who acted when a suspension ended at its time


@dataclass(frozen=True)
class AuditEntry:
    """One admin action: `admin` did `action` to `target` (a user, a board entry, an invite, a report)."""

    at_ms: int
    admin: str
    action: str
    target: str
    reason: str = ""
    detail: str = ""

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, timezone.utc)

    def as_json(self) -> dict:
        return {"at_ms": self.at_ms, "admin": self.admin, "action": self.action, "target": self.target,
                "reason": self.reason, "detail": self.detail}


class AuditLog:
    """Write and read the audit log."""

    def __init__(self, redis: aioredis.Redis):
        self._redis = redis
        self._scripts = register_scripts(redis, __package__, "ghost_audit")

    async def record(self, admin: str, action: str, target: str, reason: str = "", detail: str = "") -> AuditEntry:
        """Keep one admin action (the newest AUDIT_LENGTH are kept) and log it."""
        entry = AuditEntry(int(time.time() * 1000), admin, action, target, reason, detail)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(AUDIT_KEY, json.dumps(entry.as_json(), ensure_ascii=False))
            pipe.ltrim(AUDIT_KEY, 0, AUDIT_LENGTH - 1)
            await pipe.execute()
        log.info("admin %s: %s %s%s", admin, action, target, f" ({reason})" if reason else "",
                 extra={"fields": {"audit": entry.as_json()}})
        return entry

    async def ghost_user(self, user: str, ghost: str) -> None:
        """An account is gone: the entries that name it, as admin or as target, name its ghost
        (the log lines already written keep the name: they are the record of that time)."""
        await self._scripts.ghost_audit(keys=[AUDIT_KEY], args=[user, ghost])

    async def entries(self, offset: int = 0, limit: int = 100) -> tuple[list[AuditEntry], int]:
        """A page of entries, newest first, and how many are kept in all."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(AUDIT_KEY, offset, offset + limit - 1)
            pipe.llen(AUDIT_KEY)
            rows, total = await pipe.execute()
        return [AuditEntry(**json.loads(row)) for row in rows], int(total)
