"""parlor/live/hub.py and parlor/live/presence.py: event streams and resume, rooms and topics, presence
shared by processes, and the pub/sub listener's trust. Real Redis throughout."""
import asyncio
import json
import time

import pytest

from parlor.live.events import TALLY_MARK, Event, EventLog, Reload, stream_key
from parlor.live.hub import Hub
from parlor.live.listener import Listener
from parlor.live.presence import ONLINE_KEY, Presence, conns_key, presence_key
from parlor.web.handlers.wire import sse_text, ws_text
from tests.helpers import until


class FakeSocket:
    """Stands in for a connection: records what it was sent (no network needed for the hub's logic)."""

    def __init__(self):
        self.sent, self.closed = [], None

    def send(self, push):
        self.sent.append(push)

    def close(self, code=None, reason=None):
        self.closed = code

    def texts(self):
        return [p.html for p in self.sent]

    def event_ids(self):
        return [p.id for p in self.sent if isinstance(p, Event)]


class Views:
    def online_count(self, count):
        return f"<p>{count}</p>"

    def presence(self, user, online):
        return f"<i>{user} {'on' if online else 'off'}</i>"

    def typing(self, who, to):
        return f"<b>{who}</b>"


def make_hub(client, events=None, peers=None, max_connections=20):
    async def peers_of(user, limit):
        return (peers or {}).get(user, [])

    return Hub(client, events or EventLog(client), Presence(client, max_connections), Views(), peers_of)


@pytest.mark.gen_test
async def test_rooms_topics_and_presence(client, redis_sync):
    hub = make_hub(client)
    guest, alice_1, alice_2 = FakeSocket(), FakeSocket(), FakeSocket()
    await hub.join(guest, None, ("board:10",))
    await hub.join(alice_1, "alice")
    await hub.join(alice_2, "alice", ("board:25",))
    assert await hub.online(["alice", "bob"]) == {"alice"}
    await hub.tick()
    assert guest.texts() == ["<p>1</p>"]  # the count changed: pushed to every page
    await hub.tick()
    assert guest.texts() == ["<p>1</p>"]  # unchanged: nothing pushed
    guest.sent.clear()
    assert hub.send_to_user("alice", "mine") == 2 and guest.sent == []
    assert hub.send_topic("board:10", "b10") == 1 and guest.texts() == ["b10"]
    assert alice_1.texts()[-1] == "mine"
    await hub.leave(alice_1)
    assert await hub.online(["alice"]) == {"alice"}  # one tab is still open
    await hub.leave(alice_2)
    assert await hub.online(["alice"]) == set() and redis_sync.zscore(ONLINE_KEY, "alice") is None
    assert not hub.has_topic("board:25")
    await hub.tick()
    assert guest.texts() == ["b10", "<p>0</p>"]
    hub.close_all(1012, "restart")
    assert guest.closed == 1012


@pytest.mark.gen_test
async def test_events_resume_after_a_cursor_in_order_and_once(client, redis_sync):
    log = EventLog(client)
    ids = [await log.append("alice", "message", f"<p>{n}</p>", {"n": n}) for n in range(5)]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert await log.cursor("alice") == ids[-1] and await log.cursor("nobody") == "0-0"
    backlog = await log.read("alice", ids[1], 100)
    assert not backlog.reload and [e.id for e in backlog.events] == ids[2:]
    assert [e.as_json()["data"]["n"] for e in backlog.events] == [2, 3, 4]
    assert (await log.read("alice", "0", 100)).events[0].id == ids[0]  # from the start
    assert (await log.read("alice", ids[-1], 100)).events == []
    # A cursor this Redis never gave (its data was lost, or someone made it up) is a reload.
    assert (await log.read("alice", "99999999999999-0", 100)).reload
    assert (await log.read("nobody", "1-0", 100)).reload
    assert not (await log.read("nobody", "0-0", 100)).reload


