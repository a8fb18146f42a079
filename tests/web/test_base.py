"""What every response gets: security headers, readable errors, size limits, health."""
import asyncio
import json
import re

import pytest

from tests.helpers import Visitor


@pytest.mark.gen_test
async def test_every_page_sends_the_security_headers(http_server, http_client, base_url):
    for path in ("/", "/login", "/no-such-page"):
        response = await Visitor(http_client, base_url).get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.gen_test(timeout=30)
async def test_pages_have_no_inline_script_style_or_hx_on(http_server, http_client, base_url):
    visitor = Visitor(http_client, base_url)
    await visitor.sign_up("looker")
    for path in ("/", "/login", "/signup", "/scores", "/scores/10", "/chat", "/chat/eliza", "/nowhere"):
        body = (await visitor.get(path)).body.decode()
        scripts = re.findall(r"<script\b[^>]*>", body)
        assert scripts and all(re.search(r'\bsrc="/static/', tag) for tag in scripts), path  # by src only
        assert all(inner.strip() == "" for inner in re.findall(r"<script\b[^>]*>(.*?)</script>", body, re.S))
        assert "hx-on" not in body and " on" + "click" not in body and "style=" not in body and "<style" not in body


@pytest.mark.gen_test
async def test_scripts_load_in_order_before_htmx_starts(http_server, http_client, base_url):
    """htmx starts on DOMContentLoaded only if it is parser-blocking: deferred, it starts on a
    timer that can fire before hx-ws has registered, and the page never opens its socket."""
    body = (await Visitor(http_client, base_url).get("/")).body.decode()
    tags = re.findall(r"<script\b[^>]*>", body)
    assert [re.search(r'src="/static/([^"?]+)', tag).group(1) for tag in tags] == [
        "vendor/htmx.min.js", "vendor/ext/hx-ws.min.js", "vendor/ext/hx-sse.min.js", "js/parlor.js", "js/live.js",
        "js/composer.js", "js/conversation.js", "js/notify.js"]
    assert not [tag for tag in tags if re.search(r"\b(defer|async|type=)", tag)]
    assert body.index("<script") > body.index("</main>")  # at the end of body: the page is parsed


@pytest.mark.gen_test
async def test_unknown_page_is_a_404_page(http_server, http_client, base_url):
    response = await Visitor(http_client, base_url).get("/nowhere")
    assert response.code == 404
    assert "There is nothing here." in response.body.decode()
    assert "Traceback" not in response.body.decode()


@pytest.mark.gen_test
async def test_wrong_method_is_a_405_page(http_server, http_client, base_url):
    response = await Visitor(http_client, base_url).get("/logout")
    assert response.code == 405
    assert "does not accept that kind of request" in response.body.decode()


@pytest.mark.gen_test
async def test_body_over_the_limit_is_413_with_a_message(http_server, http_client, base_url, redis_sync):
    visitor = Visitor(http_client, base_url)
    response = await visitor.post("/signup", {"username": "big", "password": "x" * 70_000})
    assert response.code == 413
    assert "at most 64 KiB" in response.body.decode()
    assert redis_sync.keys("user:*") == []


@pytest.mark.gen_test(timeout=30)
async def test_a_form_declaring_megabytes_is_refused_before_its_body_is_read(http_server, base_url, redis_sync):
    """40 connections each declaring a 7 MiB form and sending part of it held it all in memory
    until the body came (Tornado reads a body whole before a handler runs): each is answered 413
    from its Content-Length at once, and its body is never read."""
    from urllib.parse import urlsplit

    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    head = (f"POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {7 * 1024 * 1024}\r\n\r\n").encode()

    async def hold() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(head + b"username=" + b"a" * 100_000)  # a part of the body, the rest never
        try:
            return await asyncio.wait_for(reader.read(65536), 5)
        finally:
            writer.close()

    answers = await asyncio.gather(*(hold() for _ in range(40)))
    assert all(answer.startswith(b"HTTP/1.1 413") and b"at most 64 KiB" in answer for answer in answers), answers[0][:300]
    assert redis_sync.keys("rate:logins:*") == []  # nothing of it reached the login


@pytest.mark.gen_test
async def test_healthz_reports_redis_and_data_dir(http_server, http_client, base_url):
    response = await Visitor(http_client, base_url).get("/healthz")
    assert response.code == 200
    body = json.loads(response.body)
    assert body["redis"] is True and body["data_dir_writable"] is True
    assert body["version"]


@pytest.mark.gen_test
async def test_an_unexpected_error_is_a_500_page_without_traceback(http_server, http_client, base_url, app):
    async def broken(*args):
        raise RuntimeError("a bug")

    app.accounts.sign_up = broken
    response = await Visitor(http_client, base_url).post("/signup", {"username": "x-y-z", "password": "long enough"})
    assert response.code == 500
    body = response.body.decode()
    assert "Something went wrong on our side" in body
    assert "Traceback" not in body and "a bug" not in body


