"""Hand-made mutants of the Redis scripts, which mutmut cannot reach (they are Lua in strings).

Each mutant replaces one piece of one script (a module-level string) with another. It is applied
in the test process only, before the tests run: the script, and every module-level string of
parlor/ built from it (GCRA_LUA begins four others), get the change; nothing on disk is edited. The
module's tests then run against it; a mutant they pass is a survivor.
`python -m tests.lua_mutants NAME TEST...` runs the tests against one mutant;
`make mutate MODULE=...` runs all of a module's (tests/mutation.py).
"""
from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass

import pytest

# What makes every module that holds a script (the app, with everything it imports).
APP_MODULE = "parlor.web.services"


@dataclass(frozen=True)
class LuaMutant:
    name: str  # what the change would break
    module: str  # the core module that holds the script (make mutate MODULE=...)
    script: str  # the script's name there
    old: str  # a piece of the script, as written there once
    new: str


def mutants(module: str, script: str, *changes: tuple[str, str, str]) -> list[LuaMutant]:
    """The mutants of one script, each given as (name, old, new)."""
    return [LuaMutant(name, module, script, old, new) for name, old, new in changes]


MUTANTS = [
    *mutants(
        "parlor/safety.py", "GCRA_LUA",
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
        "parlor/safety.py", "_CHECK_SENDS",
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
        "parlor/safety.py", "_CHECK_GAME",
        ("a visitor's limit is never checked", "if ARGV[5] == '1' then", "if ARGV[5] == '2' then"),
        ("an address's limit is never checked", "if address == false then return {1, wait} end", ""),
        ("a visitor over their limit costs their address a start", "if visitor == false then return {2, wait} end",
         "if visitor == false then charge(KEYS[1], address) return {2, wait} end"),
    ),
    *mutants(
        "parlor/safety.py", "_BLOCK",
        ("the block cap lets one more in", ">= tonumber(ARGV[3])", "> tonumber(ARGV[3])"),
        ("a block is missing from the blocked person's index", "redis.call('SADD', KEYS[2], ARGV[1])", ""),
    ),
    *mutants(
        "parlor/safety.py", "_FORGET",
        ("a left account stays in the blocks of others",
         "for _, peer in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('SREM', ARGV[2] .. peer, ARGV[1]) end",
         ""),
    ),
    *mutants(
        "parlor/game/games.py", "_GUESS",
        ("the board's maximum is out of range", "guess > max then", "guess >= max then"),
        ("one is out of range", "if guess < 1 or", "if guess <= 1 or"),
        ("higher and lower are swapped", "result = 'h' elseif guess > secret then result = 'l'",
         "result = 'l' elseif guess > secret then result = 'h'"),
        ("the guess limit is off by one", "if count >= tonumber(ARGV[4])", "if count > tonumber(ARGV[4])"),
        ("a guess over the game's budget is never refused", "charge(KEYS[5], allowed)", ""),
        ("a finished game stays in progress", "redis.call('ZREM', KEYS[3], ARGV[6])", ""),
        ("a game's duration runs backwards", "duration_ms = tonumber(ARGV[3]) - tonumber(g[6])",
         "duration_ms = tonumber(g[6]) - tonumber(ARGV[3])"),
        ("a history grows past its length", "redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[7]) - 1)", ""),
        ("a user's history expires at once", "if tonumber(ARGV[8]) > 0 then redis.call('EXPIRE', KEYS[4], ARGV[8]) end",
         "redis.call('EXPIRE', KEYS[4], ARGV[8])"),
        ("a win is missing from the player's own histogram", "redis.call('HINCRBY', own, count, 1)", ""),
        ("a game in play expires a day after its start", "redis.call('EXPIRE', KEYS[1], ARGV[5])", ""),
    ),
    *mutants(
        "parlor/game/games.py", "_START",
        ("a new game forfeits a finished one", "if g[1] == 'playing' then", "if g[1] then"),
        ("a forfeit is recorded as won", "status = 'forfeit', finished_ms", "status = 'won', finished_ms"),
        ("games older than a day stay listed",
         "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[5]) - tonumber(ARGV[6]) * 1000)", ""),
        ("a player may keep several open games on a board", "redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])", ""),
        ("a game starts with one guess counted", "'count', 0,", "'count', 1,"),
    ),
]
BY_NAME = {mutant.name: mutant for mutant in MUTANTS}


def apply(mutant: LuaMutant) -> int:
    """Put the mutant into its script and every string built from it; how many strings changed."""
    importlib.import_module(APP_MODULE)
    script = getattr(sys.modules[mutant.module.removesuffix(".py").replace("/", ".")], mutant.script)
    if script.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: {mutant.script} holds {mutant.old!r} {script.count(mutant.old)} "
                         "times, not once; update the mutant")
    mutated = script.replace(mutant.old, mutant.new)
    changed = 0
    for name, module in list(sys.modules.items()):
        if name == "parlor" or name.startswith("parlor."):
            for attribute, value in list(vars(module).items()):
                if isinstance(value, str) and script in value:
                    setattr(module, attribute, value.replace(script, mutated))
                    changed += 1
    return changed


def run_one(name: str, tests: list[str]) -> int:
    """pytest's exit code for `tests` against one mutant ('' for none: the clean run)."""
    return subprocess.run([sys.executable, "-m", "tests.lua_mutants", name, *tests],
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode


def run_for(module: str, tests: list[str]) -> dict | None:
    """Every mutant of this module's scripts against its tests: the figures, or None if it has none."""
    mutants = [mutant for mutant in MUTANTS if mutant.module == module]
    if not mutants:
        return None
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
        apply(BY_NAME[name])
    return int(pytest.main(["-q", "-x", "-p", "no:cacheprovider", *tests]))


if __name__ == "__main__":
    sys.exit(main())
