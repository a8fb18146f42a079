"""Leaderboards: what a board ranks, and the Redis that keeps it.

A board ranks players by their average over the last RECENT_GAMES games they started on it, fewer
guesses first; a player is on it from MIN_GAMES games with at least one won. Every game counts:
it is recorded as a forfeit the moment it starts and replaced by its guess count when it is won,
so a game that is abandoned (in a session that is thrown away, too) stays a forfeit. A forfeit,
and a win slower than that, count FORFEIT_FACTOR times the guesses halving always wins within,
so giving up is never better than playing on, and finishing only lucky games ranks low. The single
best game is a second column (it no longer ranks). Guests have one entry per address (every guest
game from an address counts in it; IPv6 per /64), named by the last guest there who gave a name;
it leaves the board GUEST_ENTRY_TTL_S after its last game.

Keys, per board and member (`u:<user>` or `a:<address id>`):
    recent:<board>:<member>        list, newest first: "<game id>:<guesses>" (0: a forfeit, or open)
    scores:<board>:entry:<member>  hash: name, guest, average_milli, games, forfeits, the best
                                   game's guesses, finished_ms and duration_ms, and hidden (1: off
                                   the board while its account is suspended)
    scores:<board>                 sorted set of the members on the board, by average then best
    scores:<board>:guests          sorted set: guest member -> last game (ms), for expiry
    scores:<board>:meta            version (changes on every change of the board) and updated_ms
    banned-names                   set: look-alike keys of guest names an admin banned from the boards

The sorted-set score packs the average (in thousandths of a guess) and the best game, so that a
lower average ranks higher and, among equal averages, the better best game:

    score = average_milli * 2**10 + best_guesses

average_milli stays below 2**16 (FORFEIT_FACTOR * 24 guesses for a 7-digit board) and best_guesses
below 2**10 (a game ends at 1000 guesses): every score is an exact integer in a double.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis

from .names import look_alike_key, look_alike_keys
from .refusals import Refused

BEST_BITS = 10  # a best game's guess count fits in 10 bits (a game ends at 1000 guesses)
BEST_SPAN = 1 << BEST_BITS
MAX_RANKED_GUESSES = 999  # a game reaching 1000 guesses ends as a forfeit
RECENT_GAMES = 10  # the games a player's average is over: their last ten started on the board
MIN_GAMES = 5  # games a player needs before they are ranked: one lucky game is no standing
FORFEIT_FACTOR = 2  # a forfeit counts this many times the guesses halving always wins within
GUEST_ENTRY_TTL_S = 7 * 24 * 3600  # a guest entry leaves the board a week after its last game
GUEST_SWEEP_CHUNK = 100  # expired guest entries taken off a board per script call
HISTORY_LENGTH = 100  # finished games kept per player
AROUND = 5  # "around me" shows this many places above and below
BOARDS_CHANNEL = "parlor:boards"  # pub/sub: a board changed (message: its maximum)
OLD_SCORES = 1 << 42  # every score of the boards before averages was above this; none since is
COUNTS_PREFIX = "histogram:"  # + board: guess count -> winning games (the guess script builds it too)
BANNED_NAMES_KEY = "banned-names"
MAX_BANNED_NAMES = 10_000  # guest names admins may ban; bounds what admins create


def pack(average_milli: int, best_guesses: int) -> int:
    """The sorted-set score of an entry; smaller is better."""
    if not 1 <= best_guesses <= MAX_RANKED_GUESSES or not 0 <= average_milli < 1 << 16:
        raise ValueError("average or best game out of range")
    return average_milli * BEST_SPAN + best_guesses


def unpack(score: float | int | str) -> tuple[int, int]:
    """(average_milli, best_guesses) from a sorted-set score."""
    value = int(float(score))
    return value >> BEST_BITS, value & (BEST_SPAN - 1)


def board_key(board: int) -> str:
    return f"scores:{board}"


def meta_key(board: int) -> str:
    return f"scores:{board}:meta"  # version (changes on every write) and updated_ms


def entry_key(board: int, member: str) -> str:
    return f"scores:{board}:entry:{member}"


def recent_key(board: int, member: str) -> str:
    return f"recent:{board}:{member}"


def guests_key(board: int) -> str:
    return f"scores:{board}:guests"


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


def forfeit_guesses(board: int) -> int:
    """What a forfeit counts on a board (and the most a slow win counts)."""
    return FORFEIT_FACTOR * best_possible(board)


def member_for(user: str | None, player: str) -> str:
    """Whose games these are for histograms and history: a signed-in user by name, a guest by
    their player id (their browser)."""
    return f"u:{user}" if user else f"g:{player}"


def board_member(user: str | None, address_id: str) -> str:
    """Whose entry a game counts for: a signed-in user's own, or their address's guest entry."""
    return f"u:{user}" if user else f"a:{address_id}"


def is_guest_entry(member: str) -> bool:
    return member.startswith("a:")


# Shared by the scripts that change an entry: recount it from its recent games and put it on its
# board, or take it off, as its games say (a hidden entry is never on it); `renamed` bumps the version of a board it is on even
# when its place is the same. KEYS: recent, entry, board, meta. ARGV[1..6]: member, minimum
# games, forfeit value, now ms, channel, board. Returns the board's new version, or 0 if the
# board did not change.
_RECOUNT_LUA = """
local function recount(renamed)
  local forfeit = tonumber(ARGV[3])
  local total, games, forfeits = 0, 0, 0
  for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local guesses = tonumber(string.match(item, ':(%d+)$'))
    if guesses == 0 then forfeits = forfeits + 1 end
    if guesses == 0 or guesses > forfeit then guesses = forfeit end
    total, games = total + guesses, games + 1
  end
  local average = 0
  if games > 0 then average = math.floor(total * 1000 / games + 0.5) end
  redis.call('HSET', KEYS[2], 'average_milli', average, 'games', games, 'forfeits', forfeits)
  local entry = redis.call('HMGET', KEYS[2], 'name', 'guesses', 'hidden')
  local old = redis.call('ZSCORE', KEYS[3], ARGV[1])
  local new = nil
  if games >= tonumber(ARGV[2]) and entry[1] and entry[1] ~= '' and entry[2] and entry[3] ~= '1' then
    new = average * 1024 + tonumber(entry[2])
  end
  if new == nil then
    if not old then return 0 end
    redis.call('ZREM', KEYS[3], ARGV[1])
  else
    if old and tonumber(old) == new and not renamed then return 0 end
    redis.call('ZADD', KEYS[3], new, ARGV[1])
  end
  local version = redis.call('HINCRBY', KEYS[4], 'version', 1)
  redis.call('HSET', KEYS[4], 'updated_ms', ARGV[4])
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  return version
end
-- A guest entry is kept GUEST_ENTRY_TTL_S after its last game (KEYS[5]: the board's guests).
local function keep_guest(ttl)
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
"""

# A game starts: it counts as a forfeit until it is won. KEYS: recent, entry, board, meta,
# guests. ARGV: as recount, then game id, recent games kept, name (a user's own; '' for a
# guest entry), guest (1/0), guest ttl (s).
_BEGIN = _RECOUNT_LUA + """
redis.call('LPUSH', KEYS[1], ARGV[7] .. ':0')
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[8]) - 1)
redis.call('HSET', KEYS[2], 'guest', ARGV[10])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'name', ARGV[9]) end
if ARGV[10] == '1' then keep_guest(ARGV[11]) end
return recount(false)
"""

# A game was won: its forfeit is replaced by its guess count (if it is still among the recent
# games), and it may be the best game. Once per game (KEYS[6], the game, is marked counted).
# KEYS: recent, entry, board, meta, guests, game. ARGV: as recount, then game id, guesses,
# finished ms, duration ms. Returns -1 if the game is not won, -2 if it was counted already.
_WIN = _RECOUNT_LUA + """
local game = redis.call('HMGET', KEYS[6], 'status', 'counted')
if game[1] ~= 'won' then return -1 end
if game[2] then return -2 end
redis.call('HSET', KEYS[6], 'counted', '1')
local placeholder = ARGV[7] .. ':0'
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local found = false
for i, item in ipairs(items) do
  if item == placeholder then
    redis.call('LSET', KEYS[1], i - 1, ARGV[7] .. ':' .. ARGV[8])
    found = true
    break
  end
