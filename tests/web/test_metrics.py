"""/metrics: Prometheus text that parses, counters that move with the work, and only for the operator."""
import asyncio
import dataclasses

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
from prometheus_client.parser import text_string_to_metric_families

from parlor.web.server import make_app
from tests.helpers import Visitor, next_frame, play_to_win, send_message, signed_up, start_game, until


async def scrape(http_client, base_url: str, headers=None) -> dict:
    """Every sample of /metrics as {(name, sorted labels): value}, parsed by prometheus_client."""
    response = await http_client.fetch(base_url + "/metrics", headers=headers, raise_error=False)
    assert response.code == 200, response.body
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.gen_test(timeout=30)
async def test_counters_move_with_requests_games_messages_and_sockets(http_server, http_client, base_url, app):
    before = await scrape(http_client, base_url)
    assert sample(before, "parlor_info", version=app.version) == 1
    assert sample(before, "process_open_fds") > 0  # the process collector is there

    guest = Visitor(http_client, base_url)
    guesses = await play_to_win(guest, await start_game(guest, 10), 10)
    alice, bob = await signed_up(http_client, base_url, "alice", "bob")  # two SignupHandler requests
    ws = await alice.live()
    sse = await alice.events()
    poll = asyncio.ensure_future(alice.get("/poll?timeout=10"))
    await until(lambda: app.hub.connection_count() == 3)
    await until(lambda: app.hub.online_count == 1)  # counted by the once-a-second tick
    now = await scrape(http_client, base_url)
    assert sample(now, "parlor_games_finished_total", board="10", result="won") == 1
    assert sample(now, "parlor_http_requests_total", route="GuessHandler", method="POST", status="200") == guesses
    assert sample(now, "parlor_http_request_duration_seconds_count", route="GuessHandler") == guesses
    assert sample(now, "parlor_http_requests_total", route="SignupHandler", method="POST", status="303") == 2
    for transport in ("ws", "sse", "poll"):
        assert sample(now, "parlor_connections_open", transport=transport) == 1
    assert sample(now, "parlor_users_connected") == 1 and sample(now, "parlor_users_online") == 1

    response = await send_message(bob, "alice", "counted once")
    assert response.code == 303
    assert (await next_frame(ws))["kind"] == "message"
    assert (await sse.next_event())["id"]
    assert (await poll).code == 200
    after = await scrape(http_client, base_url)
    assert sample(after, "parlor_messages_stored_total", kind="text") == 1
    # One event for alice reached her three connections: one delivery observed, not three.
    # (bob's own copy went nowhere: he has no connection here.)
    delivered = sample(after, "parlor_event_delivery_seconds_count") - sample(now, "parlor_event_delivery_seconds_count")
    assert delivered == 1
    assert sample(after, "parlor_event_delivery_seconds_bucket", le="+Inf") == sample(
        after, "parlor_event_delivery_seconds_count")
    assert sample(after, "parlor_event_delivery_seconds_sum") < 5
    assert sample(after, "parlor_connections_open", transport="poll") == 0  # answered: gone
    ws.close()
    sse.close()


@pytest.mark.gen_test(timeout=20)
async def test_redis_errors_are_counted_once_per_failed_call_and_metrics_still_answer(config, http_client):
    dead = make_app(dataclasses.replace(config, redis_url="unix:///nonexistent-parlor-dir/redis.sock"))
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(dead)
    server.add_sockets([sock])
    url = f"http://127.0.0.1:{port}"
    try:
        assert (await http_client.fetch(url + "/healthz", raise_error=False)).code == 503  # one PING
        samples = await scrape(http_client, url)  # no Redis needed
        assert sample(samples, "parlor_redis_errors_total", error="ConnectionError") == 1
        assert sample(samples, "parlor_http_requests_total", route="HealthHandler", method="GET", status="503") == 1
    finally:
        server.stop()
        await dead.stop()


@pytest.mark.parametrize("headers, allow", [
    ({"X-Forwarded-For": "127.0.0.1"}, None),  # came through a proxy: its loopback address proves nothing
    ({"X-Real-IP": "127.0.0.1"}, None),
    ({"Forwarded": "for=127.0.0.1"}, None),
    ({}, ()),  # --metrics-allow= (empty): nobody
    ({}, ("10.0.0.0/8",)),  # not loopback's network
])
@pytest.mark.gen_test
async def test_metrics_refused_unless_from_an_allowed_network(http_server, http_client, base_url, app, headers, allow):
    if allow is not None:
        app.config = dataclasses.replace(app.config, metrics_allow=allow)
    response = await http_client.fetch(base_url + "/metrics", headers=headers, raise_error=False)
    assert response.code == 403
    assert response.body.decode().startswith("/metrics is for the operator")
    assert "parlor_" not in response.body.decode()


@pytest.mark.gen_test
async def test_metrics_allow_opens_it_to_a_network(http_server, http_client, base_url, app):
    app.config = dataclasses.replace(app.config, metrics_allow=("0.0.0.0/0", "::/0"))
    await scrape(http_client, base_url)
