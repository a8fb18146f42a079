"""Mutation testing of one core module: `make mutate MODULE=parlor/game/games.py`.

mutmut 3 mutates the module's Python functions, one change at a time, and runs the unit tests
that cover the module against each mutant; the hand-made Lua mutants of its Redis scripts
(tests/lua_mutants.py) run after. A mutant the tests pass is a survivor: a change nobody would
notice. Some survivors are equivalent (the program does the same thing); EQUIVALENT lists those,
each with why, and the score leaves them out. docs/reliability.md records each module's score.

mutmut runs in a staged copy under build/mutate/<module>/ laid out as the installed package
(parlor/, and the checkout's top level as parlor/web/), so each module has its one import name
there too and the tests import the mutated copy.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from parlor.infra.embedded_redis import bundled_redis_server
from tests import lua_mutants

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "mutate"
TOP_LEVEL = ("server.py", "services.py", "handlers", "templates", "static")  # installed as parlor.web
MUTMUT = Path(sys.executable).parent / "mutmut"

# Each core module and the fast unit tests that cover it (a run takes minutes, not the suite's).
TESTS = {
    "parlor/game/games.py": ["tests/unit/game/test_games.py", "tests/unit/game/test_claims.py",
                             "tests/unit/game/test_game_starts.py"],
    "parlor/safety.py": ["tests/unit/test_safety.py"],
    "parlor/game/leaderboards.py": ["tests/unit/game"],
    "parlor/game/ranking.py": ["tests/unit/game"],
    "handlers/inputs.py": ["tests/web/test_inputs.py"],
    "parlor/accounts/lookalikes.py": ["tests/unit/accounts/test_lookalikes.py"],
    "parlor/accounts/usernames.py": ["tests/unit/accounts/test_usernames.py"],
    "parlor/chat/conversation.py": ["tests/unit/chat/test_pair_file.py", "tests/unit/chat/test_conversation.py"],
    "parlor/chat/pair_file.py": ["tests/unit/chat/test_pair_file.py", "tests/unit/chat/test_conversation.py"],
}

# Survivors that change nothing a caller can see, by module: (function, the mutated line) -> why.
MULTI = "MULTI only keeps another client from coming between the two commands, which no test can do"
AROUND = "the page script reads around a member from the member's place, not from the offset and count"
FIFTH_KEY = "the script reads four keys: a fifth is passed and never read"
URI_ALWAYS = "this SQLite is built with SQLITE_USE_URI: it reads a file: name as a URI either way"
EQUIVALENT: dict[str, dict[tuple[str, str], str]] = {
    "handlers/inputs.py": {
        ("nests_deeper", 'if text.count("[") + text.count("{") < limit:'):
            "with no more brackets than the limit in all, the loop cannot find them deeper either",
    },
    "parlor/chat/pair_file.py": {
        ("connect", "db = await aiosqlite.connect(uri, uri=None, isolation_level=None)"): URI_ALWAYS,
        ("connect", "db = await aiosqlite.connect(uri, uri=False, isolation_level=None)"): URI_ALWAYS,
        ("connect", "db = await aiosqlite.connect(uri, isolation_level=None)"): URI_ALWAYS,
    },
    "parlor/game/games.py": {
        ("start", 'await self.leaderboards.begin(board, member, game_id, name=user or "XXXX")'):
            "only a user's name is given to begin: a guest entry is named by a claim",
        ("load", "async with self._redis.pipeline(transaction=None) as pipe:"): MULTI,
        ("load", "async with self._redis.pipeline(transaction=False) as pipe:"): MULTI,
    },
    "parlor/game/leaderboards.py": {
        ("around", "return await self._read(board, 1, 0, around=member)"): AROUND,
        ("around", "return await self._read(board, 0, 1, around=member)"): AROUND,
        ("best", "return next((e for e in page.entries if e.member == member), ) if page else None"):
            "a page around a member always holds the member: next() never needs its default",
        ("progress", "async with self._redis.pipeline(transaction=None) as pipe:"): "None is as false as False",
        ("progress", "async with self._redis.pipeline(transaction=True) as pipe:"): MULTI,
        ("stats", "async with self._redis.pipeline(transaction=None) as pipe:"): MULTI,
        ("stats", "async with self._redis.pipeline(transaction=False) as pipe:"): MULTI,
        ("history", "return await self._redis.lrange(history_key(member), 0, HISTORY_LENGTH + 1)"):
            "the guess and start scripts keep a history at HISTORY_LENGTH games",
        ("sweep_guests", 'oldest = "+INF" if every_one else _now_ms() - GUEST_ENTRY_TTL_S * 1000'):
            "Redis reads +inf in any case",
        ("hide", "await self._scripts.entry_hide(keys=self._entry_keys(board, member)[:5],"): FIFTH_KEY,
        ("show", "await self._scripts.entry_show(keys=self._entry_keys(board, member)[:5],"): FIFTH_KEY,
        ("versions", "async with self._redis.pipeline(transaction=None) as pipe:"): "None is as false as False",
        ("versions", "async with self._redis.pipeline(transaction=True) as pipe:"): MULTI,
    },
    "parlor/safety.py": {
        ("address_group", 'return str(ipaddress.ip_network(f"{ip}/{IPV6_GROUP_BITS}", strict=None))'):
            "None is as false as False",
        ("check_game_start", 'if self.limits["game_addresses"].unlimited and (visitor is None and '
                             'self.limits["games"].unlimited):'):
            "the early return saves a round trip: the script counts nothing against a limit of 0",
        ("check_game_start", 'keys=[bucket_key("game_addresses", address), bucket_key("games", visitor or "XX-XX")],'):
            "with no visitor the script never reads its bucket (has_visitor is 0)",
        ("unblock", "async with self._redis.pipeline(transaction=None) as pipe:"): MULTI,
        ("unblock", "async with self._redis.pipeline(transaction=False) as pipe:"): MULTI,
    },
    "parlor/chat/conversation.py": {
        ("_erase", "return True"): "a message deleted before is checkpointed again: the WAL holds nothing of it",
    },
}


def staged_path(module: str) -> str:
    """Where a checkout path lives in the staged package: parlor/ as it is, the rest in parlor/web/."""
    return module if module.startswith("parlor/") else f"parlor/web/{module}"


def stage_dir_of(module: str) -> Path:
    """Where a module's staged copy and its results are kept."""
    return STAGE / module.replace("/", "-").removesuffix(".py")


