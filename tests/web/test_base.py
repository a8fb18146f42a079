"""What every response gets: security headers, readable errors, size limits, health."""
import json

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
    import re

    visitor = Visitor(http_client, base_url)
    await visitor.sign_up("looker")
    for path in ("/", "/login", "/signup", "/scores", "/scores/10", "/chat", "/chat/eliza", "/nowhere"):
        body = (await visitor.get(path)).body.decode()
        scripts = re.findall(r"<script\b[^>]*>", body)
        assert scripts and all(re.search(r'\bsrc="/static/', tag) for tag in scripts), path  # by src only
        assert all(inner.strip() == "" for inner in re.findall(r"<script\b[^>]*>(.*?)</script>", body, re.S))
        assert "hx-on" not in body and " on" + "click" not in body and "style=" not in body and "<style" not in body


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
    from handlers.base import nests_deeper

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
