"""parlor/infra/startup.py: an external Redis's durability settings and the one data dir a Redis
serves, checked against a real Redis."""
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from parlor.infra.embedded_redis import redis_command, wait_ready_sync
from parlor.infra.redis_binaries import bundled_redis_server
from parlor.infra.startup import DATA_DIR_KEY, CannotStart, check_durability, claim_redis, without_password


@pytest.fixture
def unsafe_redis(request):
    """A throwaway Redis 6.2 started as parlor/infra/embedded_redis.py starts one, then with one
    setting changed on its command line ("--name value"): a client on it."""
    name, value = request.param
    directory = Path(tempfile.mkdtemp(prefix="parlor-unsafe-", dir="/tmp"))
    process = subprocess.Popen([*redis_command(bundled_redis_server(), directory), f"--{name}", value],
                               stdout=subprocess.DEVNULL)
    url = f"unix://{directory}/redis.sock"
    wait_ready_sync(url)
    client = aioredis.Redis.from_url(url, decode_responses=True)
    yield client
    process.kill()  # nothing in it is kept
    process.wait()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.gen_test
async def test_parlors_own_settings_pass(client):
    await check_durability(client, "redis://x", refuse=True)  # the tests' Redis is set up as Parlor's own


@pytest.mark.parametrize("unsafe_redis, said", [
    (("appendfsync", "everysec"), "appendfsync is everysec, not always: a crash of its host loses writes"),
    (("appendonly", "no"), "appendonly is no, not yes: a restart of Redis loses every write"),
    (("maxmemory-policy", "allkeys-lru"), "maxmemory-policy is allkeys-lru, not noeviction: a full Redis evicts keys"),
], indirect=["unsafe_redis"])
@pytest.mark.gen_test
async def test_an_unsafe_setting_is_refused_with_the_reason_or_only_warned_about(unsafe_redis, said, caplog):
    with pytest.raises(CannotStart, match=said):
        await check_durability(unsafe_redis, "redis://:hunter2@x", refuse=True)
    with caplog.at_level(logging.WARNING, logger="parlor"):
        await check_durability(unsafe_redis, "redis://:hunter2@x", refuse=False)
    assert said in caplog.text and "hunter2" not in caplog.text
    await unsafe_redis.aclose()


def test_a_url_is_logged_without_its_password():
    assert without_password("redis://user:s3cret@host:6379/0") == "redis://user:[hidden]@host:6379/0"
    assert without_password("unix:///srv/parlor/data/redis/redis.sock") == "unix:///srv/parlor/data/redis/redis.sock"


@pytest.mark.gen_test
async def test_a_redis_serves_one_data_dir(client, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    await claim_redis(client, first)
    await claim_redis(client, first)  # again, as every process on that data dir does
    with pytest.raises(CannotStart, match=f"already serves the data dir .*:{first}"):
        await claim_redis(client, second)
    moved = tmp_path / "moved"
    first.rename(moved)  # the same data dir (its identity file) somewhere else
    await claim_redis(client, moved)
    assert (await client.get(DATA_DIR_KEY)).endswith(f":{moved}")