def stage(module: str, tests: list[str]) -> Path:
    """A fresh copy of the package and the tests, with mutmut's settings for this module."""
    stage_dir = stage_dir_of(module)
    shutil.rmtree(stage_dir, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "parlor", stage_dir / "parlor", ignore=ignore)
    (stage_dir / "parlor" / "web").mkdir()
    for name in TOP_LEVEL:
        source, target = ROOT / name, stage_dir / "parlor" / "web" / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    shutil.copytree(ROOT / "tests", stage_dir / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pytest.ini", stage_dir / "pytest.ini")
    (stage_dir / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = parlor\n"
        f"only_mutate = {staged_path(module)}\n"
        "pytest_add_cli_args_test_selection =\n" + "".join(f"    {test}\n" for test in tests) +
        "also_copy = pytest.ini\n"
        "use_git_change_detection = false\n"
        # Each mutant's tests start from a process that has run none (no warm cache hides a
        # mutant), and no test's threads keep mutmut itself from exiting.
        "process_isolation = forkserver\n")
    return stage_dir


def orphaned_redis_servers() -> dict[int, str]:
    """The redis-servers of this venv (the tests' own) whose test process is gone, with their
    folders: a mutant killed for its time never stopped its session's Redis."""
    binary = os.path.realpath(bundled_redis_server())
    orphans = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == 1 and os.path.realpath(stat.with_name("exe")) == binary:
                orphans[int(stat.parent.name)] = os.path.realpath(stat.with_name("cwd"))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return orphans


def stop_orphans(before: dict[int, str]) -> None:
    """Stop the Redis servers that mutants killed for their time left behind, and remove their folders."""
    for pid, folder in orphaned_redis_servers().items():
        if pid not in before:
            os.kill(pid, signal.SIGTERM)
            if Path(folder).name.startswith("parlor-redis-"):  # the tests' session folder (tests/conftest.py)
                shutil.rmtree(folder, ignore_errors=True)


def mutmut(stage_dir: Path, *args: str, quiet: bool = False) -> str:
    """Run one mutmut command in the staged copy; its output."""
    result = subprocess.run([str(MUTMUT), *args], cwd=stage_dir, text=True,
                            stdout=subprocess.PIPE if quiet else None, check=True)
    return result.stdout or ""


def survivors(stage_dir: Path) -> dict[str, str]:
    """Each mutant the tests did not kill (survived, or reached by no test): its diff."""
    lines = mutmut(stage_dir, "results", quiet=True).splitlines()
    names = [line.split(":")[0].strip() for line in lines if line.rstrip().endswith(("survived", "no tests"))]
    return {name: mutmut(stage_dir, "show", name, quiet=True) for name in names}


def changed_lines(diff: str, sign: str) -> list[str]:
    """The lines a diff removes ("-") or adds ("+"), stripped."""
    return [line[1:].strip() for line in diff.splitlines() if line.startswith(sign) and not line.startswith(sign * 3)]


# A string that starts as our SQL does: a keyword in capitals.
SQL_RE = re.compile(r'"(SELECT|INSERT|UPDATE|DELETE|PRAGMA|BEGIN|COMMIT|ROLLBACK|FROM|WHERE|DO UPDATE)[ "]')
SQL_VALUES_RE = re.compile(r"'[^']*'|\{[^}]*\}")  # quoted values and f-string fields keep their case


def sql_case_only(diff: str) -> bool:
    """Whether a mutant only changes the letter case of SQL outside its quoted values."""
    removed, added = changed_lines(diff, "-"), changed_lines(diff, "+")
    pairs = list(zip(removed, added))
    return bool(pairs) and len(removed) == len(added) and all(
        old == new or (old.lower() == new.lower() and SQL_RE.search(old)
                       and SQL_VALUES_RE.findall(old) == SQL_VALUES_RE.findall(new))
        for old, new in pairs)


def function_of(mutant: str) -> str:
    """The mutated function's name: parlor.x.xǁClassǁname__mutmut_3 or parlor.x.x_name__mutmut_3 -> name."""
    mangled = mutant.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    return mangled.rsplit("ǁ", 1)[1] if "ǁ" in mangled else mangled.removeprefix("x_")


def equivalent_because(module: str, mutant: str, diff: str) -> str | None:
    """Why a surviving mutant changes nothing a caller can see, if it is one of those."""
    if sql_case_only(diff):
        return "SQLite reads keywords and names in any case"
    known = EQUIVALENT.get(module, {})
    return next((known[function_of(mutant), line] for line in changed_lines(diff, "+")
                 if (function_of(mutant), line) in known), None)


def report(module: str, stage_dir: Path) -> dict:
    """The module's figures; the survivors' diffs go to build/mutate/<module>/survivors.txt."""
    mutmut(stage_dir, "export-cicd-stats", quiet=True)
    stats = json.loads((stage_dir / "mutants" / "mutmut-cicd-stats.json").read_text())
    equivalent, unexplained = {}, {}
    for name, diff in survivors(stage_dir).items():
        why = equivalent_because(module, name, diff)
        (equivalent if why else unexplained)[name] = (diff, why)
    (stage_dir / "survivors.txt").write_text("".join(
        f"{diff}\n{'equivalent: ' + why if why else 'SURVIVED'}\n\n" for diff, why in
        [*unexplained.values(), *equivalent.values()]))
    detected = stats["killed"] + stats["timeout"] + stats["segfault"]
    counted = stats["total"] - len(equivalent)
    return {"mutants": stats["total"], "killed": detected, "survived": len(unexplained),
            "equivalent": len(equivalent), "score": round(100 * detected / counted, 1) if counted else 100.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", choices=sorted(TESTS))
    parser.add_argument("--tests", nargs="+", help="instead of the module's own selection (TESTS)")
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once (the cores are shared)")
    parser.add_argument("--report-only", action="store_true",
                        help="the last run's figures again (after a change to EQUIVALENT), running nothing")
    options = parser.parse_args()
    tests = options.tests or TESTS[options.module]
    stage_dir = stage_dir_of(options.module) if options.report_only else stage(options.module, tests)
    if not options.report_only:
        orphans_before = orphaned_redis_servers()
        try:
            mutmut(stage_dir, "run", "--max-children", str(options.workers))
        finally:
            stop_orphans(orphans_before)
    figures = report(options.module, stage_dir)
    print(f"\n{options.module} (mutmut): {figures['mutants']} mutants, {figures['killed']} killed, "
          f"{figures['survived']} survived, {figures['equivalent']} equivalent: {figures['score']}%")
    print(f"survivors' diffs: {(stage_dir / 'survivors.txt').relative_to(ROOT)}")
    lua = None if options.report_only else lua_mutants.run_for(options.module, tests)
    if lua is not None:
        print(f"{options.module} (Lua by hand): {lua['mutants']} mutants, {lua['killed']} killed"
              + "".join(f"\n  SURVIVED {name}" for name in lua["survivors"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
