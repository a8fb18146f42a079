"""parlor/safety.py against a real Redis: the token buckets and blocks."""
import asyncio

import pytest
import redis.asyncio as aioredis

from parlor.infra.config import NO_LIMIT, Config, Rate
from parlor.infra.user_keys import KeysNaming
from parlor.refusals import Refused
from parlor.safety import LIMITS, MAX_BLOCKS, UNDELIVERABLE, USER_LIMITS, Safety, address_group, over_limit, wait_words


PEOPLE = ("alice", "bob", "carol", "dave", "erin", "sam", "old")


@pytest.fixture(autouse=True)
def accounts(redis_sync):
    """The people the tests send as and to have accounts (the send check asks)."""
    for name in PEOPLE:
        redis_sync.hset(f"user:{name}", "created_at", "0")


def written(redis_sync) -> list[str]:
    """The keys in Redis but the accounts the fixture made."""
    return sorted(set(redis_sync.keys("*")) - {f"user:{name}" for name in PEOPLE})


def check(limits: Safety, me: str, peer: str, picture: bool):
    """A send's check, as Chat asks it."""
    return limits.check_send(me, peer, picture, f"conversations:{me}", account_keys=(f"user:{me}", f"user:{peer}"))


def safety(client, **limits):
    return Safety(client, {name: limits.get(name, NO_LIMIT) for name in LIMITS})


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
    limits = safety(client, **dict.fromkeys(USER_LIMITS, Rate(5, 60)))
    await limits.block("bob", "alice")
    await limits.block("carol", "alice")
    await limits.block("alice", "dave")
    with pytest.raises(Refused, match="could not be delivered"):
        await check(limits, "alice", "bob", False)
    with pytest.raises(Refused, match="You blocked alice"):
        await check(limits, "bob", "alice", False)
    assert redis_sync.smembers("blocked-by:alice") == {"bob", "carol"}
    for limit in USER_LIMITS:
        await limits.hit(limit, "alice")
    await limits.hit("messages", "bob")
    await limits.forget_user("alice", KeysNaming(client, "alice"))
    assert redis_sync.keys("block*") == []
    assert redis_sync.keys("rate:*") == ["rate:messages:bob"]  # her buckets go with her, nobody else's


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


@pytest.mark.parametrize("address, group", [
    ("198.51.100.7", "198.51.100.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # one subscriber's /64
    ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),  # an IPv4 address seen through IPv6
    ("unix-socket", "unix-socket"),  # not an IP address: as it is
])
def test_an_address_counts_as_its_group(address, group):
    assert address_group(address) == group


@pytest.mark.parametrize("seconds, words", [
    (1, "1 second"), (2, "2 seconds"), (59, "59 seconds"), (60, "1 minute"), (61, "2 minutes"),
    (120, "2 minutes"), (121, "3 minutes"),
])
def test_a_wait_is_said_in_seconds_then_whole_minutes_rounded_up(seconds, words):
    assert wait_words(seconds) == words


@pytest.mark.parametrize("wait_ms, seconds", [(0, 1), (1, 1), (1000, 1), (1001, 2), (60_000, 60)])
def test_a_refusal_over_a_limit_asks_for_whole_seconds_at_least_one(wait_ms, seconds):
    refused = over_limit("games", wait_ms)
    assert (refused.kind, refused.retry_after) == ("too_many", seconds)
    assert str(refused) == f"You are starting games too fast. Wait {wait_words(seconds)} and start one again."


@pytest.mark.gen_test(timeout=30)
async def test_a_refused_action_is_told_the_whole_wait(client, redis_sync):
    limits = safety(client, signups=Rate(1, 60))
    await limits.hit("signups", "198.51.100.1")  # a bucket of one: its first action fits
    with pytest.raises(Refused) as refused:
        await limits.hit("signups", "198.51.100.1")
    assert refused.value.retry_after == 60
    assert str(refused.value) == "Too many accounts were made from your address. Try again in 1 minute."


@pytest.mark.gen_test(timeout=30)
async def test_a_limit_of_more_actions_than_milliseconds_still_counts(client, redis_sync):
    limits = safety(client, signups=Rate(5000, 1))  # the interval rounds up to 1 ms, never 0
    for _ in range(3):
        await limits.hit("signups", "198.51.100.1")


