"""The guessing game: the server keeps the secret and counts the guesses, so every score is earned."""
from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from parlor.accounts.lookalikes import folded
from parlor.accounts.sessions import GUEST_SESSION_TTL_S
from parlor.game.leaderboards import Leaderboards
from parlor.game.ranking import (
    COUNTS_PREFIX,
    HISTORY_LENGTH,
    Entry,
    board_member,
    history_key,
    is_guest_entry,
    member_for,
    user_member,
)
from parlor.infra.config import NO_LIMIT, Rate
from parlor.infra.redis_client import register_scripts
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused
from parlor.safety import Safety, bucket_key, over_limit

__all__ = ["Games", "Game", "folded", "parse_guess", "clean_guest_name"]

GAME_TTL_S = 24 * 3600  # an abandoned game is forgotten after a day
MAX_GUESSES = 1000  # a game that reaches this many guesses ends, counted as a forfeit
GUESS_RE = re.compile(r"[0-9]{1,7}")  # int() would also take "١٢", " 12 ", "1_000" and "+7"
MIN_GUEST_NAME, MAX_GUEST_NAME = 3, 24  # long enough to tell apart, short enough for a board row
GUEST_HISTORY_TTL_S = GUEST_SESSION_TTL_S  # a guest's finished games go with their session
GAMES_SHOWN = 20  # games in progress listed on the front page
RESULT_WORDS = {"h": "higher", "l": "lower", "c": "correct"}
NO_SUCH_GAME = "There is no such game, or it has expired."
GUESTS_UNRANKED = "Guests' games do not go on the boards here: sign up (or log in) to be ranked."

@dataclass
class Guess:
    value: int
    result: str  # "h": the secret is higher, "l": lower, "c": correct

    @property
    def word(self) -> str:
        return RESULT_WORDS[self.result]


@dataclass
class Game:
    id: str
    max: int
    status: str  # playing | won | unranked (1000 guesses) | forfeit (another game was started)
    guesses: list[Guess]
    started_ms: int
    finished_ms: int | None
    member: str | None  # the board entry it counts for (fixed when it starts)
    named: bool = False  # a guest named their address's entry with it
    standing: Entry | None = None  # the signed-in player's entry, when this guess changed it

    @property
    def for_guest_entry(self) -> bool:
        return bool(self.member) and is_guest_entry(self.member)

    @property
    def count(self) -> int:
        return len(self.guesses)

    @property
    def finished(self) -> bool:
        return self.status != "playing"

    @property
    def remaining(self) -> tuple[int, int]:
        """Where the number can still be: (lowest, highest), as the answers so far leave it."""
        low = max([1] + [g.value + 1 for g in self.guesses if g.result == "h"])
        high = min([self.max] + [g.value - 1 for g in self.guesses if g.result == "l"])
        return low, high

    @property
    def duration_ms(self) -> int:
        return (self.finished_ms or int(time.time() * 1000)) - self.started_ms


# A game's keys are templates filled by str.format with one id.
game_key = "game:{}".format  # hash: player, max, secret, status, count, started_ms, ... (by game id)
guesses_key = "game:{}:guesses".format  # list: "<guess>:<h|l|c>", in order (by game id)
games_key = "player:{}:games".format  # sorted set: a player's game ids by start (ms) (by player id)
open_games_key = "open:{}".format  # hash: board -> the id of the game being played there (by owner)


def parse_guess(raw: str | None, board: int | None = None) -> int:
    """The guess as a number, or Refused (invalid) saying what is wrong with it."""
    if raw is None or not GUESS_RE.fullmatch(raw) or not raw.isascii():
        raise Refused("invalid", "A guess is a whole number written with the digits 0–9, nothing else.")
    value = int(raw)
    if board is not None and not 1 <= value <= board:
        raise Refused("invalid", f"Your guess must be between 1 and {board}.")
    return value


def clean_guest_name(raw: str | None) -> str:
    """A guest's display name, trimmed; Refused (invalid) if it is not 3–24 printable characters."""
    name = (raw or "").strip()
    if not MIN_GUEST_NAME <= len(name) <= MAX_GUEST_NAME or not name.isprintable():
        raise Refused("invalid", f"A name is {MIN_GUEST_NAME} to {MAX_GUEST_NAME} printable characters.")
    return name


