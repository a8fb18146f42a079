"""Leaderboards: what a board ranks, and the keys that keep it (parlor/game/leaderboards.py uses them).

A board ranks players by their average over the last RECENT_GAMES games they started on it, fewer
guesses first; a player is on it from MIN_GAMES games with at least one won. Every game counts:
it is recorded as a forfeit the moment it starts and replaced by its guess count when it is won,
so a game that is abandoned (in a session that is thrown away, too) stays a forfeit. A forfeit,
and a win slower than that, count FORFEIT_FACTOR times the guesses halving always wins within,
so giving up is never better than playing on, and finishing only lucky games ranks low. The single
best game is a second column: it only orders players whose averages are equal. Guests have one entry per address (every guest
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

from dataclasses import dataclass
from datetime import datetime, timezone

from parlor.infra.times import iso_time

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
OLD_SCORES = 1 << 42  # a best-game board's scores are all above this; an average's score never is
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


def user_member(user: str) -> str:
    """A signed-in user's entry, games, histograms and history."""
    return f"u:{user}"


def member_for(user: str | None, player: str) -> str:
    """Whose games these are for histograms and history: a signed-in user by name, a guest by
    their player id (their browser)."""
    return user_member(user) if user else f"g:{player}"


def board_member(user: str | None, address_id: str) -> str:
    """Whose entry a game counts for: a signed-in user's own, or their address's guest entry."""
    return user_member(user) if user else f"a:{address_id}"


def is_guest_entry(member: str) -> bool:
    return member.startswith("a:")


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
        return iso_time(self.finished_ms, "seconds")

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
