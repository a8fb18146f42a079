"""parlor/sessions.py against a real Redis."""
import pytest
import redis.asyncio as aioredis

from parlor.sessions import GUEST_SESSION_TTL_S, SESSION_TTL_S, Sessions


@pytest.fixture
def sessions(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield Sessions(client)
    io_loop.run_sync(client.aclose)


@pytest.mark.gen_test
async def test_rotate_gives_a_new_id_and_keeps_the_data(sessions, redis_sync):
    old_id, old = await sessions.create()
    redis_sync.hset(f"session:{old_id}", "theme", "dark")
    new_id, new = await sessions.rotate(old_id, user="alice")
    assert new_id != old_id
    assert new["player"] == old["player"] and new["theme"] == "dark" and new["user"] == "alice"
    assert await sessions.load(old_id) is None
    assert (await sessions.load(new_id))["user"] == "alice"
    assert 0 < redis_sync.ttl(f"session:{new_id}") <= SESSION_TTL_S


@pytest.mark.gen_test
async def test_end_removes_the_session(sessions):
    session_id, _ = await sessions.create()
    await sessions.end(session_id)
    assert await sessions.load(session_id) is None


@pytest.mark.gen_test
async def test_a_guest_session_lives_hours_and_a_signed_in_one_a_month(sessions, redis_sync):
    assert GUEST_SESSION_TTL_S <= 24 * 3600 < SESSION_TTL_S
    guest_id, _ = await sessions.create()
    assert GUEST_SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{guest_id}") <= GUEST_SESSION_TTL_S
    redis_sync.expire(f"session:{guest_id}", 60)
    await sessions.load(guest_id)  # a visit renews it, to a guest's lifetime
    assert GUEST_SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{guest_id}") <= GUEST_SESSION_TTL_S
    signed_in, _ = await sessions.rotate(guest_id, user="alice")
    assert SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{signed_in}") <= SESSION_TTL_S
    redis_sync.expire(f"session:{signed_in}", 60)
    assert (await sessions.load(signed_in))["user"] == "alice"
    assert SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{signed_in}") <= SESSION_TTL_S
