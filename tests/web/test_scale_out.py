"""Two server processes on one redis-server behave as one server."""
import asyncio
import json
import re
import time

import pytest
import tornado.httpclient

from tests.helpers import ServerProcess, Visitor, next_frame, send_message


@pytest.fixture
def two_servers(tmp_path, redis_url, redis_sync):
    data_dir = tmp_path / "data"
    servers = [ServerProcess(data_dir, "--redis-url", redis_url).start() for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


async def online_count(visitor) -> int:
    page = (await visitor.get("/")).body.decode()
    return int(re.search(r'id="online-count".*?<span class="count">(\d+)</span>', page, re.S).group(1))


async def eventually(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


@pytest.mark.gen_test(timeout=120)
async def test_a_message_sent_on_one_process_reaches_every_kind_of_tab_on_the_other(two_servers, redis_sync):
    a, b = two_servers
    http = tornado.httpclient.AsyncHTTPClient()
    alice, bob = Visitor(http, a.url), Visitor(http, b.url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")
    alice_ws = await alice.live()
    bob_ws = await bob.live()
    bob_stream = await bob.events()
    cursor = json.loads((await bob.get("/poll?timeout=0")).body)["cursor"]
    bob_poll = asyncio.ensure_future(bob.get(f"/poll?after={cursor}&timeout=20"))

    # Presence and the online count are the same on both processes.
    async def both_see_two():
        return await online_count(alice) == 2 and await online_count(bob) == 2
    await eventually(both_see_two)
    # One subscription per process, however many sockets it holds.
    assert len(redis_sync.client_list(_type="pubsub")) == 2

    response = await send_message(alice, "bob", "across processes")
    assert response.code == 303
    frame = await next_frame(bob_ws, 10)
    assert "across processes" in frame["content"] and frame["kind"] == "message"
    event = await bob_stream.next_event(10)
    assert "across processes" in event["data"] and event["id"] == frame["id"]
    polled = json.loads((await asyncio.wait_for(bob_poll, 10)).body)
    assert [e["id"] for e in polled["events"]] == [frame["id"]]
    mine = await next_frame(alice_ws, 10)  # the sender's own tab on A gets it too, with her side of the list
    assert "across processes" in mine["content"] and 'id="conversation-bob"' in mine["content"]

    # A killed process's users go offline everywhere within a minute.
    b.kill()
    started = time.monotonic()

    async def only_alice():
        return await online_count(alice) == 1
    await eventually(only_alice, 60)
    assert time.monotonic() - started < 60
    alice_ws.close()
    bob_stream.close()


@pytest.mark.gen_test(timeout=60)
async def test_sigterm_closes_sockets_with_1012_and_ends_event_streams(tmp_path, redis_url, redis_sync):
    server = ServerProcess(tmp_path / "data", "--redis-url", redis_url).start()
    try:
        http = tornado.httpclient.AsyncHTTPClient()
        alice = Visitor(http, server.url)
        await alice.sign_up("alice")
        ws = await alice.live()
        stream = await alice.events()
        await asyncio.sleep(0.3)
        server.process.terminate()
        # A state push (the online count) may still arrive first on a busy machine; then the close.
        while (frame := await ws.read_message()) is not None:
            assert "online-count" in frame, frame
        assert ws.close_code == 1012
        body = await asyncio.wait_for(stream.body(), 10)  # it ends: the client resumes elsewhere
        assert body.startswith("retry: 2000\n\n") and "\nid:" not in body
        assert await asyncio.get_running_loop().run_in_executor(None, server.process.wait, 30) == 0
    finally:
        server.stop()