@pytest.mark.parametrize("text,deeper", [
    ('{"to": "bob", "body": "hi"}', False),
    ('{"body": "[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{"}', False),  # brackets inside a string do not nest
    ('{"body": "\\\\\\"[[[[[[[[[[[[[[[[["}', False),  # escaped quotes stay inside the string
    ("[" * 8 + "]" * 8, False),
    ("[" * 9, True),
    ('{"a": ' * 9, True),
    ('[[[[["]]]]]]]]]]]]]]]", [[[[[]]]]]', True),
])
def test_json_nesting_is_counted_outside_strings(text, deeper):
    from parlor.web.handlers.inputs import nests_deeper

    assert nests_deeper(text, 8) is deeper
    if not deeper:
        json.loads(text)  # each case that passes is real JSON


@pytest.mark.gen_test(timeout=30)
async def test_the_api_takes_a_message_full_of_brackets(http_server, http_client, base_url, app):
    await Visitor(http_client, base_url).sign_up("alice")
    await Visitor(http_client, base_url).sign_up("bob")
    token = await app.accounts.new_api_token("alice")
    body = json.dumps({"to": "bob", "body": "[" * 3000 + "{" * 900})
    response = await Visitor(http_client, base_url).fetch("/api/messages", "POST", body, {
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert response.code == 201, response.body


@pytest.mark.gen_test(timeout=30)
async def test_private_pages_are_not_stored_and_pictures_are_private(http_server, http_client, base_url, app):
    from tests.helpers import send_message, users
    from tests.web.test_chat import picture

    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "hi", image=("p.png", "image/png", picture()))
    for path in ("/chat", "/chat/bob", "/account", "/chat/bob/messages?before=10", "/", "/blocks"):
        response = await alice.get(path)
        assert response.code == 200 and response.headers.get("Cache-Control") == "no-store", path
        fragment = await alice.get(path, headers={"HX-Request": "true"})
        assert fragment.headers.get("Cache-Control") == "no-store", path
    image = await bob.get("/chat/alice/images/1")
    assert image.headers["Cache-Control"] == "private, max-age=31536000, immutable"  # its address never changes meaning
    board = await alice.get("/scores/10/fragment")  # public, and the same for everyone
    assert board.headers["Cache-Control"] == "no-cache"
    token = await app.accounts.new_api_token("alice")
    api = await Visitor(http_client, base_url).fetch("/api/messages", "POST", json.dumps({"to": "bob", "body": "x"}), {
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert api.code == 201 and api.headers["Cache-Control"] == "no-store"


@pytest.mark.gen_test(timeout=30)
async def test_error_answers_and_a_guests_pages_are_not_stored_either(http_server, http_client, base_url, app):
    """An error page names the signed-in user and carries their XSRF token (Tornado's send_error
    cleared the no-store that prepare() set); a guest's pages hold their game ids. A shared
    cache keeps none of them."""
    from tests.helpers import start_game, users

    alice, = await users(app, http_client, base_url, "alice")
    for path, status in (("/nowhere", 404), ("/scores/10?limit=0", 400), ("/games/no-such-game", 404)):
        for headers in ({}, {"HX-Request": "true"}):
            answer = await alice.get(path, headers=headers)
            assert answer.code == status and answer.headers.get("Cache-Control") == "no-store", (path, headers)
    refused = await alice.post("/account/password", {"current": "wrong", "new": "short"})
    assert refused.code == 400 and refused.headers.get("Cache-Control") == "no-store"
    guest = Visitor(http_client, base_url)
    game = await start_game(guest)
    for path in ("/", f"/games/{game}", "/scores/10", "/login"):
        answer = await guest.get(path)
        assert answer.code == 200 and answer.headers.get("Cache-Control") == "no-store", path


@pytest.mark.gen_test(timeout=30)
async def test_no_answer_names_the_servers_version(http_server, http_client, base_url, app):
    import tornado.httpclient
    import tornado.websocket

    visitor = Visitor(http_client, base_url)
    answers = [await visitor.get(path) for path in ("/", "/nowhere", "/scores/10.json", "/static/css/parlor.css")]
    answers.append(await visitor.fetch("/signup", "POST", "x=1", {"Content-Type": "application/x-www-form-urlencoded"}))
    request = tornado.httpclient.HTTPRequest(base_url.replace("http", "ws") + "/live", headers={"Origin": base_url})
    ws = await tornado.websocket.websocket_connect(request)
    answers.append(ws)
    assert answers[3].code == 200 and answers[4].code == 403
    for answer in answers:
        headers = answer.headers
        assert headers["Server"] == "Parlor", headers.get("Server")
    ws.close()
