"""parlor/chat/chat.py: what Chat needs to be built, and the per-pair locks that keep a pair's events in order."""
import asyncio

import pytest

from parlor.chat.chat import Chat, PairLocks


def test_chat_cannot_be_built_without_its_blocks_and_rate_limits():
    with pytest.raises(TypeError, match="safety"):
        Chat(None, None, None, None, delivery=None)


@pytest.mark.gen_test(timeout=10)
async def test_a_pair_lock_outlives_its_holder_while_anyone_waits_then_is_dropped():
    locks, inside, most = PairLocks(), set(), 0
    gates = {name: asyncio.Event() for name in "abc"}
    entered = {name: asyncio.Event() for name in "abc"}

    async def turn(name):
        nonlocal most
        async with locks.hold("alice_bob"):
            inside.add(name)
            most = max(most, len(inside))
            entered[name].set()
            await gates[name].wait()
            inside.discard(name)

    a = asyncio.create_task(turn("a"))
    await entered["a"].wait()
    b = asyncio.create_task(turn("b"))  # waits for a
    await asyncio.sleep(0.01)
    gates["a"].set()  # a leaves while b waits: the lock must stay
    await entered["b"].wait()
    c = asyncio.create_task(turn("c"))  # comes while b holds it
    await asyncio.sleep(0.01)
    assert not entered["c"].is_set() and most == 1
    gates["b"].set()
    gates["c"].set()
    await asyncio.gather(a, b, c)
    assert most == 1 and len(locks) == 0  # taken in turns, and nothing kept once no one needs it