class Games:
    """Start, load and play games; count them on the boards."""

    def __init__(self, redis: aioredis.Redis, leaderboards: Leaderboards, guess_limit: Rate = NO_LIMIT,
                 guest_entries: bool = True, *, safety: Safety):
        self._redis = redis
        self.leaderboards = leaderboards
        self._safety = safety  # the limits on game starts, per address and per player
        self.guess_limit = guess_limit
        self.guest_entries = guest_entries  # whether guests' games count for guest entries (--guest-boards)
        self._scripts = register_scripts(redis, __package__, "guess", "start_game")

    async def start(self, player: str | None, board: int, user: str | None = None, address: str = "-",
                    new_player: Callable[[], Awaitable[str]] | None = None) -> str:
        """A new game on a board for this player (their open game there is forfeited), if the
        limits on game starts of its address (an address_group) and its player allow it. A
        visitor with no player yet (None) gets one from `new_player()` once the start is allowed,
        so a refused start stores nothing. The game counts at once, as a forfeit until won, for
        the user's entry or their address's guest entry (for none, when guests are not ranked).
        Returns its id."""
        if board not in self.leaderboards.boards:
            raise Refused("invalid", "Choose one of the boards offered.")
        await self._safety.check_game_start(address, member_for(user, player) if player else None)
        if player is None:
            player = await new_player()
            await self._safety.hit("games", member_for(user, player))  # a new player's first game counts for it too
        game_id = secrets.token_urlsafe(12)
        owner = member_for(user, player)
        member = board_member(user, address) if user or self.guest_entries else ""
        await self._scripts.start_game(
            keys=[game_key(game_id), games_key(player), open_games_key(owner), history_key(owner)],
            args=[game_id, player, board, secrets.randbelow(board) + 1, int(time.time() * 1000), GAME_TTL_S,
                  member, HISTORY_LENGTH, 0 if user else GUEST_HISTORY_TTL_S, game_key("")])
        if member:
            await self.leaderboards.begin(board, member, game_id, name=user or "")
        return game_id

    async def load(self, game_id: str, player: str | None) -> Game | None:
        """The game, if it exists and belongs to this player (anyone else gets None)."""
        if not player:
            return None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(game_key(game_id))
            pipe.lrange(guesses_key(game_id), 0, -1)
            data, guesses = await pipe.execute()
        if not data or data.get("player") != player:
            return None
        return Game(
            id=game_id, max=int(data["max"]), status=data["status"],
            guesses=[Guess(int(v), r) for v, r in (g.split(":") for g in guesses)],
            started_ms=int(data["started_ms"]),
            finished_ms=int(data["finished_ms"]) if "finished_ms" in data else None,
            member=data.get("member"), named="recorded" in data,
        )

    async def in_progress(self, player: str | None) -> list[Game]:
        """This player's unfinished games, newest first."""
        if not player:
            return []
        ids = await self._redis.zrevrange(games_key(player), 0, GAMES_SHOWN - 1)
        games = [await self.load(game_id, player) for game_id in ids]
        return [g for g in games if g and not g.finished]

    async def guess(self, game_id: str, player: str | None, raw: str | None, user: str | None) -> Game:
        """Play one guess. A win replaces the game's forfeit on the entry it counts for."""
        value = parse_guess(raw)
        if not player:  # no session: no game of theirs
            raise Refused("not_found", NO_SUCH_GAME)
        answer = await self._scripts.guess(
            keys=[game_key(game_id), guesses_key(game_id), games_key(player),
                  history_key(member_for(user, player)), bucket_key("guesses", game_id)],
            args=[value, player, int(time.time() * 1000), MAX_GUESSES, GAME_TTL_S, game_id,
                  HISTORY_LENGTH, 0 if user else GUEST_HISTORY_TTL_S,
                  self.guess_limit.count, self.guess_limit.seconds * 1000, COUNTS_PREFIX,
                  member_for(user, player)],
        )
        if answer[0] == "missing":
            raise Refused("not_found", NO_SUCH_GAME)
        if answer[0] == "finished":
            raise Refused("conflict", "This game is over. Start a new one!")
        if answer[0] == "range":
            raise Refused("invalid", f"Your guess must be between 1 and {answer[1]}.")
        if answer[0] == "repeat":
            raise Refused("conflict", f"You already guessed {value}: the number is {RESULT_WORDS[answer[1]]} "
                                      "than that. This guess was not counted.")
        if answer[0] == "slow":
            raise over_limit("guesses", int(answer[1]))
        game = await self.load(game_id, player)
        if game.status == "won" and game.member:
            changed = await self.leaderboards.win(game_key(game.id), game.id, game.max, game.member, game.count,
                                                  game.finished_ms, game.duration_ms) > 0
            if changed and user and game.member == user_member(user):
                game.standing = await self.leaderboards.best(game.max, game.member)
        return game

    async def claim(self, game_id: str, player: str | None, raw_name: str | None, name_is_taken,
                    address: str | None = None) -> Game:
        """Name the guest entry a won game counts for (guests at one address share one entry; the
        last name given is shown). The name may not be, or look like, a registered username
        (name_is_taken answers that). A refused name does not use the game up, so refusals are
        counted per address (address_group): past the limit every name is refused alike, taken or
        free, and the claim cannot tell which usernames exist (None: no visitor's, nothing counted)."""
        game = await self.load(game_id, player)
        if game is None:
            raise Refused("not_found", NO_SUCH_GAME)
        if game.status != "won":
            raise Refused("conflict", "Only a won game goes on the board.")
        if game.member == "":  # started while guests are not ranked (--guest-boards off)
            raise Refused("conflict", GUESTS_UNRANKED)
        if not game.for_guest_entry:
            raise Refused("conflict", "This game is on the board already: it counts for your account.")
        if game.named:
            raise Refused("conflict", "This game is on the board already.")
        name = clean_guest_name(raw_name)
        await self._refusals_room(address)  # before the name is looked at
        if await name_is_taken(name):
            await self._refused_name(address)
            raise Refused("invalid", "That name belongs to a registered player, or looks like one. "
                                     "Please choose another.")
        if await self.leaderboards.name_is_banned(name):
            await self._refused_name(address)
            raise Refused("invalid", "That name may not be used on the boards here. Please choose another.")
        if not await self._redis.hsetnx(game_key(game_id), "recorded", game.member):
            raise Refused("conflict", "This game is on the board already.")
        await self.leaderboards.name(game.max, game.member, name)
        game.named = True
        return game

    async def _refusals_room(self, address: str | None) -> None:
        if address is not None:
            await self._safety.room("guest_names", address)

    async def _refused_name(self, address: str | None) -> None:
        if address is not None:
            await self._safety.hit("guest_names", address)

    async def history(self, user: str | None, player: str) -> list[dict]:
        """The player's finished games, newest first."""
        return [json.loads(item) for item in await self.leaderboards.history(member_for(user, player))]

    async def forget_user(self, user: str, keys: KeysNaming) -> None:
        """The account is gone: off every board, its games forgotten (history, histograms), its
        open games and its game starts' bucket dropped."""
        member = user_member(user)
        await self.leaderboards.remove(user)
        await self._redis.delete(open_games_key(member), bucket_key("games", member))