@pytest.mark.gen_test(timeout=30)
async def test_only_a_picture_counts_as_a_picture_and_only_a_message_as_a_message(client, redis_sync):
    limits = safety(client, messages=Rate(5, 60), images=Rate(5, 60), conversations=Rate(5, 60))
    await limits.check_send("alice", "bob", False, "conversations:alice")
    assert sorted(redis_sync.keys("rate:*")) == ["rate:conversations:alice", "rate:messages:alice"]
    await limits.check_send("carol", "bob", False, "conversations:carol", message=False)  # a conversation made empty
    assert redis_sync.keys("rate:*:carol") == ["rate:conversations:carol"]


TOO_FAST = "You are starting games too fast. Wait {} and start one again."
FROM_ADDRESS = "Too many games were started from your address. Try again in 30 seconds."


@pytest.mark.parametrize("limits, starts", [
    # per visitor, with the per-address limit off; a visitor without a session yet is always new
    ({"games": Rate(2, 60)}, [("a", "p1", None), ("a", "p1", None), ("a", "p1", TOO_FAST.format("30 seconds"))]),
    ({"games": Rate(1, 60)}, [("a", "p1", None), ("a", "p2", None), ("b", "p3", None), ("a", None, None),
                              ("a", None, None)]),
    # per address: another address has its own budget, and a new visitor counts too
    ({"game_addresses": Rate(2, 60)}, [("a", "p1", None), ("b", "p2", None), ("a", None, None),
                                       ("a", "p3", FROM_ADDRESS)]),
    # a visitor over their limit costs their address nothing
    ({"game_addresses": Rate(2, 60), "games": Rate(1, 60)}, [
        ("a", "p1", None), ("a", "p1", TOO_FAST.format("1 minute")), ("a", "p2", None), ("a", "p3", FROM_ADDRESS)]),
    # visitors without a session yet count for their address only
    ({"game_addresses": Rate(3, 60), "games": Rate(1, 60)}, [("a", None, None), ("a", None, None), ("a", "p1", None)]),
])
@pytest.mark.gen_test(timeout=30)
async def test_game_starts_count_per_visitor_and_per_address(client, redis_sync, limits, starts):
    limits = safety(client, **limits)
    outcomes = []
    for address, visitor, _ in starts:
        try:
            await limits.check_game_start(f"198.51.100.{ord(address)}", visitor)
            outcomes.append(None)
        except Refused as refused:
            outcomes.append(str(refused))
    assert outcomes == [refusal for _, _, refusal in starts]


@pytest.mark.gen_test(timeout=30)
async def test_a_game_start_is_counted_in_its_addresss_bucket_and_its_visitors(client, redis_sync):
    limits = safety(client, game_addresses=Rate(5, 60), games=Rate(5, 60))
    await limits.check_game_start("198.51.100.7", "p1")
    assert written(redis_sync) == ["rate:game_addresses:198.51.100.7", "rate:games:p1"]


@pytest.mark.gen_test(timeout=30)
async def test_game_starts_with_both_limits_off_count_nothing(client, redis_sync):
    limits = safety(client)
    for visitor in ("p1", None):
        await limits.check_game_start("198.51.100.1", visitor)
    assert written(redis_sync) == []


@pytest.mark.gen_test(timeout=60)
async def test_one_person_blocks_at_most_a_thousand(client, redis_sync):
    limits = safety(client)
    for n in range(MAX_BLOCKS):
        await limits.block("bob", f"user-{n}")
    await limits.block("bob", "user-0")  # blocked already: nothing changes, nothing refused
    with pytest.raises(Refused) as refused:
        await limits.block("bob", "alice")
    assert refused.value.kind == "conflict"
    assert str(refused.value) == "You have blocked 1000 people, the most there can be. Unblock someone first."
    assert redis_sync.scard("blocks:bob") == MAX_BLOCKS and not redis_sync.exists("blocked-by:alice")
    await limits.unblock("bob", "user-0")
    await limits.block("bob", "alice")  # room for one again


@pytest.mark.gen_test(timeout=30)
async def test_an_unblock_leaves_both_sides_of_the_index(client, redis_sync):
    limits = safety(client)
    await limits.block("bob", "carol")
    await limits.block("bob", "alice")
    assert await limits.blocked("bob") == ["alice", "carol"] and await limits.has_blocked("bob", "alice")
    assert await limits.unblock("bob", "alice") is True
    assert await limits.unblock("bob", "alice") is False  # not blocked any more
    assert await limits.blocked("bob") == ["carol"] and not await limits.has_blocked("bob", "alice")
    assert redis_sync.smembers("blocked-by:alice") == set() and redis_sync.smembers("blocked-by:carol") == {"bob"}
    await limits.check_send("alice", "bob", False, "conversations:alice")  # delivered again
    with pytest.raises(Refused, match=UNDELIVERABLE):
        await limits.check_send("carol", "bob", False, "conversations:carol")
