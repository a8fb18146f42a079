"""Leaderboards: one Redis sorted set per board maximum, one entry (their best game) per player.

The sorted-set score packs the guess count and the finish time into one integer, so that fewer
guesses rank higher and, among equal counts, the earlier finish does:

    score = guesses * 2**42 + finished_ms

finished_ms stays below 2**42 until the year 2109, and guesses below 2**10 (a game ends at 1000),
so every score is an integer below 2**52: a double holds it exactly, in Redis and in Lua.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

TIME_BITS = 42  # milliseconds since 1970 fit in 42 bits until 2109
TIME_SPAN = 1 << TIME_BITS
MAX_RANKED_GUESSES = 999  # a game reaching 1000 guesses ends unranked
HISTORY_LENGTH = 100  # finished games kept per player
AROUND = 5  # "around me" shows this many places above and below
BOARDS_CHANNEL = "parlor:boards"  # pub/sub: a board changed (message: its maximum)
COUNTS_PREFIX = "histogram:"  # + board: guess count -> winning games (the guess script builds it too)


def pack(guesses: int, finished_ms: int) -> int:
    """The sorted-set score of a game; smaller is better."""
    if not 1 <= guesses <= MAX_RANKED_GUESSES or not 0 <= finished_ms < TIME_SPAN:
        raise ValueError("guesses or finish time out of range")
    return guesses * TIME_SPAN + finished_ms


def unpack(score: float | int | str) -> tuple[int, int]:
    """(guesses, finished_ms) from a sorted-set score."""
    value = int(float(score))
    return value >> TIME_BITS, value & (TIME_SPAN - 1)


def board_key(board: int) -> str:
    return f"scores:{board}"


def meta_key(board: int) -> str:
    return f"scores:{board}:meta"  # version (changes on every write) and updated_ms


def entry_key(board: int, member: str) -> str:
    return f"scores:{board}:entry:{member}"


def history_key(member: str) -> str:
    return f"history:{member}"


def counts_key(board: int) -> str:
    """Every winning game on a board, as a hash of guess count -> games."""
    return f"{COUNTS_PREFIX}{board}"


def player_counts_key(board: int, member: str) -> str:
    """One player's winning games on a board, as a hash of guess count -> games."""
    return f"{COUNTS_PREFIX}{board}:{member}"


def best_possible(board: int) -> int:
    """The guesses that halving the range always wins within: ceil(log2(board + 1))."""
    return board.bit_length()


def member_for(user: str | None, player: str) -> str:
    """A board member: a signed-in user by name, a guest by their player id."""
    return f"u:{user}" if user else f"g:{player}"


# Record a won game: only once per game, only if better than the player's best, entry and
# details together, version bumped and the change announced, all in one atomic step.
_RECORD = """
local game = redis.call('HMGET', KEYS[4], 'status', 'recorded')
if game[1] ~= 'won' then return -1 end
if game[2] then return -2 end
redis.call('HSET', KEYS[4], 'recorded', ARGV[1])
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if old and tonumber(old) <= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'name', ARGV[3], 'guest', ARGV[4], 'guesses', ARGV[5],
           'finished_ms', ARGV[6], 'duration_ms', ARGV[7])
local version = redis.call('HINCRBY', KEYS[3], 'version', 1)
redis.call('HSET', KEYS[3], 'updated_ms', ARGV[8])
redis.call('PUBLISH', ARGV[9], ARGV[10])
return version
"""

# Take a player off a board (their account is gone): entry and details together, the version
# bumped and the change announced. KEYS: board, entry, meta. ARGV: member, now ms, channel, board.
_REMOVE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
local version = redis.call('HINCRBY', KEYS[3], 'version', 1)
redis.call('HSET', KEYS[3], 'updated_ms', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return version
"""

# A page of a board with each entry's details and what is needed for shared ranks, read
# atomically in one round trip.
_PAGE = """
local meta = redis.call('HMGET', KEYS[2], 'version', 'updated_ms')
local total = redis.call('ZCARD', KEYS[1])
local start, count = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[5] ~= '' then  -- around a member: their place and AROUND either side
  local place = redis.call('ZRANK', KEYS[1], ARGV[5])
  if not place then return false end
  start = math.max(0, place - tonumber(ARGV[6]))
  count = place - start + tonumber(ARGV[6]) + 1
end
local members = redis.call('ZRANGE', KEYS[1], start, start + count - 1, 'WITHSCORES')
local fewer = 0
if #members > 0 then
  local guesses = math.floor(tonumber(members[2]) / tonumber(ARGV[3]))
  fewer = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. string.format('%.0f', guesses * tonumber(ARGV[3])))
