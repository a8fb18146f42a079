"""One-to-one chat: validation, storage in the pair's file, the conversation index, ELIZA."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from . import eliza
from .chatlog import PAGE_SIZE, ChatLogs, Message, StorageFailed, pair_key
from .images import ImageRejected, process_image
from .users import AccountError, Accounts, normalize_username

log = logging.getLogger("parlor.chat")

MAX_MESSAGE_CHARS = 4000  # a long paragraph; anything longer is a paste, better sent as a file
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # made by the send form; resends reuse it
LISTED_CONVERSATIONS = 100  # newest conversations shown on /chat
MAX_REPUBLISH = 100  # unpublished messages (a crash between commit and publish) one send brings out
NOT_STORED = ("Parlor cannot store messages right now: its disk is full or failing. "
              "Nothing was stored; please try again later.")


class ChatError(Exception):
    """A chat action refused; status is the HTTP-like code, str() a message for the person."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Summary:
    """A line of the conversation list."""

    peer: str
    last: Message | None
    unread: int


def conversations_key(user: str) -> str:
    return f"conversations:{user}"  # sorted set: peer -> last message time (ms)


def published_key(pair: str) -> str:
    return f"published:{pair}"  # the id of the pair's newest message whose events were appended


class Chat:
    """Sending, reading and listing conversations. `on_message(a, b, message)` is called to
    publish a committed message, maybe again after a crash (so it must publish each message
    once, guarded by published_key); `on_read(reader, peer, message)` once someone has read up
    to the newest message of their peer. The web layer turns both into events for the two."""

    def __init__(self, logs: ChatLogs, redis: aioredis.Redis, accounts: Accounts, executor: Executor,
                 on_message: Callable[[str, str, Message], Awaitable[None]],
                 on_read: Callable[[str, str, Message], Awaitable[None]] | None = None,
                 eliza_delay_scale: float = 1.0):
        self.logs = logs
        self._redis = redis
        self._accounts = accounts
        self._executor = executor
        self._on_message = on_message
        self._on_read = on_read
        self._eliza_delay_scale = eliza_delay_scale
        self._eliza_replies: set[asyncio.Task] = set()
        self._pair_locks: dict[str, asyncio.Lock] = {}

    async def peer(self, me: str, raw_peer: str) -> str:
        """The canonical name of someone `me` can talk to: 404 if no such user, 400 if `me`."""
        try:
            peer = normalize_username(raw_peer)
        except AccountError:
            raise ChatError(404, "There is no user by that name.") from None
        if peer == me:
            raise ChatError(400, "You cannot start a conversation with yourself.")
        if peer != eliza.USERNAME and not await self._accounts.exists(peer):
            raise ChatError(404, "There is no user by that name.")
        return peer

    async def send(self, me: str, peer: str, body: str | None, client_id: str | None,
                   image_bytes: bytes | None = None) -> tuple[Message, bool]:
        """Store a message from `me` to `peer` (once per client_id); returns it and whether it is new."""
        text = (body or "").strip()
        if not text and not image_bytes:
            raise ChatError(400, "Write a message or attach a picture.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ChatError(400, f"A message is at most {MAX_MESSAGE_CHARS} characters; this one has {len(text)}.")
        if client_id is not None and not CLIENT_ID_RE.fullmatch(client_id):
            raise ChatError(400, "The form was damaged; reload the page and send again.")
        image = None
        if image_bytes:
            try:
                image = await asyncio.get_running_loop().run_in_executor(self._executor, process_image, image_bytes)
            except ImageRejected as e:
                raise ChatError(e.status, str(e)) from None
        async with self._in_order(me, peer):  # events leave in the order the file took the messages
            await self._mark_new_pair(me, peer)
            try:
                async with self.logs.conversation(me, peer, create=True) as conversation:
                    message, created = await conversation.add(me, text, client_id, image)
            except StorageFailed as e:
                log.error("a message from %s to %s was not stored: %s", me, peer, e)
                raise ChatError(503, NOT_STORED) from None
            await self._publish(me, peer, message, created)
        if created and peer == eliza.USERNAME and message.kind == "text":
            self._schedule_eliza(me, message.body)
        return message, created

    @contextlib.asynccontextmanager
    async def _in_order(self, a: str, b: str):
        """One pair's commit-then-publish steps, one at a time (per process)."""
        key = pair_key(a, b)
        lock = self._pair_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not lock._waiters:
                self._pair_locks.pop(key, None)

    async def _mark_new_pair(self, a: str, b: str) -> None:
        """A new pair's marker exists before its first commit, so that even its first message is
        known to be unpublished if a crash comes between (pairs from before markers have none)."""
        if not self.logs.exists(a, b):
            await self._redis.set(published_key(pair_key(a, b)), 0, nx=True)

    async def _publish(self, a: str, b: str, message: Message, created: bool) -> None:
        """Publish a committed message, after any earlier ones of the pair that a crash between
        commit and publish left unpublished; a resend publishes its message if that never was.
        The pair's marker (the newest message published) is set with the events, atomically."""
        marker = await self._redis.get(published_key(pair_key(a, b)))
        if marker is None:  # a pair from before markers: what it published is unknown
            missing = [message] if created else []
        elif message.id <= int(marker):
            missing = []
        else:
            missing = await self._unpublished(a, b, int(marker), message.id) + [message]
        for m in missing:
            await self._delivered(a, b, m)

    async def _unpublished(self, a: str, b: str, published: int, before: int) -> list[Message]:
        """The pair's messages after the marker and before `before` (at most MAX_REPUBLISH)."""
        count = min(before - published - 1, MAX_REPUBLISH)
        if count <= 0:
            return []
        async with self.logs.conversation(a, b) as conversation:
            older = await conversation.page(before, count)
        if older:
            log.warning("publishing %d message(s) of %s that a crash left unpublished", len(older), pair_key(a, b))
        return [m for m in older if m.id > published]

    async def _delivered(self, me: str, peer: str, message: Message) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(conversations_key(me), {peer: message.sent_ms})
            pipe.zadd(conversations_key(peer), {me: message.sent_ms})
            await pipe.execute()
        await self._on_message(me, peer, message)

    def _schedule_eliza(self, user: str, text: str) -> None:
        task = asyncio.get_running_loop().create_task(self._eliza_answers(user, text))
        self._eliza_replies.add(task)
        task.add_done_callback(self._eliza_replies.discard)

    async def _eliza_answers(self, user: str, text: str) -> None:
        await asyncio.sleep(eliza.thinking_time(text, self._eliza_delay_scale))
        try:
            async with self._in_order(eliza.USERNAME, user):
                async with self.logs.conversation(eliza.USERNAME, user, create=True) as conversation:
                    message, _ = await conversation.add(eliza.USERNAME, eliza.reply(text), None, None)
                await self._publish(eliza.USERNAME, user, message, True)
        except Exception:
            log.exception("ELIZA could not answer %s", user)

    async def stop(self) -> None:
        for task in list(self._eliza_replies):
            task.cancel()

    async def open(self, me: str, peer: str, mark_read: bool = True) -> tuple[list[Message], int]:
        """The latest messages of a conversation, marked read for `me` unless told otherwise (no
        file is made), and the id of the newest message `peer` has read."""
        async with self.logs.conversation(me, peer) as conversation:
            if conversation is None:
                return [], 0
            messages = await conversation.page()
            peer_read = await conversation.read_marker(peer)
            newest = messages[-1] if messages else None
            advanced = mark_read and newest is not None and newest.id > await conversation.read_marker(me)
            if advanced:
                try:
                    await conversation.mark_read(me, newest.id)
                except StorageFailed as e:  # the page is still worth showing; it is marked next time
                    log.warning("a read marker was not stored: %s", e)
                    advanced = False
        if advanced and newest.author == peer and self._on_read is not None:
            await self._on_read(me, peer, newest)
        return messages, peer_read

    async def older(self, me: str, peer: str, before: int) -> list[Message]:
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.page(before) if conversation else []

    async def unread(self, me: str, peer: str) -> int:
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.unread(me) if conversation else 0

    async def summaries(self, me: str) -> list[Summary]:
        """My conversations, newest first, with the last message and my unread count."""
        peers = await self._redis.zrevrange(conversations_key(me), 0, LISTED_CONVERSATIONS - 1)
        result = []
        for peer in peers:
            async with self.logs.conversation(me, peer) as conversation:
                if conversation is not None:
                    result.append(Summary(peer, await conversation.last(), await conversation.unread(me)))
        return result

    async def peers(self, user: str, limit: int) -> list[str]:
        """The people `user` has conversations with, newest first."""
        return await self._redis.zrevrange(conversations_key(user), 0, limit - 1)

    async def image(self, me: str, peer: str, image_id: int, thumbnail: bool) -> tuple[str, bytes] | None:
        """An image of the pair's conversation, to one of the pair only."""
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.image(image_id, thumbnail) if conversation else None

    async def history(self, me: str, peer: str) -> list[Message]:
        """Every message of the conversation, oldest first (for the JSON API)."""
        async with self.logs.conversation(me, peer) as conversation:
            if conversation is None:
                return []
            messages, before = [], None
            while True:
                page = await conversation.page(before, PAGE_SIZE * 20)
                messages[:0] = page
                if len(page) < PAGE_SIZE * 20:
                    return messages
                before = page[0].id

    async def create(self, me: str, peer: str) -> None:
        """Make the pair's file now (the tutorial's create_conversation_db)."""
        await self._mark_new_pair(me, peer)
        try:
            async with self.logs.conversation(me, peer, create=True):
                pass
        except StorageFailed:
            raise ChatError(503, NOT_STORED) from None
