"""Reports: someone tells the admins about a message, or about a person, in their conversation.

A report keeps a copy of what it is about, taken from the pair's file when it is made: the
reported message and the REPORT_CONTEXT messages before it (a report about a person: the
conversation's latest REPORT_CONTEXT + 1), and a small copy of the reported message's picture.
The copy outlives the message's deletion; nothing else of the conversation is ever shown to
admins. Reports are rate-limited per reporter (--report-limit), bounded in number and expire.

Keys: `report:<id>` (hash: reporter, reported, message_id (0: about the person), reason, text,
created_ms, status, outcome, copy (JSON), picture (base64 JPEG)) and `reports` (sorted set of
the open reports' ids by time made). A report's id is a hash of who reported what, so the same
report made twice is one report.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from parlor.accounts.usernames import is_ghost
from parlor.chat import eliza
from parlor.chat.images import report_copy
from parlor.chat.pair_file import Message
from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import SCAN_BATCH
from parlor.refusals import Refused

REPORT_CONTEXT = 5  # messages before the reported one that its copy keeps: what led up to it
MAX_REPORT_TEXT = 500  # what the reporter adds in their own words
MAX_OPEN_REPORTS = 10_000  # open reports at once; more would mean nobody reads them: refused, not dropped
REPORT_TTL_S = 90 * 86400  # an open report nobody acted on is forgotten after a season
CLOSED_REPORT_KEPT_S = 7 * 86400  # a closed one is kept a week (the same report again is still one report)
OPEN_REPORTS_KEY = "reports"
# The reasons a reporter chooses from (the code a form sends -> the words shown).
REASONS = {
    "spam": "Spam or advertising",
    "harassment": "Harassment or bullying",
    "hate": "Hateful or violent words",
    "sexual": "Sexual content",
    "other": "Something else",
}


@dataclass(frozen=True)
class CopiedMessage:
    """A message as a report keeps it."""

    id: int
    author: str
    kind: str
    body: str
    sent_ms: int
    deleted: bool

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.sent_ms / 1000, timezone.utc)


@dataclass(frozen=True)
class Report:
    id: str
    reporter: str
    reported: str
    message_id: int  # 0: a report about the person
    reason: str
    text: str
    created_ms: int
    status: str  # open | dismissed | acted
    outcome: str
    copy: list[CopiedMessage]
    has_picture: bool

    @property
    def reason_words(self) -> str:
        return REASONS.get(self.reason, self.reason)

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, timezone.utc)

    @property
    def about_a_message(self) -> bool:
        return self.message_id != 0


def check_report_form(reason: str, text: str) -> tuple[str, str]:
    """The reason code and the reporter's words, or Refused (invalid) saying what is wrong."""
    if reason not in REASONS:
        raise Refused("invalid", "Choose a reason from the list.")
    text = text.strip()
    if len(text) > MAX_REPORT_TEXT:
        raise Refused("invalid", f"Say it in at most {MAX_REPORT_TEXT} characters; this has {len(text)}.")
    return reason, text


def no_conversation(reported: str) -> str:
    return f"You can report {reported} only from a conversation with them, and you have none."


def report_key(report_id: str) -> str:
    return f"report:{report_id}"


def id_for(reporter: str, reported: str, message_id: int) -> str:
    """A report's id: the same report made twice is one report."""
    return hashlib.sha256(f"{reporter}\n{reported}\n{message_id}".encode()).hexdigest()[:20]


