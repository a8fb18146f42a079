"""parlor/safety.py against a real Redis: the token buckets and blocks."""
import asyncio

import pytest
import redis.asyncio as aioredis

from parlor.infra.config import NO_LIMIT, Config, Rate
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused
from parlor.safety import LIMITS, Safety


@pytest.fixture
def client(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    io_loop.run_sync(client.aclose)


PEOPLE = ("alice", "bob", "carol", "dave", "erin", "sam", "old")


@pytest.fixture(autouse=True)
def accounts(redis_sync):
    """The people the tests send as and to have accounts (the send check asks)."""
    for name in PEOPLE:
        redis_sync.hset(f"user:{name}", "created_at", "0")


def check(limits: Safety, me: str, peer: str, picture: bool):
    """A send's check, as Chat asks it."""
    return limits.check_send(me, peer, picture, f"conversations:{me}", account_keys=(f"user:{me}", f"user:{peer}"))


def safety(client, **limits):
    names = ("messages", "conversations", "images", "signups", "guesses")
    return Safety(client, {name: limits.get(name, NO_LIMIT) for name in names})


@pytest.mark.gen_test(timeout=30)
async def test_a_bucket_takes_a_burst_then_refills_evenly(client, redis_sync):
    limits = safety(client, guesses=Rate(3, 3))  # 3 at once, then one a second
    for _ in range(3):
        await limits.hit("guesses", "game-1")
    with pytest.raises(Refused) as refused:
        await limits.hit("guesses", "game-1")
    assert refused.value.kind == "too_many" and refused.value.retry_after == 1
    await limits.hit("guesses", "game-2")  # every key has its own bucket
    await asyncio.sleep(1.1)
    await limits.hit("guesses", "game-1")  # one more fits again, and only one
    with pytest.raises(Refused):
        await limits.hit("guesses", "game-1")
    assert 0 < redis_sync.pttl("rate:guesses:game-1") <= 3000  # gone once the bucket is full again


@pytest.mark.gen_test(timeout=30)
async def test_no_limit_counts_nothing(client, redis_sync):
    limits = safety(client)
    for _ in range(100):
        await limits.hit("signups", "127.0.0.1")
        await check(limits, "alice", "bob", True)
    assert redis_sync.keys("rate:*") == []


@pytest.mark.gen_test(timeout=30)
async def test_a_refused_send_charges_no_bucket(client, redis_sync):
    limits = safety(client, messages=Rate(5, 60), images=Rate(1, 60), conversations=Rate(1, 3600))
    await check(limits, "alice", "bob", True)
    charged = {key: redis_sync.get(key) for key in redis_sync.keys("rate:*")}
    assert sorted(charged) == ["rate:conversations:alice", "rate:images:alice", "rate:messages:alice"]
    redis_sync.zadd("conversations:alice", {"bob": 1})  # stored, as Chat does: bob is no longer new
    with pytest.raises(Refused, match="too many pictures"):
        await check(limits, "alice", "bob", True)
    with pytest.raises(Refused, match="new conversations"):
        await check(limits, "alice", "carol", False)
    assert {key: redis_sync.get(key) for key in redis_sync.keys("rate:*")} == charged


@pytest.mark.gen_test(timeout=30)
async def test_blocks_go_both_ways_in_the_index_and_leave_with_the_account(client, redis_sync):
    limits = safety(client)
    await limits.block("bob", "alice")
    await limits.block("carol", "alice")
    await limits.block("alice", "dave")
    with pytest.raises(Refused, match="could not be delivered"):
        await check(limits, "alice", "bob", False)
    with pytest.raises(Refused, match="You blocked alice"):
        await check(limits, "bob", "alice", False)
    assert redis_sync.smembers("blocked-by:alice") == {"bob", "carol"}
    await limits.forget_user("alice", KeysNaming(client, "alice"))
    assert redis_sync.keys("block*") == []


@pytest.mark.gen_test(timeout=30)
async def test_sends_checked_at_the_same_time_share_a_round_trip_and_each_gets_its_own_verdict(
        client, redis_sync, monkeypatch):
    limits = safety(client, messages=Rate(2, 60))
    calls = []
    script = limits._scripts.check_sends

    async def counted(*args, **kwargs):
        calls.append(1)
        return await script(*args, **kwargs)

    monkeypatch.setattr(limits._scripts, "check_sends", counted)
    await limits.block("bob", "alice")
    outcomes = await asyncio.gather(*(check(limits, me, peer, False)
                                      for me, peer in [("alice", "bob"), ("carol", "bob"), ("dave", "bob"),
                                                       ("dave", "carol"), ("dave", "erin")]),
                                    return_exceptions=True)
    assert len(calls) == 1  # one script call for all five
    assert isinstance(outcomes[0], Refused) and outcomes[0].kind == "forbidden"  # bob blocked alice
    assert outcomes[1:3] == [None, None]  # carol, and dave's first
    assert outcomes[3] is None  # dave's second: the bucket holds two
    assert isinstance(outcomes[4], Refused) and outcomes[4].kind == "too_many"  # the third, counted after them


@pytest.mark.gen_test(timeout=30)
async def test_a_suspended_account_neither_sends_nor_is_sent_anything_until_its_time_is_up(client, redis_sync):
    import time

    from parlor.safety import SUSPENDED_KEY

    limits = safety(client, messages=Rate(5, 60))
    now = int(time.time() * 1000)
    redis_sync.zadd(SUSPENDED_KEY, {"sam": now + 60_000, "old": now - 1})
    with pytest.raises(Refused) as refused:
        await check(limits, "sam", "bob", False)
    assert refused.value.kind == "forbidden" and str(refused.value) == "Your account is suspended."
    with pytest.raises(Refused) as refused:
        await check(limits, "bob", "sam", False)
    assert str(refused.value) == "sam is suspended: nothing can be sent to them until the suspension ends."
    assert redis_sync.keys("rate:*") == []  # refused before any bucket was charged
    await check(limits, "old", "bob", False)  # its time is up, swept or not
    await check(limits, "bob", "old", False)


@pytest.mark.gen_test(timeout=30)
async def test_a_send_from_or_to_an_account_that_is_gone_is_refused_by_the_check_itself(client, redis_sync):
    """Deleting an account removes its user key first: from then on the one script every send
    passes refuses it, whatever a process still remembers of the name."""
    limits = safety(client)
    redis_sync.delete("user:bob")
    for me, peer in (("alice", "bob"), ("bob", "alice")):
        with pytest.raises(Refused, match="could not be delivered"):
            await check(limits, me, peer, False)
    await limits.check_send("alice", "eliza", False, "conversations:alice", account_keys=("user:alice", None))  # no account


def test_every_rate_limit_setting_is_one_safety_knows():
    assert set(Config().rate_limits()) == set(LIMITS)


@pytest.mark.gen_test
async def test_an_unlimited_safety_counts_nothing(redis_url, redis_sync):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    safety = Safety.unlimited(client)
    for _ in range(50):
        await safety.hit("logins", "198.51.100.0/24")
    assert redis_sync.keys("rate:*") == []
    await client.aclose()
