"""Parlor's services for one process: built in the order they depend on each other, each handed
exactly what it uses; every resource's stop registered beside its start, so stop() undoes them
all in reverse order (aiohttp's cleanup_ctx shape)."""
from __future__ import annotations

import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import argon2
import jinja2
import redis.asyncio as aioredis
import tornado.ioloop

from parlor.accounts.accounts import Accounts
from parlor.accounts.credentials import Credentials
from parlor.accounts.directory import Directory
from parlor.accounts.invites import Invites
from parlor.accounts.password_resets import PasswordResets
from parlor.accounts.sessions import SIGN_OUT_CHANNEL, Sessions
from parlor.accounts.suspensions import Suspensions
from parlor.accounts.usernames import display_name, is_ghost
from parlor.chat.chat import Chat
from parlor.chat.conversation_list import conversation_peers, conversations_key
from parlor.chat.message_actions import REACTIONS, editable
from parlor.chat.mutes import UNTIL_UNMUTED_MS, Mutes, muted_key
from parlor.chat.search import Search
from parlor.chat.pair_files import PairFiles
from parlor.chat.unread import unread_key
from parlor.community.account_list import AccountList
from parlor.community.admins import Admins
from parlor.community.audit import AuditLog
from parlor.community.data_export import DataExport
from parlor.community.leaving import LEAVING_CHANNEL, LEFT_CHANNEL, Leaving
from parlor.community.moderation import Moderation
from parlor.community.reports import Reports
from parlor.game.games import Games
from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import BOARDS_CHANNEL
from parlor.infra.config import Config
from parlor.infra.metrics import Metrics
from parlor.infra.redis_client import REDIS_DOWN, answers
from parlor.infra.times import iso_time
from parlor.live.addresses import AddressCounts
from parlor.live.events import EventLog, Outgoing
from parlor.live.hub import Hub
from parlor.live.listener import Listener
from parlor.live.message_events import MessageEvents
from parlor.live.processes import LeaseTiming, Processes
from parlor.live.presence import PRESENCE_CHANNEL, Presence
from parlor.live.typing import TYPING_CHANNEL
from parlor.safety import Safety
from parlor.web.views.boards import BoardViews
from parlor.web.views.chat import ChatViews, day_label, linkify
from parlor.web.views.live import LiveViews

log = logging.getLogger("parlor")

HASH_THREADS = 2  # argon2 takes 64 MiB and a core per hash; two at once is what 2 cores hold
# Hashes that may wait for a thread; more are refused at once with 503 and Retry-After (a flood
# of logins from many addresses must not make every login wait): a login waits at most two
# hashes' time before its own.
HASHES_WAITING = 4
IMAGE_THREADS = 2  # decoding a 24-megapixel picture takes a core for a while
STATE_PUSH_MS = 1000  # the periodic state push (online count) runs once a second
# Expired guest entries leave the boards, and suspensions whose time is up are lifted, within a minute.
SWEEP_MS = 60_000