@pytest.mark.gen_test
async def test_a_cursor_older_than_the_stream_keeps_is_a_reload(client, redis_sync):
    log = EventLog(client, max_events=3)
    ids = [await log.append("alice", "message", f"<p>{n}</p>", {}) for n in range(5)]
    assert redis_sync.xlen(stream_key("alice")) == 3
    assert (await log.read("alice", ids[0], 100)).reload  # ids[1] is gone
    backlog = await log.read("alice", ids[1], 100)  # ids[2:] are all kept: no gap
    assert not backlog.reload and [e.id for e in backlog.events] == ids[2:]
    # By age: events older than max_age go at the next append.
    aged = EventLog(client, max_age_s=1)
    old = await aged.append("bob", "message", "<p>old</p>", {})
    await asyncio.sleep(1.1)
    new = await aged.append("bob", "message", "<p>new</p>", {})
    assert (await aged.read("bob", "0-0", 10)).reload
    assert [e.id for e in (await aged.read("bob", old, 10)).events] == [new]
    # A stream that stays busy sheds its old events too.
    first = await aged.append("carol", "message", "<p>1</p>", {})
    await asyncio.sleep(0.6)
    middle = await aged.append("carol", "message", "<p>2</p>", {})
    await asyncio.sleep(0.6)
    last = await aged.append("carol", "message", "<p>3</p>", {})
    assert redis_sync.xlen(stream_key("carol")) == 2
    assert (await aged.read("carol", "0-0", 10)).reload
    assert [e.id for e in (await aged.read("carol", first, 10)).events] == [middle, last]


@pytest.mark.gen_test
async def test_a_joining_connection_gets_backlog_then_live_events_exactly_once(client, redis_sync):
    log = EventLog(client)
    hub = make_hub(client, events=log)
    listener = Listener(client, {hub.events_channel: hub.on_events}, on_resubscribe=hub.resync)
    listener.start()
    await until(lambda: listener.subscribed)
    first = [await log.append("alice", "message", f"<p>{n}</p>", {}) for n in range(3)]
    tab, other_tab = FakeSocket(), FakeSocket()
    await hub.join(other_tab, "alice")  # from now: none of the three
    # Events appended while the tab catches up must neither be lost nor come twice.
    racing = asyncio.ensure_future(asyncio.gather(
        *[log.append("alice", "message", f"<p>r{n}</p>", {}) for n in range(20)]))
    await hub.join(tab, "alice", after=first[0])
    racing_ids = await racing
    everything = first[1:] + sorted(racing_ids, key=lambda i: tuple(map(int, i.split("-"))))
    await until(lambda: len(tab.event_ids()) >= len(everything))
    await asyncio.sleep(0.2)  # nothing more may come
    assert tab.event_ids() == everything
    await until(lambda: len(other_tab.event_ids()) >= 20)
    assert other_tab.event_ids() == everything[2:]  # the same events: delivery takes nothing away
    await hub.leave(tab)
    await hub.leave(other_tab)
    await listener.stop()


async def notices_seen(pubsub, wait: float = 0.3) -> list[dict]:
    """Every event notice a pattern subscription saw within `wait` seconds."""
    seen, deadline = [], time.monotonic() + wait
    while time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=0.05)
        if message and message["type"] == "pmessage":
            seen.append(message)
    return seen


@pytest.mark.gen_test
async def test_the_publishing_process_hands_its_own_connections_their_events_at_once(client, redis_sync):
    hub = make_hub(client)
    tab = FakeSocket()
    await hub.join(tab, "alice")
    watch = client.pubsub()
    await watch.psubscribe("parlor:events:*")
    [event_id] = await hub.publish([("alice", "message", "<p>1</p>", {"n": 1})])
    assert tab.event_ids() == [event_id]  # no listener runs here: it came straight from the append
    assert await notices_seen(watch) == []  # nobody else holds alice: no notice at all
    await watch.aclose()


@pytest.mark.gen_test
async def test_another_process_gets_one_notice_per_publication_with_its_users_events(client, redis_sync):
    one, two = make_hub(client), make_hub(client)
    listener = Listener(client, {two.events_channel: two.on_events}, on_resubscribe=two.resync)
    listener.start()
    await until(lambda: listener.subscribed)
    watch = client.pubsub()
    await watch.psubscribe("parlor:events:*")
    alice_here, alice_there, bob_there = FakeSocket(), FakeSocket(), FakeSocket()
    await one.join(alice_here, "alice")
    await two.join(alice_there, "alice")
    await two.join(bob_there, "bob")
    ids = await one.publish([("alice", "message", "<p>a</p>", {}), ("bob", "message", "<p>b</p>", {})])
    assert alice_here.event_ids() == ids[:1]
    await until(lambda: alice_there.event_ids() == ids[:1] and bob_there.event_ids() == ids[1:])
    notices = await notices_seen(watch)
    assert [n["channel"] for n in notices] == [two.events_channel]  # one, to the one process that needs it
    assert [event[0] for event in json.loads(notices[0]["data"])] == ids
    await listener.stop()
    await watch.aclose()


