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
from .chatlog import PAGE_SIZE, ChatLogs, Message, pair_key
from .images import ImageRejected, process_image
from .users import AccountError, Accounts, normalize_username

log = logging.getLogger("parlor.chat")

MAX_MESSAGE_CHARS = 4000  # a long paragraph; anything longer is a paste, better sent as a file
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # made by the send form; resends reuse it
LISTED_CONVERSATIONS = 100  # newest conversations shown on /chat


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


class Chat:
    """Sending, reading and listing conversations. `on_message(a, b, message)` is called once
    a new message is committed, `on_read(reader, peer, message)` once someone has read up to the
    newest message of their peer (the web layer turns both into events for the two people).

    `on_message(author, peer, message, unread, listed)` gets the peer's unread count and the
    conversation-list entries [(key, member, time)] to write along with the events."""

    def __init__(self, logs: ChatLogs, redis: aioredis.Redis, accounts: Accounts, executor: Executor,
                 on_message: Callable[[str, str, Message, int, list[tuple[str, str, int]]], Awaitable[None]],
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
            async with self.logs.conversation(me, peer, create=True) as conversation:
                message, created, unread = await conversation.add(me, text, client_id, image, reader=peer)
            if created:
                await self._delivered(me, peer, message, unread)
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

    async def _delivered(self, me: str, peer: str, message: Message, unread: int) -> None:
        # Both people's conversation lists are brought up to date by the same Redis call that
        # stores the message's events (one round trip).
        listed = [(conversations_key(me), peer, message.sent_ms), (conversations_key(peer), me, message.sent_ms)]
        await self._on_message(me, peer, message, unread, listed)

    def _schedule_eliza(self, user: str, text: str) -> None:
        task = asyncio.get_running_loop().create_task(self._eliza_answers(user, text))
        self._eliza_replies.add(task)
        task.add_done_callback(self._eliza_replies.discard)

    async def _eliza_answers(self, user: str, text: str) -> None:
        await asyncio.sleep(eliza.thinking_time(text, self._eliza_delay_scale))
        try:
            async with self._in_order(eliza.USERNAME, user):
                async with self.logs.conversation(eliza.USERNAME, user, create=True) as conversation:
                    message, _, unread = await conversation.add(eliza.USERNAME, eliza.reply(text), None, None,
                                                                reader=user)
                await self._delivered(eliza.USERNAME, user, message, unread)
        except Exception:
            log.exception("ELIZA could not answer %s", user)

    async def stop(self) -> None:
        for task in list(self._eliza_replies):
            task.cancel()

    async def open(self, me: str, peer: str) -> tuple[list[Message], int]:
        """The latest messages of a conversation, marked read for `me` (no file is made), and the
        id of the newest message `peer` has read."""
        async with self.logs.conversation(me, peer) as conversation:
            if conversation is None:
                return [], 0
            messages = await conversation.page()
            peer_read = await conversation.read_marker(peer)
            newest = messages[-1] if messages else None
            advanced = newest is not None and newest.id > await conversation.read_marker(me)
            if advanced:
                await conversation.mark_read(me, newest.id)
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
        async with self.logs.conversation(me, peer, create=True):
            pass
