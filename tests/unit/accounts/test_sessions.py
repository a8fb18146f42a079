"""parlor/accounts/sessions.py against a real Redis."""
import time

import pytest
import redis.asyncio as aioredis

from parlor.accounts.sessions import (
    GUEST_SESSION_TTL_S,
    RENEW_AFTER_S,
    SESSION_TTL_S,
    SIGN_OUT_CHANNEL,
    Sessions,
    sign_out_notice,
)


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


class SignOuts:
    """Every notice on the sign-out channel, as another process hears them."""

    def __init__(self, redis_url):
        self.client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.pubsub = self.client.pubsub()

    async def start(self) -> "SignOuts":
        await self.pubsub.subscribe(SIGN_OUT_CHANNEL)
        await self.pubsub.get_message(timeout=1)  # the confirmation
        return self

    async def heard(self) -> list[str]:
        notices = []
        while (message := await self.pubsub.get_message(timeout=0.2)) is not None:
            if message["type"] == "message":
                notices.append(message["data"])
        return notices

    async def stop(self) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()


@pytest.mark.gen_test
async def test_every_way_a_session_ends_publishes_its_sign_out(sessions, redis_url, redis_sync):
    """Logout, a login replacing the session, the end of all of a user's sessions, and expiry
    found when the user signs in again: each notice names exactly the sessions that ended."""
    heard = await SignOuts(redis_url).start()
    try:
        guest_id, _ = await sessions.create()
        signed_in_id, _ = await sessions.rotate(guest_id, user="alice")  # login: the guest session ends
        assert await heard.heard() == [f"\nsession:{guest_id}"]
        await sessions.end(signed_in_id)  # logout
        assert await heard.heard() == [f"alice\nsession:{signed_in_id}"]

        kept, _ = await sessions.create(user="alice")
        others = sorted([(await sessions.create(user="alice"))[0] for _ in range(2)])
        assert sorted(await sessions.end_all("alice", keep=kept)) == others  # a password change
        (notice,) = await heard.heard()
        user, keys = notice.split("\n")
        assert user == "alice" and sorted(keys.split(",")) == [f"session:{i}" for i in others]
        assert await sessions.end_all("alice", keep=kept) == [] and await heard.heard() == []  # nothing more ended

        redis_sync.delete(f"session:{kept}")  # it expired
        await sessions.create(user="alice")  # the next sign-in finds it gone
        assert await heard.heard() == [f"alice\nsession:{kept}"]
        assert sign_out_notice("bob", None) == "bob\n*" and sign_out_notice(None, ["session:x"]) == "\nsession:x"
    finally:
        await heard.stop()
@pytest.mark.gen_test
async def test_a_guest_session_lives_hours_and_a_signed_in_one_a_month(sessions, redis_sync):
    assert GUEST_SESSION_TTL_S <= 24 * 3600 < SESSION_TTL_S
    guest_id, guest = await sessions.create()
    assert GUEST_SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{guest_id}") <= GUEST_SESSION_TTL_S
    redis_sync.expire(f"session:{guest_id}", 60)
    await sessions.renewed(guest_id, guest)  # a visit renews it, to a guest's lifetime
    assert GUEST_SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{guest_id}") <= GUEST_SESSION_TTL_S
    signed_in, data = await sessions.rotate(guest_id, user="alice")
    assert SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{signed_in}") <= SESSION_TTL_S
    redis_sync.expire(f"session:{signed_in}", 60)
    await sessions.renewed(signed_in, data)
    assert SESSION_TTL_S - 5 < redis_sync.ttl(f"session:{signed_in}") <= SESSION_TTL_S


@pytest.mark.gen_test
async def test_loading_a_session_writes_nothing_and_a_visit_renews_it_once_an_hour(sessions, redis_sync):
    """A request must not cost a Redis write (with appendfsync always, an fsync): the lifetime is
    extended only when the last renewal is RENEW_AFTER_S old."""
    session_id, _ = await sessions.create(user="alice")
    redis_sync.expire(f"session:{session_id}", 600)
    data = await sessions.load(session_id)
    assert not Sessions.needs_renewal(data) and redis_sync.ttl(f"session:{session_id}") <= 600
    redis_sync.hset(f"session:{session_id}", "renewed_at", str(int(time.time()) - RENEW_AFTER_S - 1))
    sessions.forget()  # as another process would see it
    data = await sessions.load(session_id)
    assert Sessions.needs_renewal(data)
    await sessions.renewed(session_id, data)
    assert redis_sync.ttl(f"session:{session_id}") > SESSION_TTL_S - 5
    assert not Sessions.needs_renewal(await sessions.load(session_id))


@pytest.mark.gen_test
async def test_a_process_remembers_a_session_until_its_sign_out_is_heard(sessions, redis_sync):
    session_id, _ = await sessions.create(user="alice")
    other_id, _ = await sessions.create(user="bob")
    assert (await sessions.load(session_id))["user"] == "alice"
    redis_sync.delete(f"session:{session_id}")  # ended elsewhere; the notice has not come yet
    assert (await sessions.load(session_id))["user"] == "alice"  # remembered (at most SESSION_CACHE_S)
    sessions.on_sign_out(f"alice\nsession:{session_id},api-token:xyz")
    assert await sessions.load(session_id) is None
    assert (await sessions.load(other_id))["user"] == "bob"
    redis_sync.delete(f"session:{other_id}")
    sessions.on_sign_out("bob\n*")  # bob's account is gone: every session of his
    assert await sessions.load(other_id) is None
