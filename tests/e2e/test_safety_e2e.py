"""Deleting a message and blocking someone in a real browser, with JavaScript on and off: both
are plain forms, which htmx only enhances (with it, the deletion reaches the peer's open tab live)."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chat_e2e import in_a_conversation

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_delete_a_message_then_block_the_peer(server, new_page, javascript):
    alice, bob = new_page(javascript=javascript), new_page(javascript=javascript)
    alice_name, bob_name = in_a_conversation(server, alice, bob)
    messages = lambda watched: watched.page.locator("#conversation .messages article.message")

    alice.page.get_by_label("Message").fill("meant for someone else")
    alice.page.get_by_role("button", name="Send").click()
    expect(messages(alice).last.locator(".body")).to_have_text("meant for someone else")
    if not javascript:
        bob.page.reload()
    expect(messages(bob).last.locator(".body")).to_have_text("meant for someone else")

    messages(alice).last.get_by_role("button", name="Delete").click()
    expect(messages(alice).last.locator(".body")).to_have_text("message deleted")
    if not javascript:
        bob.page.reload()
    expect(messages(bob).last.locator(".body")).to_have_text("message deleted")  # with JavaScript: live
    expect(bob.page.locator("#conversation")).not_to_contain_text("meant for someone else")

    bob.page.get_by_role("button", name=f"Block {alice_name}").click()
    expect(bob.page).to_have_url(re.compile(r"/chat$"))
    expect(bob.page.locator(f"#conversation-{alice_name}")).to_have_count(0)
    alice.page.get_by_label("Message").fill("hello?")
    alice.page.get_by_role("button", name="Send").click()
    expect(alice.page.locator("#send-form .form-error")).to_have_text("Your message could not be delivered.")
    assert alice.csp_violations() == [] and bob.csp_violations() == []
