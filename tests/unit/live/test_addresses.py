"""parlor/live/addresses.py against a real Redis: live connections per address, on every process
together; a process that died stops counting once its claim lapses."""
import pytest

from parlor.live.addresses import AddressCounts, address_key
from parlor.refusals import Refused


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


@pytest.mark.gen_test(timeout=30)
async def test_a_renewal_or_a_leave_never_undoes_a_join_still_on_its_way_back(client, redis_sync):
    """Streams opening at once: Redis has counted a join whose answer the process has not read
    yet when the heartbeat renews, or another connection leaves. Neither may write the process's
    own, smaller tally over Redis's count (500 streams at once got 109 in past a cap of 60)."""
    counts = AddressCounts(client, "process-1", 0, 3)
    for _ in range(2):
        await counts.join("198.51.100.7", anonymous=True)
    in_flight = AddressCounts(client, "process-1", 0, 3)  # the same process: a join not yet heard back
    await in_flight.join("198.51.100.7", anonymous=True)
    await counts.renew()
    await counts.leave("198.51.100.7", anonymous=True)
    assert redis_sync.hget(address_key("198.51.100.7"), "process-1:anonymous") == "2"
    await counts.join("198.51.100.7", anonymous=True)  # the third
    with pytest.raises(Refused, match="without an account"):
        await counts.join("198.51.100.7", anonymous=True)  # a fourth is one too many
