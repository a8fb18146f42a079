"""parlor/accounts/accounts.py against a real Redis."""
import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio as aioredis

from parlor.accounts.accounts import LOCKED_OUT, TOKEN_CACHE_S, Accounts, check_password, normalize_username
from parlor.accounts.sessions import SIGN_OUT_CHANNEL
from parlor.live.listener import Listener
from parlor.refusals import Kind, Refused
from parlor.safety import Safety
from tests.helpers import ROOT
from tests.helpers import until


@pytest.mark.parametrize("raw,expected", [
    ("alice", "alice"), ("Ab-9", "ab-9"), ("  BOB  ", "bob"), ("x" * 32, "x" * 32), ("a-b", "a-b"),
])
def test_usernames_fold_to_lowercase(raw, expected):
    assert normalize_username(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "ab", "x" * 33, "a_b", "../x", "a/b", "a b", "a\0b", "ü-ser", "ａｄｍｉｎ", "\u212aey", "İstanbul", None,
])
def test_bad_usernames_are_refused(raw):
    with pytest.raises(Refused, match="3 to 32 characters"):
        normalize_username(raw)


@pytest.mark.parametrize("password", ["x" * 7, "x" * 257, "", None])
def test_password_length_bounds(password):
    with pytest.raises(Refused) as refused:
        check_password(password)
    assert refused.value.kind == Kind.INVALID