def make_templates(folder: Path, debug: bool) -> jinja2.Environment:
    """The Jinja2 templates, autoescaped, with Parlor's filters."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,  # every {{ }} is escaped unless a value is Markup
        auto_reload=debug,  # else every get_template would stat the file
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["linkify"] = linkify
    templates.filters["day_label"] = day_label
    templates.filters["display_name"] = display_name
    templates.globals["UNTIL_UNMUTED_MS"] = UNTIL_UNMUTED_MS  # a mute that lasts until unmuted ends then
    templates.filters["iso_time"] = iso_time  # <time datetime="{{ at | iso_time('seconds') }}">
    templates.tests["ghost"] = is_ghost  # `name is ghost`: a deleted account's name
    templates.tests["editable"] = editable  # `message is editable`: its author may still edit it
    templates.globals["reactions_offered"] = REACTIONS
    return templates


@dataclass(frozen=True)
class Overrides:
    """Parts a caller (the tests) hands the services in place of the production ones; each left
    None is built as in production."""

    password_hasher: argon2.PasswordHasher | None = None  # None: argon2's own defaults
    lease_timing: LeaseTiming = LeaseTiming()  # how long copies of boards are trusted


class Services:
    """Every service one process runs; the Tornado application (server.py) is one, so handlers
    reach them as self.application.<name>."""

    def __init__(self, config: Config, redis: aioredis.Redis, metrics: Metrics, templates_folder: Path,
                 overrides: Overrides = Overrides()):
        self.config, self.redis, self.metrics = config, redis, metrics
        self._stops = contextlib.AsyncExitStack()  # each stop pushed as its resource comes to be
        self._stops.push_async_callback(redis.aclose)
        self.templates = make_templates(templates_folder, config.debug)
        self.hash_pool = self._pool(HASH_THREADS, "argon2")
        self.image_pool = self._pool(IMAGE_THREADS, "images")
        self.safety = Safety(redis, config.rate_limits())
        self.invites = Invites(redis)
        self.accounts = Accounts(redis, self.hash_pool, overrides.password_hasher, safety=self.safety,
                                 hashing_slots=HASH_THREADS + HASHES_WAITING, signup=config.signup, invites=self.invites)
        self.audit = AuditLog(redis)
        resets = PasswordResets(redis)
        self.admins = Admins(redis, self.accounts, self.audit, resets)
        self.directory = Directory(redis)
        self.account_list = AccountList(redis, self.directory)
        self.sessions = Sessions(redis)
        self.events = EventLog(redis, config.events_max, config.events_max_age)
        self.presence = Presence(redis, config.max_connections_per_user)
        self.pair_files = PairFiles(config.data_dir / "conversations", config.chat_max_open)
        self._stops.push_async_callback(self.pair_files.close_all)
        # A user's presence changes are shown to the people they have conversations with.
        addresses = AddressCounts(redis, self.presence.process, config.max_connections_per_address,
                                  config.max_anonymous_connections_per_address)
        self.live_views = LiveViews(self.templates)
        self.hub = Hub(redis, self.events, self.presence, self.live_views,
                       functools.partial(conversation_peers, redis), metrics.event_delivered, addresses)
        # A stored message leaves chat by its delivery port, which the live wing implements.
        self.message_events = MessageEvents(redis, self.hub, ChatViews(self.templates), conversations_key, unread_key,
                                            muted_key, on_stored=metrics.message_stored)
        self.mutes = Mutes(redis, self.message_events.mutes_changed)
        self.chat = Chat(self.pair_files, redis, self.accounts, self.image_pool, self.message_events,
                         eliza_delay_scale=config.eliza_delay, safety=self.safety)
        self.search = Search(self.pair_files, redis, self.safety)
        self._stops.push_async_callback(self.chat.stop)  # ELIZA's replies still thinking
        self.processes = Processes(redis, self.presence.process, overrides.lease_timing)
        self.leaderboards = Leaderboards(redis, config.boards, on_change=self._board_written)
        self.games = Games(redis, self.leaderboards, config.guess_limit, guest_entries=config.guest_entries,
                           safety=self.safety)
        self.credentials = Credentials(self.accounts, self.sessions, resets)
        self.data_export = DataExport(redis, self.chat, self.games, self.image_pool, self.safety)
        self.suspensions = Suspensions(redis, self.accounts, self.sessions, self.hub, self.leaderboards)
        self.reports = Reports(redis, self.chat, self.safety, self.image_pool, on_change=self._open_reports_changed)
        # When an account goes, the records that name it name its ghost (the conversations first:
        # a report's Delete then finds its message in the moved file); then every store that keeps
        # something of it forgets it itself, those whose keys are found only by looking (per pair,
        # per address) last.
        self.leaving = Leaving(
            redis, self.credentials, self.accounts, self.sessions, self.hub,
            records=(self.chat, self.reports, self.audit, self.invites, self.suspensions),
            stores=(self.games, self.safety, self.events, self.mutes, self.chat, self.sessions, self.presence, resets,
                    self.suspensions, self.admins, self.message_events, self.hub, self.accounts))
        self.moderation = Moderation(accounts=self.accounts, admins=self.admins, invites=self.invites,
                                     suspensions=self.suspensions, resets=resets, credentials=self.credentials, leaderboards=self.leaderboards,
                                     reports=self.reports, chat=self.chat, audit=self.audit)
        self.board_views = BoardViews(self.leaderboards, self.templates, self.hub, self.processes)
        self.listener = Listener(redis, {
            BOARDS_CHANNEL: self.board_views.board_changed,
            self.hub.events_channel: self.hub.on_events,
            PRESENCE_CHANNEL: self.hub.on_presence,
            TYPING_CHANNEL: self.hub.on_typing,
            SIGN_OUT_CHANNEL: self._signed_out,
            LEAVING_CHANNEL: self._user_leaving,
            LEFT_CHANNEL: self.chat.on_user_left,
        }, on_resubscribe=self._resubscribed)

    def _pool(self, threads: int, name: str) -> ThreadPoolExecutor:
        pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._stops.callback(pool.shutdown, wait=False, cancel_futures=True)
        return pool

    async def start(self) -> None:
        """Join the other processes, bring old data up to date, then start the pub/sub listener,
        the state push and the sweep."""
        await self.processes.beat()
        self._stops.push_async_callback(self.processes.leave)
        self._every(int(self.processes.timing.beat_s * 1000), self.processes.beat)
        await self.accounts.index_look_alikes()  # accounts made before look-alike keys were kept
        await self.directory.index_all()  # accounts made before the admins' list was kept
        await self.leaderboards.drop_old_entries()  # entries of the boards before they ranked averages
        if not self.config.guest_entries:
            await self.leaderboards.sweep_guests(every_one=True)  # --guest-boards off: no guest is ranked
        self.listener.start()
        self._stops.push_async_callback(self.listener.stop)
        self._every(STATE_PUSH_MS, self.hub.tick)
        self._every(SWEEP_MS, self.sweep)

    def _every(self, ms: int, job: Callable[[], Awaitable[None]]) -> None:
        periodic = tornado.ioloop.PeriodicCallback(job, ms)
        periodic.start()
        self._stops.callback(periodic.stop)

    async def stop(self) -> None:
        """Stop everything started, then close everything opened, the latest first."""
        await self._stops.aclose()

    async def sweep(self) -> None:
        """Expired guest entries off the boards; suspensions whose time is up lifted."""
        try:
            await self.leaderboards.sweep_guests()
            await self.moderation.lift_ended()
        except REDIS_DOWN as e:  # the next sweep tries again
            log.warning("the minute's sweep was skipped: %s", e)

    async def redis_answers(self) -> bool:
        """Whether Redis answers now (for /healthz)."""
        return await answers(self.redis)

    async def _board_written(self, board: int) -> None:
        """A board changed by this process: no copy of it, here or on another process, may outlive
        the write's answer."""
        self.board_views.changed(board)
        await self.processes.after_write()

    async def _signed_out(self, notice: str) -> None:
        """Sessions or API tokens ended, on some process: what is cached of them here is
        forgotten, and the live connections they opened close."""
        self.accounts.on_sign_out(notice)
        self.sessions.on_sign_out(notice)
        await self.hub.on_sign_out(notice)

    async def _user_leaving(self, user: str) -> None:
        """An account is being deleted on some process: let go of its files here, then say so."""
        await self.chat.on_user_leaving(user)
        await self.leaving.let_go(user)

    async def _open_reports_changed(self) -> None:
        """A report was filed or closed: every admin's open pages show the new count beside the
        Admin link (an event in each admin's stream, so a page that reconnects gets it too)."""
        count = await self.reports.open_count()
        html = self.live_views.open_reports(count)
        admins = await self.admins.all()
        if admins:
            await self.hub.publish([Outgoing(admin, "reports", html, {"open_reports": count}) for admin in admins])

    def _resubscribed(self) -> None:
        """Notices may have been missed while the subscription was down (the board cache asks
        Redis for each board's version anyway)."""
        self.accounts.forget()  # an account may have left meanwhile
        self.sessions.forget()  # and sessions ended
        self.hub.resync()
