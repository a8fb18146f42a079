"""Live delivery in Chromium when the WebSocket cannot stay open: the page moves to SSE."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chat_e2e import in_a_conversation

pytestmark = pytest.mark.slow


def test_a_chat_stays_live_over_sse_when_the_websocket_is_closed_at_once(server, new_page):
    alice, bob = new_page(javascript=True), new_page(javascript=True)
    refused = []

    def close_at_once(ws):
        refused.append(ws.url)
        ws.close(code=1011, reason="no sockets here")  # retried by hx-ws, then given up on

    alice.page.route_web_socket(re.compile(r"/live"), close_at_once)
    alice_name, bob_name = in_a_conversation(server, alice, bob)
    expect(alice.page.locator('#live[data-transport="sse"]')).to_have_count(1, timeout=15000)
    assert len(refused) >= 3
    alice.page.evaluate("() => { window.notReloaded = true }")

    bob.page.get_by_label("Message").fill("typing first")  # an input event: alice sees it typed
    expect(alice.page.locator(".typing")).to_have_text(f"{bob_name} is typing…")
    bob.page.get_by_role("button", name="Send").click()
    messages = alice.page.locator("#conversation .messages article.message")
    expect(messages.last.locator(".body")).to_have_text("typing first")
    expect(alice.page.locator(".typing")).to_have_text("")  # the message ends the typing notice

    alice.page.get_by_label("Message").fill("answered while on SSE")
    alice.page.get_by_role("button", name="Send").click()
    for watched in (alice, bob):
        last = watched.page.locator("#conversation .messages article.message").last
        expect(last.locator(".body")).to_have_text("answered while on SSE")
    expect(messages).to_have_count(2)  # each message once, although it was both posted and pushed
    assert alice.page.evaluate("() => window.notReloaded") is True
    assert alice.csp_violations() == [], alice.problems
    assert bob.csp_violations() == [], bob.problems