end
local rows = {}
for i = 1, #members, 2 do
  local details = redis.call('HMGET', ARGV[4] .. members[i], 'name', 'guest', 'duration_ms')
  rows[#rows + 1] = {members[i], members[i + 1], details[1] or '', details[2] or '0', details[3] or '0'}
end
return {meta[1] or '0', meta[2] or '0', total, fewer, rows, start}
"""


@dataclass(frozen=True)
class Entry:
    """One row of a board."""

    rank: int
    member: str
    name: str
    guest: bool
    guesses: int
    finished_ms: int
    duration_ms: int

    @property
    def finished_at(self) -> datetime:
        return datetime.fromtimestamp(self.finished_ms / 1000, timezone.utc)

    @property
    def finished_iso(self) -> str:
        return self.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_json(self) -> dict:
        return {"rank": self.rank, "name": self.name, "guest": self.guest, "guesses": self.guesses,
                "finished_at": self.finished_iso, "duration_s": round(self.duration_ms / 1000, 1)}


@dataclass(frozen=True)
class Page:
    """A slice of a board, with the board's version for caching."""

    board: int
    version: int
    updated_ms: int
    total: int
    offset: int
    entries: list[Entry]


@dataclass(frozen=True)
class Stats:
    """How many guesses the winning games on a board took: everyone's, and the viewer's own."""

    board: int
    counts: dict[int, int]  # guess count -> winning games
    mine: dict[int, int]  # the same for the viewer's games only

    @property
    def best_possible(self) -> int:
        return best_possible(self.board)

    @property
    def games(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict:
        return {"board": self.board, "best_possible": self.best_possible, "games": self.games,
                "my_games": sum(self.mine.values()),
                "histogram": [{"guesses": guesses, "games": games, "mine": self.mine.get(guesses, 0)}
                              for guesses, games in sorted(self.counts.items())]}


class Leaderboards:
    """Read and write the boards."""

    def __init__(self, redis: aioredis.Redis, boards: tuple[int, ...]):
        self._redis = redis
        self.boards = boards
        self._record = redis.register_script(_RECORD)
        self._page = redis.register_script(_PAGE)
        self._remove = redis.register_script(_REMOVE)

    async def record(self, game_key: str, board: int, member: str, name: str, guest: bool,
                     guesses: int, finished_ms: int, duration_ms: int) -> int:
        """Put a won game on its board if it is the player's best: the new version, or 0 if it was
        not better; -1 if the game is not won, -2 if it was recorded already."""
        return await self._record(
            keys=[board_key(board), entry_key(board, member), meta_key(board), game_key],
            args=[member, pack(guesses, finished_ms), name, int(guest), guesses, finished_ms,
                  duration_ms, int(time.time() * 1000), BOARDS_CHANNEL, board],
        )

    async def page(self, board: int, offset: int = 0, limit: int = 10) -> Page:
        return await self._read(board, offset, limit)

    async def _read(self, board: int, offset: int, limit: int, around: str = "") -> Page | None:
        answer = await self._page(
            keys=[board_key(board), meta_key(board)],
            args=[offset, limit, TIME_SPAN, f"scores:{board}:entry:", around, AROUND],
        )
        if answer is None:
            return None
        version, updated, total, fewer, rows, offset = answer
        entries = []
        rank = fewer + 1
        previous = None
        for position, (member, score, name, guest, duration) in enumerate(rows):
            guesses, finished_ms = unpack(score)
            if previous is not None and guesses != previous:
                rank = offset + position + 1  # equal counts share a rank ("1224" ranking)
            previous = guesses
            entries.append(Entry(rank, member, name, guest == "1", guesses, finished_ms, int(duration)))
        return Page(board, int(version), int(updated), int(total), offset, entries)

    async def around(self, board: int, member: str) -> Page | None:
        """The member's entry with up to AROUND places either side (read atomically), or None
        if they are not on the board."""
        return await self._read(board, 0, 0, around=member)

    async def best(self, board: int, member: str) -> Entry | None:
        """The member's entry on a board (their best game there), with its shared rank."""
        page = await self.around(board, member)
        return next((e for e in page.entries if e.member == member), None) if page else None

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

    async def remove(self, member: str) -> None:
        """Take a player off every board and forget their finished games."""
        now_ms = int(time.time() * 1000)
        for board in self.boards:
            await self._remove(keys=[board_key(board), entry_key(board, member), meta_key(board)],
                               args=[member, now_ms, BOARDS_CHANNEL, board])
        await self._redis.delete(history_key(member))
