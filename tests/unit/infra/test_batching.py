"""parlor/infra/batching.py: group commit for round trips."""
import asyncio

import pytest

from parlor.infra.batching import Batcher


class Recorder:
    """A call that answers each request with its double, after a pause, and records its batches."""

    def __init__(self, pause: float = 0.01, fail_on=None):
        self.batches, self.pause, self.fail_on = [], pause, fail_on

    async def __call__(self, requests):
        self.batches.append(list(requests))
        await asyncio.sleep(self.pause)
        if self.fail_on is not None and self.fail_on in requests:
            raise ValueError(f"refused {self.fail_on}")
        return [2 * r for r in requests]


@pytest.mark.gen_test
async def test_requests_made_together_go_in_one_call_and_get_their_own_answers():
    call = Recorder()
    batcher = Batcher(call)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert call.batches == [[0, 1, 2, 3, 4]]


@pytest.mark.gen_test
async def test_requests_made_during_a_call_wait_for_it_then_go_together_in_order():
    call = Recorder(pause=0.05)
    batcher = Batcher(call)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.01)  # the first call is under way
    later = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3, 4)]
    assert await first == 2 and await asyncio.gather(*later) == [4, 6, 8]
    assert call.batches == [[1], [2, 3, 4]]


@pytest.mark.gen_test
async def test_one_request_at_a_time_is_sent_at_once_alone():
    call = Recorder(pause=0)
    batcher = Batcher(call)
    for n in range(3):
        assert await batcher.submit(n) == 2 * n
    assert call.batches == [[0], [1], [2]]


@pytest.mark.gen_test
async def test_a_failed_call_fails_its_own_batch_only():
    call = Recorder(pause=0.05, fail_on=2)
    batcher = Batcher(call)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.01)
    failing = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3)]
    await asyncio.sleep(0.01)
    assert await first == 2
    for request in failing:
        with pytest.raises(ValueError, match="refused 2"):
            await request
    assert await batcher.submit(5) == 10  # the batcher goes on


@pytest.mark.gen_test
async def test_batches_are_capped():
    call = Recorder()
    batcher = Batcher(call, max_batch=2)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert call.batches == [[0, 1], [2, 3], [4]]