ALICE_TALLY = ("unread:alice", "muted:alice")  # her counted hash, and the fields left out of its total


@pytest.mark.gen_test
async def test_counts_are_set_with_their_events_and_a_tally_shows_each_users_total(client, redis_sync):
    one, two = make_hub(client), make_hub(client)
    listener = Listener(client, {two.events_channel: two.on_events}, on_resubscribe=two.resync)
    listener.start()
    await until(lambda: listener.subscribed)
    alice_here, alice_there, bob_here = FakeSocket(), FakeSocket(), FakeSocket()
    await one.join(alice_here, "alice")
    await two.join(alice_there, "alice")
    await one.join(bob_here, "bob")
    redis_sync.hset("unread:alice", "carol", 2)
    badge = f'<b data-count="{TALLY_MARK}">{TALLY_MARK}</b>'
    ids = await one.publish([("alice", "message", "<p>from bob</p>" + badge, {}), ("bob", "message", "<p>mine</p>", {})],
                            counts=[("unread:alice", "bob", 3), ("unread:bob", "alice", 0)],
                            tallies={"alice": ALICE_TALLY}, guard=("published:alice_bob", 1))
    assert redis_sync.hgetall("unread:alice") == {"carol": "2", "bob": "3"}
    assert alice_here.texts() == ['<p>from bob</p><b data-count="5">5</b>']  # this process, at once
    await until(lambda: alice_there.texts() == alice_here.texts())  # another process, by its notice
    assert bob_here.texts() == ["<p>mine</p>"]  # no tally: as it was given
    stored = redis_sync.xrange(stream_key("alice"), ids[0], ids[0])[0][1]["h"]
    assert stored == alice_here.texts()[0]  # a page resuming later reads the same total
    await one.publish([("alice", "read", badge, {})], counts=[("unread:alice", "bob", 0)], tallies={"alice": ALICE_TALLY})
    assert redis_sync.hgetall("unread:alice") == {"carol": "2"} and alice_here.texts()[-1] == '<b data-count="2">2</b>'
    # A guard that skips a publication skips its counts too.
    assert await one.publish([("alice", "message", badge, {})], counts=[("unread:alice", "bob", 9)],
                             tallies={"alice": ALICE_TALLY}, guard=("published:alice_bob", 1)) == []
    assert redis_sync.hgetall("unread:alice") == {"carol": "2"}
    # Publications made at once go in one call, each with its own keys and arguments.
    await asyncio.gather(*(one.publish([("alice", "message", badge, {}), ("bob", "message", badge, {})],
                                       counts=[("unread:alice", f"p{n}", n), ("unread:bob", f"p{n}", 10 * n)],
                                       tallies={"alice": ALICE_TALLY, "bob": ("unread:bob", "muted:bob")}, listed=[("list", f"p{n}", n)])
                           for n in (1, 2, 3)))
    assert redis_sync.hgetall("unread:bob") == {"p1": "10", "p2": "20", "p3": "30"}
    assert alice_here.texts()[-1] == '<b data-count="8">8</b>' and bob_here.texts()[-1] == '<b data-count="60">60</b>'
    assert redis_sync.zrange("list", 0, -1) == ["p1", "p2", "p3"]
    # The exclusions' fields are left out of the total while their time (ms) is ahead, not after.
    redis_sync.zadd("muted:alice", {"carol": time.time() * 1000 + 60_000, "p3": time.time() * 1000 - 1})
    await one.publish([("alice", "muted", badge, {})], tallies={"alice": ALICE_TALLY})
    assert alice_here.texts()[-1] == '<b data-count="6">6</b>'  # 8 but carol's 2
    await listener.stop()


@pytest.mark.gen_test
async def test_an_event_whose_predecessor_was_missed_makes_the_connection_read_the_stream(client, redis_sync):
    log = EventLog(client)
    hub = make_hub(client, events=log)
    tab = FakeSocket()
    await hub.join(tab, "alice")
    missed = await log.append("alice", "message", "<p>1</p>", {})  # its notice reaches no listener here
    [latest] = await hub.publish([("alice", "message", "<p>2</p>", {})])
    await until(lambda: len(tab.event_ids()) == 2)
    assert tab.event_ids() == [missed, latest]  # both, in order, once
    await asyncio.sleep(0.1)
    assert len(tab.event_ids()) == 2


