"""parlor/infra/redis_client.py: the same bytes on the wire as redis-py's own packing, against a real Redis."""
import pytest
from redis.asyncio.connection import UnixDomainSocketConnection

from parlor.infra.redis_client import PackedUnixConnection, packed_client
from tests.helpers import until


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