end
if not found then return 0 end  -- pushed out by newer games: it no longer counts
local best = redis.call('HGET', KEYS[2], 'guesses')
if not best or tonumber(ARGV[8]) < tonumber(best) then
  redis.call('HSET', KEYS[2], 'guesses', ARGV[8], 'finished_ms', ARGV[9], 'duration_ms', ARGV[10])
end
return recount(false)
"""

# A guest names their address's entry. KEYS: recent, entry, board, meta, guests. ARGV: as
# recount, then the name, guest ttl (s).
_NAME = _RECOUNT_LUA + """
local renamed = redis.call('HGET', KEYS[2], 'name') ~= ARGV[7]
redis.call('HSET', KEYS[2], 'name', ARGV[7], 'guest', '1')
keep_guest(ARGV[8])
return recount(renamed)
"""

# Take a player off a board and forget their games there (their account is gone, or their guest
# entry expired). KEYS: recent, entry, board, meta, guests. ARGV: member, now ms, channel, board.
_REMOVE = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[5], ARGV[1])
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
local version = redis.call('HINCRBY', KEYS[4], 'version', 1)
redis.call('HSET', KEYS[4], 'updated_ms', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return version
"""

# Hide an entry while its account is suspended: off the board, its games kept. KEYS: recent,
# entry, board, meta. ARGV: member, now ms, channel, board. Returns the new version, or 0.
_HIDE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'hidden', '1')
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
local version = redis.call('HINCRBY', KEYS[4], 'version', 1)
redis.call('HSET', KEYS[4], 'updated_ms', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return version
"""

# Show a hidden entry again, where its games put it. KEYS: recent, entry, board, meta. ARGV: as recount.
_SHOW = _RECOUNT_LUA + """
if redis.call('HDEL', KEYS[2], 'hidden') == 0 then return 0 end
return recount(false)
"""

# Guest entries whose last game is older than their ttl: off the board, their keys gone.
# KEYS: guests, board, meta. ARGV: oldest kept (ms), chunk, recent prefix, entry prefix, now ms,
# channel, board. Returns how many went.
_SWEEP_GUESTS = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local shown = 0
for _, member in ipairs(gone) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('DEL', ARGV[3] .. member, ARGV[4] .. member)
  shown = shown + redis.call('ZREM', KEYS[2], member)
end
if shown > 0 then
  redis.call('HINCRBY', KEYS[3], 'version', 1)
  redis.call('HSET', KEYS[3], 'updated_ms', ARGV[5])
  redis.call('PUBLISH', ARGV[6], ARGV[7])
end
return #gone
"""

# Entries of the boards before they ranked averages (issue 15): their score packed a best game's
# guesses with its finish time, always above OLD_SCORES. They mean something else, so they go;
# their players are back from their next five games. KEYS: board, meta. ARGV: OLD_SCORES, entry
# prefix, now ms, channel, board. Returns how many went.
_DROP_OLD = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
for _, member in ipairs(old) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('DEL', ARGV[2] .. member)
end
if #old > 0 then
  redis.call('HINCRBY', KEYS[2], 'version', 1)
  redis.call('HSET', KEYS[2], 'updated_ms', ARGV[3])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return #old
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
local better = 0
if #members > 0 then
  local average = math.floor(tonumber(members[2]) / tonumber(ARGV[3]))
  better = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. string.format('%.0f', average * tonumber(ARGV[3])))
