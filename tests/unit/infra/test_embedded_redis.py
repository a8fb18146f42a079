"""parlor/infra/embedded_redis.py: the embedded Redis's lifecycle, with real redis-server processes."""
import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from parlor.infra.embedded_redis import EmbeddedRedis, pid_alive
from tests.helpers import until


@pytest.fixture
def data_dir():
    directory = Path(tempfile.mkdtemp(prefix="parlor-emb-", dir="/tmp"))  # short: socket path limit
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def set_and_get(url, key, value=None):
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        if value is not None:
            await client.set(key, value)
        return await client.get(key)
    finally:
        await client.aclose()


@pytest.mark.gen_test(timeout=60)
async def test_owner_starts_it_a_second_process_shares_it_and_stop_saves(data_dir, io_loop):
    first = EmbeddedRedis(data_dir)
    await first.start()
    assert first.owner and first.socket_path.exists()
    second = EmbeddedRedis(data_dir)
    await second.start()
    assert not second.owner  # it uses the running Redis rather than starting another
    await set_and_get(second.url, "greeting", "hello")
    pid = first.pid
    await second.stop()
    await first.stop()
    assert not pid_alive(pid)
    third = EmbeddedRedis(data_dir)
    await third.start()
    assert await set_and_get(third.url, "greeting") == "hello"  # the AOF kept it
    await third.stop()


@pytest.mark.gen_test(timeout=60)
async def test_a_redis_left_by_a_killed_owner_is_adopted_not_killed(data_dir, io_loop):
    first = EmbeddedRedis(data_dir)
    await first.start()
    pid = first.pid
    second = EmbeddedRedis(data_dir)
    await second.start()
    # The owner dies without stopping anything: its watcher is gone and its flocks released.
    first._watcher.cancel()
    first._lock_file.close()
    first._users_file.close()
    await until(lambda: second.owner and second.pid is not None)
    assert second.pid == pid and pid_alive(pid)
    await second.stop()
    assert not pid_alive(pid)


@pytest.mark.gen_test(timeout=60)
async def test_a_stale_socket_with_no_owner_is_cleaned_up(data_dir, io_loop):
    (data_dir / "redis").mkdir()
    (data_dir / "redis" / "redis.sock").write_text("left over from a crash")
    embedded = EmbeddedRedis(data_dir)
    await embedded.start()
    assert await set_and_get(embedded.url, "k", "v") == "v"
    await embedded.stop()


@pytest.mark.gen_test(timeout=60)
async def test_a_killed_redis_is_restarted_with_its_data(data_dir, io_loop):
    embedded = EmbeddedRedis(data_dir)
    await embedded.start()
    await set_and_get(embedded.url, "survivor", "yes")
    old_pid = embedded.pid
    os.kill(old_pid, signal.SIGKILL)
    await until(lambda: embedded.pid != old_pid)
    for _ in range(100):
        try:
            assert await set_and_get(embedded.url, "survivor") == "yes"
            break
        except (ConnectionError, OSError, aioredis.RedisError):
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("restarted Redis never answered")
    await embedded.stop()


@pytest.mark.gen_test(timeout=60)
async def test_stop_leaves_redis_running_while_another_parlor_process_uses_it(data_dir, io_loop):
    owner = EmbeddedRedis(data_dir)
    await owner.start()
    pid = owner.pid
    sibling = EmbeddedRedis(data_dir)
    await sibling.start()
    await owner.stop()
    assert pid_alive(pid)
    await until(lambda: sibling.owner and sibling.pid is not None)  # the sibling's watcher takes it over
    assert sibling.pid == pid and await set_and_get(sibling.url, "k", "v") == "v"
    await sibling.stop()
    assert not pid_alive(pid)


@pytest.mark.gen_test(timeout=60)
async def test_the_last_parlor_process_stops_redis_whatever_other_clients_are_connected(data_dir, io_loop):
    """A console client (redis-cli) cannot take a Redis over: it is no reason to leave one running."""
    owner = EmbeddedRedis(data_dir)
    await owner.start()
    pid = owner.pid
    console = aioredis.Redis.from_url(owner.url)
    await console.ping()
    await owner.stop()
    assert not pid_alive(pid)
    await console.aclose()
