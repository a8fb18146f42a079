"""The hand-made Lua mutants (tests/lua_mutants.py) still fit the .lua files, and one applied
reaches what Redis runs: a script edit that leaves a mutant behind fails here, not in make mutate."""
import pytest

from parlor.infra import redis_client
from parlor.infra.redis_client import packed_client, register_scripts
from tests.lua_mutants import BY_NAME, MUTANTS, apply, change


@pytest.mark.parametrize("mutant", MUTANTS, ids=[mutant.name for mutant in MUTANTS])
def test_each_mutant_changes_its_file_once_in_some_script(mutant):
    piece, mutated, scripts = change(mutant)
    assert mutated != piece and scripts


@pytest.mark.gen_test
async def test_a_mutant_of_an_included_file_reaches_every_script_that_includes_it(redis_url, redis_sync,
                                                                                   monkeypatch):
    monkeypatch.setattr(redis_client, "lua_source", redis_client.lua_source)  # put back after the test
    assert apply(BY_NAME["a bucket of one refuses its first action"]) == ["check_game", "check_sends", "guess", "hit", "room"]
    client = packed_client(redis_url)
    try:
        scripts = register_scripts(client, "parlor", "hit", "check_game")
        assert all("if wait >= 0 then" in script.script for script in (scripts.hit, scripts.check_game))
        assert await scripts.hit(keys=["bucket"], args=[1, 60_000]) == 0
        assert redis_sync.get("bucket") is None  # refused at 0 ms to wait, so never charged
    finally:
        await client.aclose()