end
local rows = {}
for i = 1, #members, 2 do
  local d = redis.call('HMGET', ARGV[4] .. members[i], 'name', 'guest', 'finished_ms', 'duration_ms',
                      'games', 'forfeits')
  rows[#rows + 1] = {members[i], members[i + 1], d[1] or '', d[2] or '0', d[3] or '0', d[4] or '0',
                     d[5] or '0', d[6] or '0'}
end
return {meta[1] or '0', meta[2] or '0', total, better, rows, start}
"""


@dataclass(frozen=True)
class Entry:
    """One row of a board: a player's average over their recent games, and their best game."""

    rank: int
    member: str
    name: str
    guest: bool
    guesses: int  # the best game's
    finished_ms: int  # the best game's finish
    duration_ms: int  # the best game's length
    average_milli: int = 0
    games: int = 0  # the games the average is over
    forfeits: int = 0  # of those, forfeited or still open

    @property
    def average(self) -> float:
        return round(self.average_milli / 1000, 2)

    @property
    def average_text(self) -> str:
        return f"{self.average_milli / 1000:.2f}"

    @property
    def finished_at(self) -> datetime:
        return datetime.fromtimestamp(self.finished_ms / 1000, timezone.utc)

    @property
    def finished_iso(self) -> str:
        return self.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_json(self) -> dict:
        return {"rank": self.rank, "name": self.name, "guest": self.guest, "guesses": self.guesses,
                "finished_at": self.finished_iso, "duration_s": round(self.duration_ms / 1000, 1),
                "average": self.average, "games": self.games, "forfeits": self.forfeits}


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
class Progress:
    """Where a player stands on a board: their entry if they are ranked, else how far they are."""

    board: int
    entry: Entry | None
    games: int  # games counted so far (at most RECENT_GAMES)
    won: bool  # whether one of them is won

    @property
    def games_to_go(self) -> int:
        return max(0, MIN_GAMES - self.games)


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


def _now_ms() -> int:
    return int(time.time() * 1000)


