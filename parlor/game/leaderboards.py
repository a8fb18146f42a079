"""The boards in Redis: count games on them, read pages of them, take entries off them."""
from __future__ import annotations

import time
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from parlor.accounts.lookalikes import look_alike_key, look_alike_keys
from parlor.game.ranking import (
    AROUND,
    BANNED_NAMES_KEY,
    BEST_SPAN,
    BOARDS_CHANNEL,
    GUEST_ENTRY_TTL_S,
    GUEST_SWEEP_CHUNK,
    HISTORY_LENGTH,
    MAX_BANNED_NAMES,
    MIN_GAMES,
    OLD_SCORES,
    RECENT_GAMES,
    Entry,
    Page,
    Progress,
    Stats,
    board_key,
    counts_key,
    entry_key,
    forfeit_guesses,
    guests_key,
    history_key,
    is_guest_entry,
    meta_key,
    player_counts_key,
    recent_key,
    unpack,
    user_member,
)
from parlor.infra.redis_client import register_scripts
from parlor.refusals import Refused


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _nobody_keeps_copies(board: int) -> None:
    pass


class Leaderboards:
    """Read and write the boards."""

    def __init__(self, redis: aioredis.Redis, boards: tuple[int, ...],
                 on_change: Callable[[int], Awaitable[None]] = _nobody_keeps_copies):
        """`on_change(board)` runs after every write that changed a board, before its caller goes
        on: copies of the board kept anywhere must not outlive the write's answer."""
        self._redis = redis
        self.boards = boards
        self._on_change = on_change
        self._scripts = register_scripts(
            redis, __package__, "entry_begin", "entry_win", "entry_name", "entry_remove", "entry_hide", "entry_show",
            "sweep_guests", "drop_old_entries", "board_page")

    def _entry_keys(self, board: int, member: str) -> list[str]:
        return [recent_key(board, member), entry_key(board, member), board_key(board), meta_key(board),
                guests_key(board)]

    async def _write(self, board: int, script, keys: list, args: list) -> int:
        """Run a script that may change `board`: a positive answer (its new version, or how many
        entries went) says it did."""
        result = await script(keys=keys, args=args)
        if result > 0:
            await self._on_change(board)
        return result

    def _recount_args(self, board: int, member: str) -> list:
        return [member, MIN_GAMES, forfeit_guesses(board), _now_ms(), BOARDS_CHANNEL, board]

    async def begin(self, board: int, member: str, game_id: str, name: str = "") -> int:
        """A game starts: it counts for `member` as a forfeit until it is won. `name` is a user's
        own (a guest entry is named by claim). Returns the board's new version, or 0."""
        guest = is_guest_entry(member)
        return await self._write(board, self._scripts.entry_begin, self._entry_keys(board, member),
                                 [*self._recount_args(board, member), game_id, RECENT_GAMES,
                                  "" if guest else name, int(guest), GUEST_ENTRY_TTL_S])

    async def win(self, game_key: str, game_id: str, board: int, member: str, guesses: int,
                  finished_ms: int, duration_ms: int) -> int:
        """A won game replaces its forfeit: the new version, or 0 if the board did not change;
        -1 if the game is not won, -2 if it was counted already."""
        return await self._write(board, self._scripts.entry_win, [*self._entry_keys(board, member), game_key],
                                 [*self._recount_args(board, member), game_id, guesses, finished_ms, duration_ms])

    async def name(self, board: int, member: str, name: str) -> int:
        """Name a guest entry (the last name given from an address is the one shown)."""
        return await self._write(board, self._scripts.entry_name, self._entry_keys(board, member),
                                 [*self._recount_args(board, member), name, GUEST_ENTRY_TTL_S])

    async def page(self, board: int, offset: int = 0, limit: int = 10) -> Page:
        return await self._read(board, offset, limit)

    async def versions(self, boards: list[int]) -> list[int]:
        """Each of these boards' version now (0 for a board never written), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for board in boards:
                pipe.hget(meta_key(board), "version")
            return [int(version or 0) for version in await pipe.execute()]

    async def _read(self, board: int, offset: int, limit: int, around: str = "") -> Page | None:
        answer = await self._scripts.board_page(
            keys=[board_key(board), meta_key(board)],
            args=[offset, limit, BEST_SPAN, f"scores:{board}:entry:", around, AROUND],
        )
        if answer is None:
            return None
        version, updated, total, better, rows, offset = answer
        entries = []
        rank = better + 1
        previous = None
        for position, (member, score, name, guest, finished, duration, games, forfeits) in enumerate(rows):
            average_milli, best = unpack(score)
            if previous is not None and average_milli != previous:
                rank = offset + position + 1  # equal averages share a rank ("1224" ranking)
            previous = average_milli
            entries.append(Entry(rank, member, name, guest == "1", best, int(finished), int(duration),
                                 average_milli, int(games), int(forfeits)))
        return Page(board, int(version), int(updated), int(total), offset, entries)

    async def around(self, board: int, member: str) -> Page | None:
        """The member's entry with up to AROUND places either side (read atomically), or None
        if they are not on the board."""
        return await self._read(board, 0, 0, around=member)

    async def best(self, board: int, member: str) -> Entry | None:
        """The member's entry on a board, with its shared rank; None if they are not ranked."""
        page = await self.around(board, member)
        return next((e for e in page.entries if e.member == member), None) if page else None

    async def progress(self, board: int, member: str) -> Progress:
        """The member's entry if ranked, else how many games they have counted so far."""
        entry = await self.best(board, member)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.llen(recent_key(board, member))
            pipe.hexists(entry_key(board, member), "guesses")
            games, won = await pipe.execute()
        return Progress(board, entry, int(games), bool(won))

    async def stats(self, board: int, members: list[str]) -> Stats:
        """The board's histogram, with the games of these members (one viewer) as their own."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(counts_key(board))
            for member in members:
                pipe.hgetall(player_counts_key(board, member))
            everyone, *own = await pipe.execute()
        mine: dict[int, int] = {}
        for counts in own:
            for guesses, games in counts.items():
                mine[int(guesses)] = mine.get(int(guesses), 0) + int(games)
        return Stats(board, {int(g): int(n) for g, n in everyone.items()}, mine)

    async def history(self, member: str) -> list[str]:
        return await self._redis.lrange(history_key(member), 0, HISTORY_LENGTH - 1)

    async def sweep_guests(self, every_one: bool = False) -> int:
        """Take guest entries whose last game is older than GUEST_ENTRY_TTL_S (every_one: all of
        them) off every board; returns how many went."""
        gone = 0
        oldest = "+inf" if every_one else _now_ms() - GUEST_ENTRY_TTL_S * 1000
        for board in self.boards:
            while True:
                swept = await self._write(board, self._scripts.sweep_guests,
                                          [guests_key(board), board_key(board), meta_key(board)],
                                          [oldest, GUEST_SWEEP_CHUNK, recent_key(board, ""), entry_key(board, ""),
                                           _now_ms(), BOARDS_CHANNEL, board])
                gone += swept
                if swept < GUEST_SWEEP_CHUNK:
                    break
        return gone

    async def drop_old_entries(self) -> int:
        """Take entries of the best-game boards (before averages) off every board; how many.
        Safe to run at every start, by every process."""
        return sum([await self._write(board, self._scripts.drop_old_entries, [board_key(board), meta_key(board)],
                                      [OLD_SCORES, entry_key(board, ""), _now_ms(), BOARDS_CHANNEL, board])
                    for board in self.boards])

    async def remove(self, user: str) -> None:
        """Take a user off every board and forget their games: entries, histograms, history."""
        member = user_member(user)
        for board in self.boards:
            await self._write(board, self._scripts.entry_remove, self._entry_keys(board, member),
                              [member, _now_ms(), BOARDS_CHANNEL, board])
        await self._redis.delete(history_key(member), *(player_counts_key(b, member) for b in self.boards))

    async def remove_entry(self, board: int, member: str) -> bool:
        """Take one entry off a board and forget its games there (an admin's moderation); False if
        it was not on the board."""
        return bool(await self._write(board, self._scripts.entry_remove, self._entry_keys(board, member),
                                      [member, _now_ms(), BOARDS_CHANNEL, board]))

    async def entry_name(self, board: int, member: str) -> str | None:
        """The name an entry shows, or None if there is no such entry."""
        return await self._redis.hget(entry_key(board, member), "name")

    async def hide(self, user: str) -> None:
        """Take a user's entries off every board (their account is suspended), keeping their games."""
        member = user_member(user)
        for board in self.boards:
            await self._write(board, self._scripts.entry_hide, self._entry_keys(board, member)[:4],
                              [member, _now_ms(), BOARDS_CHANNEL, board])

    async def show(self, user: str) -> None:
        """Put a user's hidden entries back where their games rank them (the suspension ended)."""
        member = user_member(user)
        for board in self.boards:
            await self._write(board, self._scripts.entry_show, self._entry_keys(board, member)[:4],
                              self._recount_args(board, member))

    async def ban_name(self, name: str) -> None:
        """No guest may name an entry `name`, or a look-alike of it, from now on."""
        if await self._redis.scard(BANNED_NAMES_KEY) >= MAX_BANNED_NAMES:
            raise Refused("conflict", f"{MAX_BANNED_NAMES} names are banned already: no more can be.")
        await self._redis.sadd(BANNED_NAMES_KEY, look_alike_key(name))

    async def name_is_banned(self, name: str) -> bool:
        """Whether an admin banned this guest name (or a name it looks like)."""
        keys = sorted(look_alike_keys(name))
        return any(await self._redis.smismember(BANNED_NAMES_KEY, keys))