@pytest.fixture
def accounts(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    pool = ThreadPoolExecutor(2)
    yield Accounts(client, pool, safety=Safety.unlimited(client))
    pool.shutdown()
    io_loop.run_sync(client.aclose)


@pytest.mark.gen_test(timeout=30)
async def test_two_simultaneous_signups_of_one_name_exactly_one_wins(accounts, redis_sync):
    results = await asyncio.gather(
        *(accounts.sign_up("racer", f"password {i}") for i in range(4)), return_exceptions=True
    )
    winners = [r for r in results if r == "racer"]
    losers = [r for r in results if isinstance(r, Refused) and r.kind == Kind.CONFLICT]
    assert len(winners) == 1 and len(losers) == 3
    assert redis_sync.hlen("user:racer") == 2  # one hash, written once


@pytest.mark.gen_test(timeout=30)
async def test_login_lockout_is_per_name_and_address(accounts):
    await accounts.sign_up("target", "right password")
    for _ in range(10):
        with pytest.raises(Refused, match="wrong password"):
            await accounts.log_in("target", "wrong password", "10.0.0.1")
    with pytest.raises(Refused, match=LOCKED_OUT) as throttled:
        await accounts.log_in("target", "right password", "10.0.0.1")
    assert throttled.value.kind == Kind.TOO_MANY and 0 < throttled.value.retry_after <= 300
    # The same user from another address is not locked out.
    assert await accounts.log_in("target", "right password", "10.0.0.2") == "target"


@pytest.mark.gen_test(timeout=60)
async def test_attempts_sent_all_at_once_are_limited_too(accounts):
    await accounts.sign_up("target", "right password")
    results = await asyncio.gather(
        *(accounts.log_in("target", "wrong password", "10.0.0.9") for _ in range(25)), return_exceptions=True)
    throttled = [r for r in results if isinstance(r, Refused) and r.kind == Kind.TOO_MANY]
    checked = [r for r in results if isinstance(r, Refused) and r.kind == Kind.INVALID]
    assert len(checked) == 10 and len(throttled) == 15  # no more than the limit ever reach argon2


@pytest.mark.gen_test
async def test_an_account_found_once_is_known_until_it_leaves_on_any_process(accounts, redis_url):
    store = aioredis.Redis.from_url(redis_url, decode_responses=True)
    other_process = Accounts(store, None, safety=Safety.unlimited(store))
    await accounts.sign_up("alice", "correct horse")
    assert await accounts.exists("alice") and await other_process.exists("alice")
    await accounts.remove("alice")  # on the first process, which forgets her itself
    assert not await accounts.exists("alice")
    assert await other_process.exists("alice")  # remembered: the left notice has not come yet
    other_process.forget("alice")  # the notice (Chat.on_user_left)
    assert not await other_process.exists("alice")
    assert not await other_process.exists("nobody")
    await accounts.sign_up("bob", "correct horse")
    assert await other_process.exists("bob")
    await accounts.remove("bob")
    other_process.forget()  # resubscribed after an outage: every name is asked again
    assert not await other_process.exists("bob")
    await other_process._redis.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_token_that_ends_on_one_process_is_refused_on_another_at_once(redis_url, redis_sync):
    """Each process remembers a token's owner for a moment; an ended token's notice clears it."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    one, other = (Accounts(client, None, safety=Safety.unlimited(client)) for _ in range(2))
    async def signed_out(notice):
        other.on_sign_out(notice)

    listener = Listener(client, {SIGN_OUT_CHANNEL: signed_out}, on_resubscribe=other.forget)
    listener.start()
    await until(lambda: listener.subscribed)
    redis_sync.hset("user:alice", mapping={"password_hash": "-", "created_at": "0"})

    async def refused_soon(token: str) -> None:
        started = time.monotonic()
        while await other.user_for_token(token) is not None:
            await asyncio.sleep(0.01)
        assert time.monotonic() - started < TOKEN_CACHE_S / 2  # the notice, not the cache's lifetime

    first = await one.new_api_token("alice")
    assert await other.user_for_token(first) == "alice"  # and remembered there now
    second = await one.new_api_token("alice")  # replaces the first
    await refused_soon(first)
    assert await other.user_for_token(second) == "alice"
    await one.revoke_api_token("alice")
    await refused_soon(second)
    third = await one.new_api_token("alice")
    assert await other.user_for_token(third) == "alice"
    assert await one.remove("alice")  # the account leaves: every connection of it ends, its token too
    redis_sync.publish(SIGN_OUT_CHANNEL, "alice\n*")  # what leaving publishes (Membership.leave)
    await refused_soon(third)
    await listener.stop()
    await client.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_token_replaced_or_revoked_on_this_process_is_refused_here_before_any_notice(redis_url, redis_sync):
    """No listener runs here: the cache of the process that ended the token is cleared at once."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    accounts = Accounts(client, None, safety=Safety.unlimited(client))
    redis_sync.hset("user:alice", mapping={"password_hash": "-", "created_at": "0"})
    first = await accounts.new_api_token("alice")
    assert await accounts.user_for_token(first) == "alice"  # remembered now
    second = await accounts.new_api_token("alice")
    assert await accounts.user_for_token(first) is None
    assert await accounts.user_for_token(second) == "alice"
    await accounts.revoke_api_token("alice")
    assert await accounts.user_for_token(second) is None
    await client.aclose()


def test_accounts_cannot_be_built_without_the_limits_on_sign_ups_and_logins():
    with pytest.raises(TypeError, match="safety"):
        Accounts(None, None)


def readme_names(pattern: str) -> list[str]:
    """The names the README's "Names" section gives as examples, in the part `pattern` matches
    ("`x` followed by U+034F" is x and that character)."""
    text = " ".join((ROOT / "README.md").read_text().split())
    part = re.search(pattern, text).group(1)
    return [name + ("\u034f" if follows else "")
            for name, follows in re.findall(r"`([^`]+)`( followed by U\+034F)?", part)]


@pytest.mark.gen_test(timeout=30)
async def test_the_readmes_look_alike_examples_are_what_happens(accounts):
    await accounts.create("alice1", "correct horse")
    usernames = readme_names(r"next to `alice1`, the usernames (.*?) are refused")
    assert usernames == ["alicel", "a1ice1"]
    for name in usernames:
        with pytest.raises(Refused, match="looks too much like “alice1”"):
            await accounts.create(name, "correct horse")
    board_names = readme_names(r"and so are the board names (.*?), each with")
    assert board_names == ["alicel", "aIice1", "\u0430lice1", "alice1\u034f"]
    for name in board_names:
        assert await accounts.look_alike(name) == "alice1", name
    free = readme_names(r"folded to lower case first, so (`aIice1` is `aiice1`), which is free")
    assert await accounts.create(free[0], "correct horse") == free[1]