class Leaderboards:
    """Read and write the boards."""

    def __init__(self, redis: aioredis.Redis, boards: tuple[int, ...]):
        self._redis = redis
        self.boards = boards
        self._begin = redis.register_script(_BEGIN)
        self._win = redis.register_script(_WIN)
        self._name = redis.register_script(_NAME)
        self._page = redis.register_script(_PAGE)
        self._remove = redis.register_script(_REMOVE)
        self._sweep = redis.register_script(_SWEEP_GUESTS)
        self._drop_old = redis.register_script(_DROP_OLD)
        self._hide = redis.register_script(_HIDE)
        self._show = redis.register_script(_SHOW)

    def _entry_keys(self, board: int, member: str) -> list[str]:
        return [recent_key(board, member), entry_key(board, member), board_key(board), meta_key(board),
                guests_key(board)]

    def _recount_args(self, board: int, member: str) -> list:
        return [member, MIN_GAMES, forfeit_guesses(board), _now_ms(), BOARDS_CHANNEL, board]

    async def begin(self, board: int, member: str, game_id: str, name: str = "") -> int:
        """A game starts: it counts for `member` as a forfeit until it is won. `name` is a user's
        own (a guest entry is named by claim). Returns the board's new version, or 0."""
        guest = is_guest_entry(member)
        return await self._begin(keys=self._entry_keys(board, member),
                                 args=[*self._recount_args(board, member), game_id, RECENT_GAMES,
                                       "" if guest else name, int(guest), GUEST_ENTRY_TTL_S])

    async def win(self, game_key: str, game_id: str, board: int, member: str, guesses: int,
                  finished_ms: int, duration_ms: int) -> int:
        """A won game replaces its forfeit: the new version, or 0 if the board did not change;
        -1 if the game is not won, -2 if it was counted already."""
        return await self._win(keys=[*self._entry_keys(board, member), game_key],
                               args=[*self._recount_args(board, member), game_id, guesses, finished_ms,
                                     duration_ms])

    async def name(self, board: int, member: str, name: str) -> int:
        """Name a guest entry (the last name given from an address is the one shown)."""
        return await self._name(keys=self._entry_keys(board, member),
                                args=[*self._recount_args(board, member), name, GUEST_ENTRY_TTL_S])

    async def page(self, board: int, offset: int = 0, limit: int = 10) -> Page:
        return await self._read(board, offset, limit)

    async def _read(self, board: int, offset: int, limit: int, around: str = "") -> Page | None:
        answer = await self._page(
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
        oldest = _now_ms() + (1000 if every_one else -GUEST_ENTRY_TTL_S * 1000)
        for board in self.boards:
            while True:
                swept = await self._sweep(
                    keys=[guests_key(board), board_key(board), meta_key(board)],
                    args=[oldest, GUEST_SWEEP_CHUNK, recent_key(board, ""), entry_key(board, ""), _now_ms(),
                          BOARDS_CHANNEL, board])
                gone += swept
                if swept < GUEST_SWEEP_CHUNK:
                    break
        return gone

    async def drop_old_entries(self) -> int:
        """Take entries of the best-game boards (before averages) off every board; how many.
        Safe to run at every start, by every process."""
        return sum([await self._drop_old(keys=[board_key(board), meta_key(board)],
                                         args=[OLD_SCORES, entry_key(board, ""), _now_ms(), BOARDS_CHANNEL, board])
                    for board in self.boards])

    async def remove(self, user: str) -> None:
        """Take a user off every board and forget their games: entries, histograms, history."""
        member = member_for(user, "")
        for board in self.boards:
            await self._remove(keys=self._entry_keys(board, member),
                               args=[member, _now_ms(), BOARDS_CHANNEL, board])
        await self._redis.delete(history_key(member), *(player_counts_key(b, member) for b in self.boards))

    async def remove_entry(self, board: int, member: str) -> bool:
        """Take one entry off a board and forget its games there (an admin's moderation); False if
        it was not on the board."""
        return bool(await self._remove(keys=self._entry_keys(board, member),
                                       args=[member, _now_ms(), BOARDS_CHANNEL, board]))

    async def entry_name(self, board: int, member: str) -> str | None:
        """The name an entry shows, or None if there is no such entry."""
        return await self._redis.hget(entry_key(board, member), "name")

    async def hide(self, user: str) -> None:
        """Take a user's entries off every board (their account is suspended), keeping their games."""
        member = member_for(user, "")
        for board in self.boards:
            await self._hide(keys=self._entry_keys(board, member)[:4], args=[member, _now_ms(), BOARDS_CHANNEL, board])

    async def show(self, user: str) -> None:
        """Put a user's hidden entries back where their games rank them (the suspension ended)."""
        member = member_for(user, "")
        for board in self.boards:
            await self._show(keys=self._entry_keys(board, member)[:4], args=self._recount_args(board, member))

    async def ban_name(self, name: str) -> None:
        """No guest may name an entry `name`, or a look-alike of it, from now on."""
        if await self._redis.scard(BANNED_NAMES_KEY) >= MAX_BANNED_NAMES:
            raise Refused("conflict", f"{MAX_BANNED_NAMES} names are banned already: no more can be.")
        await self._redis.sadd(BANNED_NAMES_KEY, look_alike_key(name))

    async def name_is_banned(self, name: str) -> bool:
        """Whether an admin banned this guest name (or a name it looks like)."""
        keys = sorted(look_alike_keys(name))
        return any(await self._redis.smismember(BANNED_NAMES_KEY, keys))
