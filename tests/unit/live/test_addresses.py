"""parlor/live/addresses.py against a real Redis: live connections per address, on every process
together; a process that died stops counting once its claim lapses."""
import pytest
import redis.asyncio as aioredis

from parlor.live.addresses import AddressCounts, address_key
from parlor.refusals import Refused


@pytest.fixture
def client(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    io_loop.run_sync(client.aclose)


@pytest.mark.gen_test(timeout=30)
async def test_connections_from_an_address_count_on_every_process_and_a_dead_ones_lapse(client, redis_sync):
    one, other = AddressCounts(client, "process-1", 3, 2), AddressCounts(client, "process-2", 3, 2)
    await one.join("198.51.100.7", anonymous=True)
    await other.join("198.51.100.7", anonymous=True)
    with pytest.raises(Refused, match="without an account") as refused:
        await one.join("198.51.100.7", anonymous=True)  # the third anonymous one, on either process
    assert refused.value.kind == "too_many"
    await one.join("198.51.100.7", anonymous=False)  # an account's still fits: three in all
    with pytest.raises(Refused, match="Too many live connections come from your address"):
        await other.join("198.51.100.7", anonymous=False)
    await one.join("203.0.113.1", anonymous=True)  # another address counts apart
    await other.leave("198.51.100.7", anonymous=True)
    await other.join("198.51.100.7", anonymous=True)  # a place was freed
    redis_sync.hset(address_key("198.51.100.7"), "process-1:until", 1)  # process-1 died: its claim lapsed
    for _ in range(2):
        await other.join("198.51.100.7", anonymous=False)  # its two connections no longer count
    await other.leave_all()
    assert redis_sync.hgetall(address_key("198.51.100.7")) == {}  # the dead one's dropped, the other's left
    await one.renew()  # a process that was only slow puts its counts back
    assert redis_sync.hget(address_key("198.51.100.7"), "process-1") == "2"
