"""parlor/infra/redis_client.py: the same bytes on the wire as redis-py's own packing, and every Lua
script a file that loads, against a real Redis."""
import itertools
import re

import pytest
from redis.asyncio.connection import UnixDomainSocketConnection

from parlor.infra import redis_client
from parlor.infra.redis_client import PARLOR_DIR, PackedUnixConnection, lua_source, packed_client, register_scripts
from tests.helpers import until

LUA_FILES = sorted(PARLOR_DIR.rglob("lua/*.lua"))
SCRIPTS = [path for path in LUA_FILES if not path.name.startswith("_")]  # the others are included parts
LITERAL_INDEX = re.compile(r"\b(KEYS|ARGV)\[\d+\]")
# What may stand before a script's first statement: comments, includes, and the lines naming its
# KEYS and ARGV (a `local` line, or the continuation of one).
HEADER_LINE = re.compile(r"\s*(--.*)?|local [\w, ]+=(\s*|.*\b(KEYS|ARGV)\[.*)|\s+((KEYS|ARGV)\[\d+\],?\s*)+")


def package_of(path) -> str:
    return ".".join(["parlor", *path.parent.parent.relative_to(PARLOR_DIR).parts])


def relative(path) -> str:
    return str(path.relative_to(PARLOR_DIR))


@pytest.mark.parametrize("command", [
    ("GET", "key"), ("CONFIG GET", "maxmemory"), (b"CLIENT LIST",), ("SET", "k", "é" * 3, "PX", 1500),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", "<p>" + "x" * 10_000 + "</p>", 3.5, b"\x00\xff"),
])
def test_a_command_packs_to_the_bytes_redis_py_sends(command):
    ours = b"".join(PackedUnixConnection(path="/nowhere").pack_command(*command))
    theirs = b"".join(UnixDomainSocketConnection(path="/nowhere").pack_command(*command))
    assert ours == theirs


@pytest.mark.gen_test
async def test_a_packed_client_talks_to_redis(redis_url, redis_sync):
    client = packed_client(redis_url)
    try:
        await client.set("greeting", "héllo")
        assert await client.get("greeting") == "héllo"  # strings decoded
        script = client.register_script("return #ARGV")
        assert await script(args=list(range(40))) == 40
        assert isinstance(client.connection_pool.connection_class(path="/x"), PackedUnixConnection)
    finally:
        await client.aclose()


@pytest.mark.gen_test
async def test_closing_a_packed_client_closes_its_connections(redis_url, redis_sync):
    # The embedded Redis is stopped only when no other client is connected: a pool left open
    # would keep it running after the last server stopped.
    before = len(redis_sync.client_list())
    client = packed_client(redis_url)
    await client.ping()
    assert len(redis_sync.client_list()) == before + 1
    await client.aclose()
    # Redis notices a closed socket on its next turn, which a busy machine may delay.
    await until(lambda: len(redis_sync.client_list()) == before)


def test_every_lua_script_is_found():
    assert len(SCRIPTS) >= 30  # a glob that missed the files would pass every test below
    assert {package_of(path) for path in SCRIPTS} == {"parlor", "parlor.accounts", "parlor.community", "parlor.game",
                                                      "parlor.live"}


@pytest.mark.parametrize("path", SCRIPTS, ids=relative)
def test_every_script_compiles_in_redis_with_its_includes(path, redis_sync):
    source = lua_source(package_of(path), path.stem)
    assert "@include" not in source
    assert redis_sync.script_exists(redis_sync.script_load(source)) == [True]


@pytest.mark.parametrize("path", LUA_FILES, ids=relative)
def test_every_script_names_its_keys_and_argv_at_its_top(path):
    lines = path.read_text().splitlines()
    body = list(itertools.dropwhile(HEADER_LINE.fullmatch, lines))
    assert body, "a script with no statement"
    assert [line for line in body if LITERAL_INDEX.search(line)] == []


def test_no_python_module_of_parlor_holds_lua():
    assert [relative(path) for path in PARLOR_DIR.rglob("*.py") if "redis.call(" in path.read_text()] == []


def test_a_part_is_included_from_the_including_files_folder_once(tmp_path, monkeypatch):
    (tmp_path / "lua").mkdir()
    (tmp_path / "game" / "lua").mkdir(parents=True)
    (tmp_path / "lua" / "_clock.lua").write_text("local now = 1\n")
    (tmp_path / "game" / "lua" / "_tick.lua").write_text('--- @include "../../lua/_clock.lua"\nlocal tick = now\n')
    (tmp_path / "game" / "lua" / "both.lua").write_text(
        '--- @include "_tick.lua"\n--- @include "../../lua/_clock.lua"\nreturn tick\n')
    monkeypatch.setattr(redis_client, "PARLOR_DIR", tmp_path)
    lua_source.cache_clear()
    try:
        source = lua_source("parlor.game", "both")
    finally:
        lua_source.cache_clear()
    assert [line for line in source.splitlines() if line] == ["local now = 1", "local tick = now", "return tick"]


def test_only_parlors_packages_have_scripts():
    with pytest.raises(ValueError):
        lua_source("tornado.web", "typing")


@pytest.mark.gen_test
async def test_registered_scripts_are_named_as_their_files_and_run(redis_url, redis_sync):
    client = packed_client(redis_url)
    try:
        scripts = register_scripts(client, "parlor.live", "missing_keys", "typing")
        redis_sync.set("here", "1")
        assert await scripts.missing_keys(keys=["gone", "here", "also-gone"]) == [1, 3]
        redis_sync.script_flush()  # a Redis that forgot the script (a restart) is given it again
        assert await scripts.missing_keys(keys=["here"]) == []
    finally:
        await client.aclose()