@pytest.mark.gen_test
async def test_a_process_whose_claim_lapsed_catches_its_users_up_when_it_renews(client, redis_sync):
    log = EventLog(client)
    hub = make_hub(client, events=log)
    tab = FakeSocket()
    await hub.join(tab, "alice")
    # A stall longer than the claim's lifetime: other processes stop telling this one about alice.
    redis_sync.zadd(presence_key("alice"), {hub.presence.process: int(time.time() * 1000) - 1})
    watch = client.pubsub()
    await watch.psubscribe("parlor:events:*")
    missed = await log.append("alice", "message", "<p>while away</p>", {})
    assert await notices_seen(watch) == []
    await hub.tick()  # renews the claim, and sees that it had lapsed
    await until(lambda: tab.event_ids() == [missed])
    await watch.aclose()


@pytest.mark.gen_test
async def test_a_too_old_cursor_sends_a_reload_then_goes_live(client, redis_sync):
    log = EventLog(client, max_events=2)
    hub = make_hub(client, events=log)
    ids = [await log.append("alice", "message", f"<p>{n}</p>", {}) for n in range(4)]
    tab = FakeSocket()
    await hub.join(tab, "alice", after=ids[0])
    assert len(tab.sent) == 1 and isinstance(tab.sent[0], Reload) and tab.sent[0].cursor == ids[-1]
    assert '"reload": true' in ws_text(tab.sent[0]) and "event: parlor-reload" in sse_text(tab.sent[0])
    await hub.leave(tab)


@pytest.mark.gen_test
async def test_presence_is_shared_by_processes_and_lapses_with_a_dead_one(client, redis_sync):
    peers = {"alice": ["bob"]}
    one, two = make_hub(client, peers=peers), make_hub(client, peers=peers)
    a_on_one, a_on_two, bob = FakeSocket(), FakeSocket(), FakeSocket()
    await one.join(a_on_one, "alice")
    await two.join(a_on_two, "alice")
    await two.join(bob, "bob")
    await one.leave(a_on_one)
    assert await two.online(["alice"]) == {"alice"}  # still connected on the other process
    # The other process dies without a word: its claim lapses, and a sweep takes alice offline.
    redis_sync.zadd(presence_key("alice"), {two.presence.process: int(time.time() * 1000) - 1})
    redis_sync.zadd(ONLINE_KEY, {"alice": int(time.time() * 1000) - 1})
    notices = client.pubsub()
    await notices.subscribe("parlor:presence")
    await one.tick()
    assert await one.online(["alice"]) == set()
    messages = []
    for _ in range(20):
        message = await notices.get_message(timeout=0.1)
        if message and message["type"] == "message":
            messages.append(message["data"])
    assert "alice\n0" in messages
    await two.on_presence("alice\n0")  # bob, a peer of alice, is shown it
    assert bob.texts()[-1] == "<i>alice off</i>"
    await notices.aclose()


@pytest.mark.gen_test
async def test_the_connection_limit_counts_every_process(client, redis_sync):
    one, two = make_hub(client, max_connections=3), make_hub(client, max_connections=3)
    tabs = [FakeSocket() for _ in range(4)]
    assert await one.join(tabs[0], "alice") and await one.join(tabs[1], "alice")
    assert await two.join(tabs[2], "alice")
    assert not await two.join(tabs[3], "alice")  # the fourth, on either process
    assert not await one.join(tabs[3], "alice")
    await one.leave(tabs[0])
    assert await two.join(tabs[3], "alice")  # room again
    assert await one.join(FakeSocket(), "bob")  # others are not affected


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


@pytest.mark.gen_test
async def test_a_cursor_whose_event_redis_lost_is_a_reload(client, redis_sync):
    log = EventLog(client)
    ids = [await log.append("alice", "message", f"<p>{n}</p>", {}) for n in range(3)]
    # Redis restarts from a snapshot taken after the first event: the other two are gone.
    redis_sync.xdel(stream_key("alice"), ids[1], ids[2])
    redis_sync.hset("events:alice:meta", "last", ids[0])
    newer = await log.append("alice", "message", "<p>after the restart</p>", {})
    assert (await log.read("alice", ids[2], 10)).reload  # it held ids[2]: it may have missed more
    assert [e.id for e in (await log.read("alice", ids[0], 10)).events] == [newer]


