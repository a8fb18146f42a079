"""Hand-made mutants of the Redis scripts, which mutmut cannot reach (they are Lua, not Python).

Each mutant replaces one piece of one .lua file (parlor/<wing>/lua/) with another. It is applied
in the test process only, before the tests build their app and services: `lua_source` is wrapped
so that every script whose expanded text holds the file (the file itself, or a script that
includes it: parlor/lua/_gcra.lua is in four) gets the change, and its cache is cleared; nothing
on disk is edited. The module's tests then run against it; a mutant they pass is a survivor.
`python -m tests.lua_mutants NAME TEST...` runs the tests against one mutant;
`make mutate MODULE=...` runs all of a module's (tests/mutation.py).
"""
from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from parlor.infra import redis_client


@dataclass(frozen=True)
class LuaMutant:
    name: str  # what the change would break
    module: str  # the core module whose tests should kill it (make mutate MODULE=...)
    file: str  # the .lua file, from the checkout's top: parlor/game/lua/guess.lua
    old: str  # a piece of the file as it is now, found there once
    new: str


def mutants(module: str, file: str, *changes: tuple[str, str, str]) -> list[LuaMutant]:
    """The mutants of one .lua file, each given as (name, old, new)."""
    return [LuaMutant(name, module, file, old, new) for name, old, new in changes]


MUTANTS = [
    *mutants(
        "parlor/safety.py", "parlor/lua/_gcra.lua",
        ("the interval rounds down (0 ms for more actions than ms)", "math.ceil(period_ms / count)",
         "math.floor(period_ms / count)"),
        ("a bucket of one refuses its first action", "if wait > 0 then", "if wait >= 0 then"),
        ("a bucket forgets what it was charged", "math.max(tonumber(redis.call('GET', key) or 0), now)",
         "math.min(tonumber(redis.call('GET', key) or 0), now)"),
        ("a bucket's key outlives the bucket", "string.format('%d', tat - now))",
         "string.format('%d', tat - now + 60000))"),
        ("a count of 0 is a limit", "if count <= 0 then", "if count < 0 then"),
    ),
    *mutants(
        "parlor/safety.py", "parlor/lua/check_sends.lua",
        ("a suspension never ends", "return ends and tonumber(ends) > now", "return ends"),
        ("a block counts one way only", "if redis.call('SISMEMBER', my_blocks, peer) == 1 then return {2, 0} end", ""),
        ("every message counts as a picture", "if picture == '1' then", "if picture then"),
        ("a conversation made without a message counts as one", "if is_message == '1' then", "if is_message then"),
        ("every send starts a new conversation", " and not redis.call('ZSCORE', my_conversations, peer)", ""),
        ("a send refused for its picture is charged its message",
         "if images == false then return {5, wait} end",
         "if images == false then charge(message_bucket, messages) return {5, wait} end"),
    ),
    *mutants(
        "parlor/safety.py", "parlor/lua/check_game.lua",
        ("a visitor's limit is never checked", "if has_visitor == '1' then", "if has_visitor == '2' then"),
        ("an address's limit is never checked", "if address == false then return {1, wait} end", ""),
        ("a visitor over their limit costs their address a start", "if visitor == false then return {2, wait} end",
         "if visitor == false then charge(address_bucket, address) return {2, wait} end"),
    ),
    *mutants(
        "parlor/safety.py", "parlor/lua/block.lua",
        ("the block cap lets one more in", ">= tonumber(most_blocks)", "> tonumber(most_blocks)"),
        ("a block is missing from the blocked person's index", "redis.call('SADD', blocked_peer, me)", ""),
    ),
    *mutants(
        "parlor/safety.py", "parlor/lua/forget_blocks.lua",
        ("a left account stays in the blocks of others",
         "for _, peer in ipairs(redis.call('SMEMBERS', blocked_by)) do "
         "redis.call('SREM', blocks_prefix .. peer, user) end",
         ""),
    ),
    *mutants(
        "parlor/game/games.py", "parlor/game/lua/guess.lua",
        ("the board's maximum is out of range", "guess > max then", "guess >= max then"),
        ("one is out of range", "if guess < 1 or", "if guess <= 1 or"),
        ("higher and lower are swapped", "result = 'h' elseif guess > secret then result = 'l'",
         "result = 'l' elseif guess > secret then result = 'h'"),
        ("the guess limit is off by one", "if count >= tonumber(max_guesses)", "if count > tonumber(max_guesses)"),
        ("a guess over the game's budget is never refused", "charge(guess_bucket, allowed)", ""),
        ("a finished game stays in progress", "redis.call('ZREM', player_games, game_id)", ""),
        ("a game's duration runs backwards", "duration_ms = tonumber(now_ms) - tonumber(g[6])",
         "duration_ms = tonumber(g[6]) - tonumber(now_ms)"),
        ("a history grows past its length", "redis.call('LTRIM', history, 0, tonumber(history_length) - 1)", ""),
        ("a user's history expires at once",
         "if tonumber(history_ttl) > 0 then redis.call('EXPIRE', history, history_ttl) end",
         "redis.call('EXPIRE', history, history_ttl)"),
        ("a win is missing from the player's own histogram", "redis.call('HINCRBY', own, count, 1)", ""),
        ("a game in play expires a day after its start", "redis.call('EXPIRE', game, game_ttl)", ""),
    ),
    *mutants(
        "parlor/game/games.py", "parlor/game/lua/start_game.lua",
        ("a new game forfeits a finished one", "if g[1] == 'playing' then", "if g[1] then"),
        ("a forfeit is recorded as won", "status = 'forfeit', finished_ms", "status = 'won', finished_ms"),
        ("games older than a day stay listed",
         "redis.call('ZREMRANGEBYSCORE', player_games, '-inf', tonumber(now_ms) - tonumber(game_ttl) * 1000)", ""),
        ("a player may keep several open games on a board", "redis.call('HSET', open_games, board, game_id)", ""),
        ("a game starts with one guess counted", "'count', 0,", "'count', 1,"),
    ),
]
BY_NAME = {mutant.name: mutant for mutant in MUTANTS}

