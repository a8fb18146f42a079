"""Leaving: deleting an account reaches every store that keeps something of it, each forgetting
the user itself (its own keys, by its own key builders), so that a later account with the same
name inherits nothing; records that name it (conversations, reports, the audit log, invites,
suspensions) are given its ghost name (`deleted-…`) instead, so nothing done through them later
reaches a newcomer with that name.

Deleting and sending exclude each other on every process: the account's user key goes first (the
check every send passes refuses it from then on), then every process is told (LEAVING_CHANNEL),
lets go of the account's files and answers; only then does anything move."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

import redis.asyncio as aioredis

from parlor.accounts.accounts import Accounts
from parlor.accounts.credentials import Credentials
from parlor.accounts.sessions import Sessions
from parlor.accounts.usernames import new_ghost
from parlor.infra.user_keys import KeysNaming
from parlor.live.hub import Hub

log = logging.getLogger("parlor.leaving")

LEAVING_CHANNEL = "parlor:leaving"  # "<user>": an account is going; every process lets go of its files, then answers
LEFT_CHANNEL = "parlor:left"  # "<user>": an account was deleted; every process closes its files
ANSWER_WAIT_S = 10.0  # a process that has not answered by then (stalled) is not waited for
ANSWER_POLL_S = 0.01  # how often the answers are counted meanwhile
ANSWERS_KEPT_S = 60  # the answers' list outlives a deletion that crashed half-way by this much


def answers_key(user: str) -> str:
    return f"leaving-answers:{user}"  # list: one entry per process that let go of the user's files


class KeepsUsers(Protocol):
    """A store that keeps something of users."""

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: delete what is kept of it (`keys`: its keys found by looking)."""


class NamesUsers(Protocol):
    """A store whose records name users (a conversation's messages, a report, an audit entry)."""

    async def ghost_user(self, user: str, ghost: str) -> None:
        """The account is gone: its records name `ghost` from now on."""


@dataclass(frozen=True, eq=False)
class Leaving:
    """Deleting an account: its sign-ins end, every process lets go of its files, its records
    are given its ghost name (`records`' order), then every store forgets it (`stores`' order)."""

    redis: aioredis.Redis
    credentials: Credentials
    accounts: Accounts
    sessions: Sessions
    hub: Hub
    records: Sequence[NamesUsers]
    stores: Sequence[KeepsUsers]

    async def leave(self, user: str, password: str, address: str) -> None:
        """Delete the account: no more sign-ins, sessions, token or live connections; off the
        boards; its messages stay in its peers' conversations as a "deleted user"'s; the name
        stays reserved for a while (Accounts.remove)."""
        await self.credentials.check(user, password, address, "That is not your password.")
        if not await self.accounts.remove(user):
            return  # deleted meanwhile, by another of their sessions
        await self.sessions.end_all(user)  # each session's sign-out is published ...
        await self.hub.sign_out(user)  # ... and this ends the rest, those on the API token too
        await self._every_process_let_go(user)
        ghost = new_ghost()
        for record in self.records:
            await record.ghost_user(user, ghost)
        keys = KeysNaming(self.redis, user)
        for store in self.stores:
            await store.forget_user(user, keys)
        await self.redis.publish(LEFT_CHANNEL, user)

    async def _every_process_let_go(self, user: str) -> None:
        """Tell every process the account is going and wait until each has let go of its files
        (or ANSWER_WAIT_S passed: a stalled process is logged, not waited for)."""
        await self.redis.delete(answers_key(user))
        listening = await self.redis.publish(LEAVING_CHANNEL, user)
        deadline = time.monotonic() + ANSWER_WAIT_S
        while (answered := await self.redis.llen(answers_key(user))) < listening:
            if time.monotonic() > deadline:
                log.warning("%d of %d process(es) did not let go of %s's files in %.0f s; moving them anyway",
                            listening - answered, listening, user, ANSWER_WAIT_S)
                break
            await asyncio.sleep(ANSWER_POLL_S)
        await self.redis.delete(answers_key(user))

    async def let_go(self, user: str) -> None:
        """This process has let go of a leaving account's files (Chat.on_user_leaving): say so."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(answers_key(user), 1)
            pipe.expire(answers_key(user), ANSWERS_KEPT_S)
            await pipe.execute()