class Reports:
    """File, list, read and close reports. `chat` is parlor/chat/chat.py's Chat; `safety` counts reports."""

    def __init__(self, redis: aioredis.Redis, chat, safety, executor: Executor,
                 on_change: Callable[[], Awaitable[None]] | None = None):
        self._redis = redis
        self._on_change = on_change  # a report was filed or closed: the admins' pages show the new count
        self._chat = chat
        self._safety = safety
        self._executor = executor
        self._scripts = register_scripts(redis, __package__, "ghost_report")

    async def file(self, reporter: str, reported: str, message_id: int | None, reason: str, text: str) -> bool:
        """Report `reported`'s message (message_id) or `reported` themself (None), as `reporter`
        sees them in their conversation; True if it is new, False if it was made before.
        Refused (not_found) for a message that is not `reported`'s in it, or is deleted."""
        reason, text = check_report_form(reason, text)
        key = report_key(id_for(reporter, reported, message_id or 0))
        if await self._redis.exists(key):  # made before: received, whatever became of the message since
            return False
        copy, picture = await self._copy(reporter, reported, message_id)
        if await self._redis.zcard(OPEN_REPORTS_KEY) >= MAX_OPEN_REPORTS:
            raise Refused("unavailable", "The admins have too many reports to read right now. Please try again later.")
        await self._safety.hit("reports", reporter)
        now = int(time.time() * 1000)
        fields = {"reporter": reporter, "reported": reported, "message_id": message_id or 0, "reason": reason,
                  "text": text, "created_ms": now, "status": "open", "outcome": "",
                  "copy": json.dumps([m.__dict__ for m in copy], ensure_ascii=False)}
        if picture is not None:
            fields["picture"] = base64.b64encode(picture).decode("ascii")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, REPORT_TTL_S)
            pipe.zadd(OPEN_REPORTS_KEY, {key.split(":", 1)[1]: now})
            await pipe.execute()
        await self._changed()
        return True

    async def _copy(self, reporter: str, reported: str,
                    message_id: int | None) -> tuple[list[CopiedMessage], bytes | None]:
        """The messages the report keeps, and its picture's copy (None if it has none)."""
        if reported == eliza.USERNAME or is_ghost(reported):
            raise Refused("invalid", "Only people can be reported, and this account is not one (any more).")
        async with self._chat.logs.conversation(reporter, reported) as conversation:
            if conversation is None:
                if message_id is not None:
                    raise Refused("not_found", f"There is no message of {reported}'s with that number here.")
                raise Refused("not_found", no_conversation(reported))
            if message_id is None:
                latest = await conversation.page(limit=REPORT_CONTEXT + 1)
                if not latest:  # a file made without a message: nothing was said to report
                    raise Refused("not_found", no_conversation(reported))
                return [_copied(m) for m in latest], None
            messages = await conversation.page(before=message_id + 1, limit=REPORT_CONTEXT + 1)
            reported_message = messages[-1] if messages else None
            if (reported_message is None or reported_message.id != message_id
                    or reported_message.author != reported or reported_message.deleted):
                raise Refused("not_found", f"There is no message of {reported}'s with that number here.")
            picture = None
            if reported_message.image_id is not None:
                found = await conversation.image(reported_message.image_id, thumbnail=True)
                if found is not None:
                    picture = await asyncio.get_running_loop().run_in_executor(self._executor, report_copy, found[1])
        return [_copied(m) for m in messages], picture

    async def check_person(self, reporter: str, reported: str) -> None:
        """Refused (not_found) unless `reporter` may report `reported`: someone they have a
        conversation with (strangers' reports would only fill the admins' list)."""
        await self._copy(reporter, reported, None)

    async def message(self, reporter: str, reported: str, message_id: int) -> CopiedMessage:
        """The message a report would be about (for the report form), or Refused (not_found)."""
        copy, _ = await self._copy(reporter, reported, message_id)
        return copy[-1]

    async def get(self, report_id: str) -> Report | None:
        if not (len(report_id) == 20 and all(c in "0123456789abcdef" for c in report_id)):
            return None
        data = await self._redis.hgetall(report_key(report_id))
        return _report(report_id, data) if data else None

    async def picture(self, report_id: str) -> bytes | None:
        """The copy of a report's picture (JPEG), if it has one."""
        if await self.get(report_id) is None:
            return None
        encoded = await self._redis.hget(report_key(report_id), "picture")
        return base64.b64decode(encoded) if encoded else None

    async def open_count(self) -> int:
        return await self._redis.zcard(OPEN_REPORTS_KEY)

    async def open_reports(self, limit: int = 100) -> tuple[list[Report], int]:
        """The open reports, newest first (at most `limit`), and how many are open."""
        ids = await self._redis.zrevrange(OPEN_REPORTS_KEY, 0, limit - 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for id_ in ids:
                pipe.hgetall(report_key(id_))
            pipe.zcard(OPEN_REPORTS_KEY)
            *found, total = await pipe.execute()
        gone = [id_ for id_, data in zip(ids, found) if not data]  # expired
        if gone:
            await self._redis.zrem(OPEN_REPORTS_KEY, *gone)
        return [_report(id_, data) for id_, data in zip(ids, found) if data], int(total) - len(gone)

    async def ghost_user(self, user: str, ghost: str) -> None:
        """An account is gone: every report it made or is about (open or closed) names its ghost,
        so no admin action on it reaches a later account with the name (its conversations moved
        to the ghost too, so deleting the reported message still works)."""
        keys = [key async for key in self._redis.scan_iter(match=report_key("*"), count=SCAN_BATCH)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, "reporter", "reported", "message_id", "copy")
            found = await pipe.execute()
        for key, (reporter, reported, message_id, copy) in zip(keys, found):
            if user not in (reporter, reported):
                continue
            reporter, reported = (ghost if name == user else name for name in (reporter, reported))
            messages = [{**m, "author": ghost if m["author"] == user else m["author"]} for m in json.loads(copy or "[]")]
            old_id, new_id = key.split(":", 1)[1], id_for(reporter, reported, int(message_id or 0))
            await self._scripts.ghost_report(
                keys=[key, report_key(new_id), OPEN_REPORTS_KEY],
                args=[old_id, new_id, reporter, reported, json.dumps(messages, ensure_ascii=False)])

    async def close(self, report_id: str, status: str, outcome: str) -> Report:
        """Mark an open report dismissed or acted upon; it leaves the open list. Refused (not_found) if
        there is no such open report."""
        report = await self.get(report_id)
        if report is None or report.status != "open":
            raise Refused("not_found", "There is no such open report (another admin may have closed it).")
        key = report_key(report_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": status, "outcome": outcome})
            pipe.expire(key, CLOSED_REPORT_KEPT_S)
            pipe.zrem(OPEN_REPORTS_KEY, report_id)
            await pipe.execute()
        await self._changed()
        return report

    async def _changed(self) -> None:
        if self._on_change is not None:
            await self._on_change()


def _copied(message: Message) -> CopiedMessage:
    body = "" if message.deleted else message.body
    return CopiedMessage(message.id, message.author, message.kind, body, message.sent_ms, message.deleted)


def _report(report_id: str, data: dict[str, str]) -> Report:
    return Report(report_id, data.get("reporter", ""), data.get("reported", ""), int(data.get("message_id", 0)),
                  data.get("reason", ""), data.get("text", ""), int(data.get("created_ms", 0)),
                  data.get("status", "open"), data.get("outcome", ""),
                  [CopiedMessage(**m) for m in json.loads(data.get("copy", "[]"))], "picture" in data)