CHECKOUT = redis_client.PARLOR_DIR.parent  # what a mutant's file is named from


def script_of(path: Path) -> tuple[str, str]:
    """The (package, name) that lua_source reads the .lua file at `path` by."""
    wing = path.resolve().relative_to(redis_client.PARLOR_DIR).parent.parent.parts
    return ".".join(("parlor", *wing)), path.stem


class StaleMutant(Exception):
    """A mutant whose piece is no longer in its file once, or whose file is in no script."""


# The child's exit code for a stale mutant: none of pytest's (0 to 5), so never counted as killed.
STALE_EXIT = 6


def change(mutant: LuaMutant) -> tuple[str, str, list[str]]:
    """The mutant's file as it stands in every script that includes it (includes expanded), that
    text mutated, and the scripts that hold it; reads the files, changes nothing."""
    piece = redis_client.lua_source(*script_of(CHECKOUT / mutant.file))
    if piece.count(mutant.old) != 1:
        raise StaleMutant(f"{mutant.name}: {mutant.file} holds {mutant.old!r} {piece.count(mutant.old)} "
                          "times, not once; update the mutant")
    scripts = sorted(path.stem for path in redis_client.PARLOR_DIR.glob("**/lua/*.lua") if not
                     path.stem.startswith("_") and piece in redis_client.lua_source(*script_of(path)))
    if not scripts:
        raise StaleMutant(f"{mutant.name}: no script holds {mutant.file}")
    return piece, piece.replace(mutant.old, mutant.new), scripts


def apply(mutant: LuaMutant) -> list[str]:
    """Make lua_source put the mutant into every script that holds its file; those scripts' names."""
    piece, mutated, scripts = change(mutant)
    original = redis_client.lua_source

    @functools.cache
    def mutated_source(package: str, name: str) -> str:
        return original(package, name).replace(piece, mutated)

    original.cache_clear()
    redis_client.lua_source = mutated_source  # register_scripts reads it by this name at each call
    return scripts


def run_one(name: str, tests: list[str]) -> int:
    """pytest's exit code for `tests` against one mutant ('' for none: the clean run)."""
    return subprocess.run([sys.executable, "-m", "tests.lua_mutants", name, *tests],
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode


def run_for(module: str, tests: list[str]) -> dict | None:
    """Every mutant of this module's scripts against its tests: the figures, or None if it has none."""
    mutants = [mutant for mutant in MUTANTS if mutant.module == module]
    if not mutants:
        return None
    try:
        for mutant in mutants:
            change(mutant)
    except StaleMutant as stale:
        raise SystemExit(str(stale)) from None
    if run_one("", tests) != 0:
        raise SystemExit(f"the tests of {module} fail without any mutant: fix them first")
    outcomes = {mutant.name: run_one(mutant.name, tests) for mutant in mutants}
    broken = {name: code for name, code in outcomes.items() if code not in (0, 1)}
    if broken:
        raise SystemExit(f"pytest could not run against these mutants (exit codes): {broken}")
    return {"mutants": len(mutants), "killed": sum(code == 1 for code in outcomes.values()),
            "survivors": [name for name, code in outcomes.items() if code == 0]}


def main() -> int:
    name, *tests = sys.argv[1:]
    if name:
        try:
            apply(BY_NAME[name])
        except StaleMutant as stale:
            print(stale, file=sys.stderr)
            return STALE_EXIT
    return int(pytest.main(["-q", "-x", "-p", "no:cacheprovider", *tests]))


if __name__ == "__main__":
    sys.exit(main())
