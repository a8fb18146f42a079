"""parlor/hub.py: rooms and topics, presence in Redis, and the pub/sub listener's trust."""
import asyncio

import pytest
import redis.asyncio as aioredis

from parlor.hub import ONLINE_KEY, Hub, Listener


class FakeSocket:
    """Stands in for a WebSocket: records what it was sent (no network needed for the hub's logic)."""

    def __init__(self):
        self.sent, self.closed = [], None

    def send(self, text):
        self.sent.append(text)

    def close(self, code=None, reason=None):
        self.closed = code


@pytest.fixture
def client(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    io_loop.run_sync(client.aclose)


async def until(predicate, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.mark.gen_test
async def test_rooms_topics_and_presence(client, redis_sync):
    hub = Hub(client, render_online=lambda n: f"<p>{n}</p>")
    guest, alice_1, alice_2 = FakeSocket(), FakeSocket(), FakeSocket()
    await hub.join(guest, None, ("board:10",))
    await hub.join(alice_1, "alice")
    await hub.join(alice_2, "alice", ("board:25",))
    assert await hub.online(["alice", "bob"]) == {"alice"}
    await hub.tick()
    assert guest.sent == ["<p>1</p>"]  # the count changed: pushed to every page
    await hub.tick()
    assert guest.sent == ["<p>1</p>"]  # unchanged: nothing pushed
    guest.sent.clear()
    assert hub.send_to_user("alice", "mine") == 2 and guest.sent == []
    assert hub.send_topic("board:10", "b10") == 1 and guest.sent == ["b10"] and alice_1.sent[-1] == "mine"
    await hub.leave(alice_1)
    assert await hub.online(["alice"]) == {"alice"}  # one tab is still open
    await hub.leave(alice_2)
    assert await hub.online(["alice"]) == set() and redis_sync.zscore(ONLINE_KEY, "alice") is None
    assert not hub.has_topic("board:25")
    await hub.tick()
    assert guest.sent == ["b10", "<p>0</p>"]
    hub.close_all(1012, "restart")
    assert guest.closed == 1012


@pytest.mark.gen_test(timeout=30)
async def test_the_listener_trusts_notices_only_while_subscribed(client, redis_sync):
    notices, resubscribes = [], []

    async def handler(data):
        notices.append(data)

    listener = Listener(client, {"test:channel": handler}, on_resubscribe=lambda: resubscribes.append(1))
    assert not listener.subscribed
    listener.start()
    await until(lambda: listener.subscribed)
    assert resubscribes == [1]
    redis_sync.publish("test:channel", "one")
    await until(lambda: notices == ["one"])
    # Redis drops the subscriber: the listener must notice, distrust, subscribe again, forget.
    redis_sync.client_kill_filter(_type="pubsub")
    await until(lambda: len(resubscribes) == 2)
    assert listener.subscribed
    redis_sync.publish("test:channel", "two")
    await until(lambda: notices == ["one", "two"])
    await listener.stop()
    assert not listener.subscribed


@pytest.mark.gen_test(timeout=30)
async def test_board_views_cache_nothing_without_a_live_subscription(client, redis_sync):
    from handlers.scores import BoardViews
    from parlor.scores import Leaderboards
    from server import ROOT
    import jinja2

    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True)
    views = BoardViews(Leaderboards(client, (10,)), templates, Hub(client, lambda n: ""))
    listener = Listener(client, {}, on_resubscribe=views.forget)
    views.listener = listener
    await views.view(10)
    assert views.cached(10) is None  # not subscribed: every read goes to Redis
    listener.subscribed = True
    await views.view(10)
    assert views.cached(10) is not None
    views.forget(10)
    assert views.cached(10) is None