@pytest.mark.gen_test
async def test_leave_all_takes_every_local_connection_off_in_batches(client, redis_sync, monkeypatch):
    monkeypatch.setattr("parlor.live.presence.LEAVE_CHUNK", 3)  # several pipelines for 8 users
    one, two = make_hub(client), make_hub(client)
    names = [f"user-{i}" for i in range(8)]
    for name in names:
        await one.join(FakeSocket(), name)
        await one.join(FakeSocket(), name, ("board:10",))  # two tabs each
    await two.join(FakeSocket(), "user-0")  # also connected on another process
    await one.leave_all()
    assert one.connection_count() == 0 and not one.has_topic("board:10") and not one.has_user("user-1")
    assert await two.online(names) == {"user-0"}
    assert {m for m, _ in redis_sync.zrange(ONLINE_KEY, 0, -1, withscores=True)} == {"user-0"}
    assert redis_sync.hget(conns_key("user-0"), one.presence.process) is None
    assert redis_sync.hget(conns_key("user-0"), two.presence.process) == "1"


@pytest.mark.gen_test
async def test_a_sign_out_closes_exactly_the_connections_of_what_ended(client, redis_sync):
    hub = make_hub(client)
    phone, laptop, script, guest, bob = (FakeSocket() for _ in range(5))
    await hub.join(phone, "alice", credential="session:phone")
    await hub.join(laptop, "alice", credential="session:laptop")
    await hub.join(script, "alice", credential="api-token:abc")
    await hub.join(guest, None, ("board:10",), credential="session:guest")  # a guest sees only what anyone may
    await hub.join(bob, "bob", credential="session:bob")
    await hub.on_sign_out("alice\nsession:phone")
    assert (phone.closed, laptop.closed, script.closed) == (1008, None, None)
    await hub.on_sign_out("\nsession:guest,session:nobody")
    assert guest.closed is None  # nothing private reaches it: a guest's session ending closes nothing
    await hub.on_sign_out("alice\napi-token:abc")
    assert (laptop.closed, script.closed) == (None, 1008)
    await hub.leave(phone)
    await hub.on_sign_out("alice\n*")  # the account is gone: every connection of alice's
    assert laptop.closed == 1008 and bob.closed is None


@pytest.mark.gen_test
async def test_connections_whose_session_expired_are_closed_and_every_process_told(client, redis_sync):
    one, two = make_hub(client), make_hub(client)
    redis_sync.hset("session:stays", "user", "alice")
    redis_sync.hset("session:expires", "user", "alice")
    redis_sync.set("api-token:revoked", "bob")  # its notice was missed while Redis was away
    stays, expires, also_expires, token = (FakeSocket() for _ in range(4))
    await one.join(stays, "alice", credential="session:stays")
    await one.join(expires, "alice", credential="session:expires")
    await one.join(also_expires, "alice", ("board:10",), credential="session:expires")
    await one.join(token, "bob", credential="api-token:revoked")
    elsewhere = FakeSocket()
    await two.join(elsewhere, "alice", credential="session:expires")
    assert await one.check_sessions() == 0
    redis_sync.pexpire("session:expires", 1)
    redis_sync.delete("api-token:revoked")
    await asyncio.sleep(0.05)
    pubsub = client.pubsub()
    await pubsub.subscribe("parlor:sign-out")
    await pubsub.get_message(timeout=1)
    assert await one.check_sessions() == 2
    assert (stays.closed, expires.closed, also_expires.closed, token.closed) == (None, 1008, 1008, 1008)
    notices = set()
    while (message := await pubsub.get_message(timeout=0.5)) is not None:
        notices.add(message["data"])
    assert notices == {"alice\nsession:expires", "bob\napi-token:revoked"}
    await two.on_sign_out("alice\nsession:expires")  # what the other process does with the notice
    assert elsewhere.closed == 1008
    await pubsub.aclose()


@pytest.mark.gen_test
async def test_the_tick_checks_sessions_every_few_seconds(client, redis_sync):
    hub = make_hub(client)
    hub.session_check_every_s = 1.0
    socket = FakeSocket()
    redis_sync.hset("session:s", "user", "alice")
    await hub.join(socket, "alice", credential="session:s")
    redis_sync.delete("session:s")
    await hub.tick()
    assert socket.closed is None  # checked at most every session_check_every_s
    await asyncio.sleep(1.05)
    await hub.tick()
    assert socket.closed == 1008
