"""Behind a reverse proxy: X-Forwarded-* believed only with --xheaders; Secure cookies under
https; the WebSocket's Origin checked against the host the browser asked the proxy for; access
log lines as JSON with secrets hidden."""
import dataclasses
import json
import logging
from http.cookies import SimpleCookie

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
import tornado.websocket

from parlor.infra.logs import JsonFormatter
from tests.helpers import Visitor

FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


@pytest.fixture
def proxied(app, io_loop):
    """The app as Parlor serves it with --xheaders, reached as a proxy would reach it."""
    app.config = dataclasses.replace(app.config, xheaders=True, access_log=True, log_format="json")
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}"
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.fixture
def access_log(caplog):
    """The access log's records: their JSON fields."""
    caplog.set_level(logging.INFO, logger="tornado.access")
    return lambda: [record.fields for record in caplog.records if record.name == "tornado.access"]


def cookie_flags(response) -> dict[str, bool]:
    """Each cookie the response set: whether it is Secure."""
    flags = {}
    for header in response.headers.get_list("Set-Cookie"):
        for name, morsel in SimpleCookie(header).items():
            flags[name] = bool(morsel["secure"])
    return flags


@pytest.mark.config(access_log=True, log_format="json")
@pytest.mark.gen_test
async def test_forwarded_headers_are_not_believed_without_xheaders(http_server, http_client, base_url, app,
                                                                    access_log):
    visitor = Visitor(http_client, base_url)
    response = await visitor.get("/login", headers=FORWARDED)
    assert cookie_flags(response) == {"_xsrf": False}
    response = await visitor.post("/signup", {"username": "plain", "password": "correct horse"}, headers=FORWARDED)
    assert response.code == 303 and cookie_flags(response)["parlor_session"] is False
    assert {line["remote_ip"] for line in access_log()} == {"127.0.0.1"}


@pytest.mark.gen_test
async def test_with_xheaders_the_proxy_says_who_and_https_makes_cookies_secure(proxied, http_client, access_log):
    visitor = Visitor(http_client, proxied)
    response = await visitor.get("/login", headers=FORWARDED)
    assert cookie_flags(response) == {"_xsrf": True}
    response = await visitor.post("/signup", {"username": "behind", "password": "correct horse"}, headers=FORWARDED)
    assert response.code == 303 and cookie_flags(response)["parlor_session"] is True
    lines = access_log()
    assert [line["remote_ip"] for line in lines] == ["203.0.113.9", "203.0.113.9"]
    assert lines[-1]["user"] == "behind" and lines[-1]["route"] == "SignupHandler"
    # The same proxy on plain http: cookies without Secure (a browser would drop Secure ones).
    response = await Visitor(http_client, proxied).get("/login", headers={"X-Forwarded-Proto": "http"})
    assert cookie_flags(response) == {"_xsrf": False}


@pytest.mark.gen_test
async def test_metrics_behind_a_trusted_proxy_go_by_the_forwarded_address(proxied, http_client):
    refused = await http_client.fetch(proxied + "/metrics", headers={"X-Forwarded-For": "203.0.113.9"},
                                      raise_error=False)
    assert refused.code == 403
    # nginx appends the address it saw; Tornado takes the last one, so a forged first one is ignored.
    forged = await http_client.fetch(proxied + "/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},
                                     raise_error=False)
    assert forged.code == 403
    local = await http_client.fetch(proxied + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert local.code == 200


async def open_live(url: str, headers: dict):
    request = tornado.httpclient.HTTPRequest(url.replace("http://", "ws://") + "/live", headers=headers)
    return await tornado.websocket.websocket_connect(request)


@pytest.mark.parametrize("headers, allowed", [
    ({"Origin": "https://parlor.example", "X-Forwarded-Host": "parlor.example"}, True),
    ({"Origin": "https://parlor.example:8443", "X-Forwarded-Host": "parlor.example:8443"}, True),
    ({"Origin": "https://parlor.example", "Host": "parlor.example"}, True),  # the proxy passes Host on
    ({"Origin": "https://evil.example", "X-Forwarded-Host": "parlor.example"}, False),
    ({"Origin": "https://parlor.example", "X-Forwarded-Host": "parlor.example.evil.example"}, False),
    ({"Origin": "https://parlor.example", "X-Forwarded-Host": "parlor.example:8443"}, False),
])
@pytest.mark.gen_test
async def test_websocket_origin_is_checked_against_the_forwarded_host(proxied, headers, allowed):
    if allowed:
        (await open_live(proxied, headers)).close()
    else:
        with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
            await open_live(proxied, headers)
        assert refused.value.code == 403


@pytest.mark.gen_test
async def test_a_forwarded_host_is_not_believed_without_xheaders(http_server, base_url):
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await open_live(base_url, {"Origin": "https://parlor.example", "X-Forwarded-Host": "parlor.example"})
    assert refused.value.code == 403


@pytest.mark.config(access_log=True, log_format="json")
@pytest.mark.gen_test
async def test_json_access_lines_hide_tokens_and_carry_the_request(http_server, http_client, base_url, app,
                                                                   access_log, caplog):
    response = await http_client.fetch(base_url + "/poll?token=s3cret-token&after=0-0", raise_error=False)
    assert response.code == 401
    line = access_log()[-1]
    assert {k: line[k] for k in ("method", "path", "status", "remote_ip", "user", "route")} == {
        "method": "GET", "path": "/poll?token=[hidden]&after=0-0", "status": 401, "remote_ip": "127.0.0.1",
        "user": None, "route": "PollHandler"}
    assert 0 <= line["duration_ms"] < 5000
    record = next(r for r in reversed(caplog.records) if r.name == "tornado.access")
    formatted = json.loads(JsonFormatter().format(record))
    assert formatted["level"] == "WARNING" and formatted["logger"] == "tornado.access"
    assert formatted["time"].endswith("Z") and formatted["path"] == line["path"]
    assert "s3cret-token" not in caplog.text  # nor in Tornado's own line about the refusal


@pytest.mark.gen_test
async def test_over_https_every_answer_sends_hsts_and_over_http_none(proxied, http_client, http_server, base_url):
    """sslstrip: a browser that once reached Parlor over https keeps to https. Pages, errors,
    static files and the WebSocket's handshake all say so; plain http (or a forwarded scheme
    that is not believed) does not."""
    https = {"X-Forwarded-Proto": "https"}
    visitor = Visitor(http_client, proxied)
    answers = [await visitor.get(path, headers=https) for path in ("/", "/nowhere", "/static/css/parlor.css")]
    answers.append(await visitor.fetch("/signup", "POST", "x=1", {"Content-Type": "application/x-www-form-urlencoded",
                                                                  **https}))
    request = tornado.httpclient.HTTPRequest(proxied.replace("http", "ws") + "/live",
                                             headers={"Origin": proxied, **https})
    ws = await tornado.websocket.websocket_connect(request)
    assert [answer.code for answer in answers] == [200, 404, 200, 403]
    answers.append(ws)  # its handshake's headers
    for answer in answers:
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    ws.close()
    plain = await visitor.get("/", headers={"X-Forwarded-Proto": "http"})
    unbelieved = await Visitor(http_client, base_url).get("/", headers=https)  # no --xheaders
    assert "Strict-Transport-Security" not in plain.headers and "Strict-Transport-Security" not in unbelieved.headers
