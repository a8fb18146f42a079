"""One-to-one chat: validation, storage in the pair's file, the conversation index, ELIZA."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor

import redis.asyncio as aioredis

from parlor.accounts.accounts import Accounts, normalize_username
from parlor.accounts.usernames import is_ghost, user_key
from parlor.chat import eliza
from parlor.chat.conversation_list import Summary, conversation_peers, conversations_key
from parlor.chat.delivery import MessageDelivery, readers, receives_pushes
from parlor.chat.images import process_image
from parlor.chat.message_actions import NOT_STORED, MessageActions, checked_text, quote_of
from parlor.chat.pair_file import Message, StorageFailed, pair_key
from parlor.chat.mutes import page_state
from parlor.chat.pair_files import PairFiles
from parlor.chat.pair_locks import PairLocks
from parlor.chat.unread import Opened, unread_key
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused
from parlor.safety import UNDELIVERABLE, Safety

log = logging.getLogger("parlor.chat")

CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # made by the send form; resends reuse it
LISTED_CONVERSATIONS = 100  # newest conversations shown on /chat
HISTORY_PAGE = 1000  # messages per /get_message_history answer at most: ~4 MB of the longest; before= pages
PUBLISHED_CACHE = 10_000  # pairs whose last published message this process remembers
MAX_REPUBLISH = 100  # unpublished messages (a crash between commit and publish) one send brings out


class Chat:
    """Sending, reading and listing conversations. What it commits (a message, a read to the
    newest message of a peer, a deletion) it hands to `delivery` (parlor/chat/delivery.py), a
    message maybe again after a crash: the delivery makes each message's events once."""

    def __init__(self, logs: PairFiles, redis: aioredis.Redis, accounts: Accounts, executor: Executor,
                 delivery: MessageDelivery, eliza_delay_scale: float = 1.0, *, safety: Safety):
        self.logs = logs
        self._redis = redis
        self._accounts = accounts
        self._executor = executor
        self._delivery = delivery
        self._eliza_delay_scale = eliza_delay_scale
        self._eliza_replies: set[asyncio.Task] = set()
        self._pair_locks = PairLocks()
        self._safety = safety  # blocks and rate limits, checked before a send stores anything
        # pair -> the newest message id this process published: when the next message is the one
        # right after it, nothing can be missing and the marker need not be read (one round trip)
        self._published: dict[str, int] = {}
        self.actions = MessageActions(logs, delivery, self._in_order, self._check_send)  # react, edit

    async def peer(self, me: str, raw_peer: str) -> str:
        """The canonical name of someone `me` can talk to: Refused not_found if no such user, invalid if `me`."""
        try:
            peer = normalize_username(raw_peer)
        except Refused:
            raise Refused("not_found", "There is no user by that name.") from None
        if peer == me:
            raise Refused("invalid", "You cannot start a conversation with yourself.")
        if peer == eliza.USERNAME or (is_ghost(peer) and self.logs.exists(me, peer)):
            return peer  # a deleted account's conversation stays readable for its peer
        if not await self._accounts.exists(peer):
            raise Refused("not_found", "There is no user by that name.")
        return peer

    async def send(self, me: str, peer: str, body: str | None, client_id: str | None,
                   image_bytes: bytes | None = None, reply_to: int | None = None) -> tuple[Message, bool]:
        """Store a message from `me` to `peer` (once per client_id), a reply to message `reply_to`
        if given; returns it and whether it is new."""
        text = checked_text(body, bool(image_bytes))
        if client_id is not None and not CLIENT_ID_RE.fullmatch(client_id):
            raise Refused("invalid", "The form was damaged; reload the page and send again.")
        await self._check_send(me, peer, bool(image_bytes))
        image = None
        if image_bytes:
            image = await asyncio.get_running_loop().run_in_executor(self._executor, process_image, image_bytes)
        async with self._in_order(me, peer):  # events leave in the order the file took the messages
            await self._mark_new_pair(me, peer)
            try:
                async with self.logs.conversation(me, peer, create=True) as conversation:
                    quote = await quote_of(conversation, reply_to)
                    message, created, unread = await conversation.add(me, text, client_id, image, reader=peer,
                                                                      quote=quote)
            except StorageFailed as e:
                log.error("a message from %s to %s was not stored: %s", me, peer, e)
                raise Refused("unavailable", NOT_STORED) from None
            await self._publish(me, peer, message, created, unread)
        if created and peer == eliza.USERNAME and message.kind == "text":
            self._schedule_eliza(me, message.body)
        return message, created

    async def _check_send(self, me: str, peer: str, picture: bool, message: bool = True) -> None:
        """Blocks and rate limits, in one round trip, before the picture is even decoded."""
        if is_ghost(peer):
            raise Refused("forbidden", UNDELIVERABLE)
        peer_account = None if peer == eliza.USERNAME else user_key(peer)
        await self._safety.check_send(me, peer, picture, conversations_key(me), message, (user_key(me), peer_account))

    def _in_order(self, a: str, b: str) -> contextlib.AbstractAsyncContextManager:
        """One pair's commit-then-publish steps, one at a time (per process)."""
        return self._pair_locks.hold(pair_key(a, b))

    async def _mark_new_pair(self, a: str, b: str) -> None:
        """A new pair's file is made only for two accounts that exist now (asked of Redis, not
        remembered: one may have been deleted on another process); its marker exists before its
        first commit, so that even its first message is known to be unpublished if a crash comes
        between (pairs from before markers have none)."""
        if not self.logs.exists(a, b):
            people = [user_key(name) for name in (a, b) if name != eliza.USERNAME]
            if await self._redis.exists(*people) < len(people):
                raise Refused("forbidden", UNDELIVERABLE)
            await self._delivery.begin_pair(pair_key(a, b))

    async def _publish(self, a: str, b: str, message: Message, created: bool, unread: dict[str, int]) -> None:
        """Publish a committed message, after any earlier ones of the pair that a crash between
        commit and publish left unpublished; a resend publishes its message if that never was.
        The pair's marker (the newest message published) is set with the events, atomically."""
        pair = pair_key(a, b)
        if created and self._published.get(pair) == message.id - 1:
            missing = [message]  # this process published the one before it
        else:
            marker = await self._delivery.delivered_up_to(pair)
            if marker is None:  # a pair from before markers: what it published is unknown
                missing = [message] if created else []
            elif message.id <= marker:
                missing = []
            else:
                missing = await self._unpublished(a, b, marker, message.id) + [message]
        for m in missing:  # the unread counts as they are now: the last ones pushed are right
            await self._delivery.message_stored(pair, a, b, m, unread, readers(a, b))
        self._published[pair] = max(message.id, self._published.pop(pair, 0))  # now the newest entry
        if len(self._published) > PUBLISHED_CACHE:
            del self._published[next(iter(self._published))]  # the pair published longest ago

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

    def _schedule_eliza(self, user: str, text: str) -> None:
        task = asyncio.get_running_loop().create_task(self._eliza_answers(user, text))
        self._eliza_replies.add(task)
        task.add_done_callback(self._eliza_replies.discard)

    async def _eliza_answers(self, user: str, text: str) -> None:
        await asyncio.sleep(eliza.thinking_time(text, self._eliza_delay_scale))
        try:
            async with self._in_order(eliza.USERNAME, user):
                if not await self._accounts.exists(user):
                    return  # they left while she thought: her answer would bring their conversation back
                async with self.logs.conversation(eliza.USERNAME, user, create=True) as conversation:
                    message, _, unread = await conversation.add(eliza.USERNAME, eliza.reply(text), None, None,
                                                                reader=user)
                await self._publish(eliza.USERNAME, user, message, True, unread)
        except Refused:
            return  # they are leaving: their files are not opened any more
        except Exception:
            log.exception("ELIZA could not answer %s", user)

    async def stop(self) -> None:
        for task in list(self._eliza_replies):
            task.cancel()

    async def open_and_mark_read(self, me: str, peer: str) -> Opened:
        """The latest messages of a conversation, now marked read for `me` (their peer is told),
        where `me` had read up to before, and up to where the peer has read (0 when `me` may not
        learn it). No file is made."""
        return await self._latest(me, peer, mark_read=True)

    async def latest(self, me: str, peer: str) -> Opened:
        """As open_and_mark_read, but nothing is marked read (the page shown again after a refusal)."""
        return await self._latest(me, peer, mark_read=False)

    async def learns_of_reading(self, author: str, reader: str) -> bool:
        """Whether `author` may learn that `reader` read their messages: not when nobody reads as
        `author`, nor when `reader` blocked them (whom a person blocked learns nothing of what
        that person does)."""
        return receives_pushes(author) and not await self._safety.has_blocked(reader, author)

    async def _latest(self, me: str, peer: str, mark_read: bool) -> Opened:
        async with self.logs.conversation(me, peer) as conversation:
            if conversation is None:
                return Opened([], 0, 0)
            messages = await conversation.page()
            read_before = await conversation.read_marker(me)
            peer_read = await conversation.read_marker(peer)
        if mark_read and messages:
            await self.mark_read(me, peer, messages[-1].id)
        if not await self.learns_of_reading(me, peer):
            peer_read = 0
        return Opened(messages, read_before, peer_read)

    async def mark_read(self, me: str, peer: str, up_to: int) -> bool:
        """`me` was shown the conversation up to message `up_to`: their read marker moves there
        (never back, never past the newest message), their tabs and unread counts follow, and
        the peer learns it (see learns_of_reading). False if the marker did not move."""
        async with self._in_order(me, peer):  # its counts follow those of the messages before it
            async with self.logs.conversation(me, peer) as conversation:
                if conversation is None:
                    return False
                last = await conversation.last()
                up_to = min(up_to, last.id if last else 0)
                if up_to <= await conversation.read_marker(me):
                    return False
                unread_before = await conversation.unread(me)
                try:
                    await conversation.mark_read(me, up_to)
                except StorageFailed as e:  # the page is still worth showing; it is marked next time
                    log.warning("a read marker was not stored: %s", e)
                    return False
                unread = await conversation.unread(me)
            if unread != unread_before:  # it passed messages of the peer's: they, and my tabs, learn it
                await self._delivery.read(pair_key(me, peer), me, peer, up_to, last, unread,
                                          await self.learns_of_reading(peer, me))
        return True

    async def unread_total(self, user: str) -> int:
        """How many messages `user` has not read, all conversations together but those they muted."""
        return (await self.page_state(user))[0]

    async def page_state(self, user: str) -> tuple[int, dict[str, int]]:
        """What every page of `user`'s shows of chat (parlor/chat/mutes.py page_state)."""
        return await page_state(self._redis, user)

    async def older(self, me: str, peer: str, before: int) -> list[Message]:
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.page(before) if conversation else []

    async def unread(self, me: str, peer: str) -> int:
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.unread(me) if conversation else 0

    async def summaries(self, me: str) -> list[Summary]:
        """My conversations, newest first, with the last message and my unread count; those with
        people I blocked are hidden until I unblock them."""
        peers = await self.peers(me, LISTED_CONVERSATIONS)
        result = []
        for peer in peers:
            async with self.logs.conversation(me, peer) as conversation:
                if conversation is not None:
                    result.append(Summary(peer, await conversation.last(), await conversation.unread(me)))
        return result

    async def peers(self, user: str, limit: int) -> list[str]:
        """The people `user` has conversations with, newest first, except those `user` blocked
        (who are shown neither the conversation nor `user`'s presence)."""
        return await conversation_peers(self._redis, user, limit)

    async def all_peers(self, user: str) -> list[str]:
        """Everyone `user` has a conversation with, blocked or not, newest first."""
        return await self._redis.zrevrange(conversations_key(user), 0, -1)

    async def delete(self, me: str, peer: str, message_id: int) -> Message:
        """Delete my message: "message deleted" for both of us from now on, its text or picture
        gone from the file, no longer counted unread. Refused not_found if it is not mine (or
        does not exist)."""
        async with self._in_order(me, peer):  # its event follows the message's own
            async with self.logs.conversation(me, peer) as conversation:
                message = await conversation.erase(message_id, me) if conversation else None
                if message is None:
                    raise Refused("not_found", "There is no message of yours with that number here.")
                newest = (await conversation.last()).id == message.id  # then both list rows change
                unread = {user: await conversation.unread(user) for user in (me, peer)}
            await self._delivery.deleted(pair_key(me, peer), me, peer, message, newest, unread, readers(me, peer))
        return message

    async def message(self, me: str, peer: str, message_id: int) -> Message | None:
        """One message of the pair's conversation, to one of the pair only."""
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.message(message_id) if conversation else None

    async def block(self, me: str, peer: str) -> None:
        """`me` blocks `peer` (Safety.block): their conversation leaves `me`'s list, and its
        unread messages `me`'s unread count."""
        await self._safety.block(me, peer)
        await self._delivery.unread_changed(me, peer, 0)

    async def unblock(self, me: str, peer: str) -> None:
        """`me` unblocks `peer`: the conversation, and its unread messages, come back."""
        await self._safety.unblock(me, peer)
        await self._delivery.unread_changed(me, peer, await self.unread(me, peer))

    async def ghost_user(self, user: str, ghost: str) -> None:
        """An account is gone (every process has let go of its files, Chat.on_user_leaving): each
        conversation with a person moves to the pair (ghost, peer), its messages now by the ghost
        (shown as "deleted user"), so the peer keeps their history and a later account with the
        same name inherits none of it. Conversations with no one left in them (ELIZA, another
        deleted account) are removed."""
        for key in self.logs.keys_of(user):
            a, b = key.split("_")
            peer = b if a == user else a
            if peer == eliza.USERNAME or is_ghost(peer):
                await self.logs.remove(user, peer)
                continue
            async with self._in_order(user, peer):
                async with self.logs.conversation(user, peer, moving=True) as conversation:
                    await conversation.rename_user(user, ghost)
                await self.logs.move(user, peer, ghost)
            await self._renamed(peer, user, ghost)

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: its list of conversations goes (each moved to its ghost), and its unread counts."""
        await self._redis.delete(conversations_key(user), unread_key(user))

    async def _renamed(self, peer: str, old: str, new: str) -> None:
        """In `peer`'s conversation list and unread counts, `old` is now `new`."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zscore(conversations_key(peer), old)
            pipe.zrem(conversations_key(peer), old)
            pipe.hget(unread_key(peer), old)
            pipe.hdel(unread_key(peer), old)
            score, _, unread, _ = await pipe.execute()
        async with self._redis.pipeline(transaction=True) as pipe:
            if score is not None:
                pipe.zadd(conversations_key(peer), {new: score})
            if unread is not None:
                pipe.hset(unread_key(peer), new, unread)
            await pipe.execute()

    async def on_user_leaving(self, user: str) -> None:
        """An account is being deleted (on some process), before anything of it moves: its name is
        forgotten here, its files may no longer be opened here (a send that passed its check
        before the account went is refused once it takes its pair's lock), the writes holding
        its pairs' locks finish, and its files close. Then the deleting process may move them."""
        self._accounts.forget(user)
        self.logs.bar(user)
        await self._pair_locks.quiet(user)
        await self.logs.close_user(user)

    async def on_user_left(self, user: str) -> None:
        """An account was deleted (on any process): close its files held here; its name's pairs
        may be opened again (a new one is made only for accounts that exist: _mark_new_pair)."""
        self._accounts.forget(user)
        await self.logs.close_user(user)
        self.logs.unbar(user)

    async def image(self, me: str, peer: str, image_id: int, thumbnail: bool) -> tuple[str, bytes] | None:
        """An image of the pair's conversation, to one of the pair only."""
        async with self.logs.conversation(me, peer) as conversation:
            return await conversation.image(image_id, thumbnail) if conversation else None

    async def pages(self, me: str, peer: str, size: int) -> AsyncIterator[tuple[list[Message], dict[int, str]]]:
        """Every message of the conversation, oldest first, `size` at a time, each page with the
        MIME type of its pictures (the data download: one page in memory at once, whatever the
        history)."""
        after = 0
        while True:
            async with self.logs.conversation(me, peer) as conversation:
                page = await conversation.after(after, size) if conversation else []
                pictures = [m.image_id for m in page if m.image_id is not None]
                types = await conversation.picture_types(pictures) if pictures else {}
            if page:
                yield page, types
            if len(page) < size:
                return
            after = page[-1].id

    async def history_page(self, me: str, peer: str, before: int | None = None,
                           limit: int = HISTORY_PAGE) -> tuple[list[Message], bool]:
        """Up to `limit` messages before id `before` (or the latest), oldest first, for the JSON
        API, and whether there are older ones."""
        async with self.logs.conversation(me, peer) as conversation:
            if conversation is None:
                return [], False
            messages = await conversation.page(before, limit + 1)
        return messages[-limit:], len(messages) > limit

    async def create(self, me: str, peer: str) -> None:
        """Make the pair's file now (the tutorial's create_conversation_db), after the checks of
        a first message: blocks either way, and the limit on new conversations."""
        await self._check_send(me, peer, picture=False, message=False)
        await self._mark_new_pair(me, peer)
        try:
            async with self.logs.conversation(me, peer, create=True):
                pass
        except StorageFailed:
            raise Refused("unavailable", NOT_STORED) from None
        # Listed for its maker, so that their first message is not counted as new once more.
        await self._redis.zadd(conversations_key(me), {peer: int(time.time() * 1000)}, nx=True)
