"""Deleting a message and blocking someone in a real browser, with JavaScript on and off: both
are plain forms, which htmx only enhances (with it, the deletion reaches the peer's open tab live)."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import conversation_menu, message_menu
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

    message_menu(messages(alice).last).get_by_role("link", name="Delete…").click()
    # It asks first: in a dialog of the page's with JavaScript, on a page of its own without.
    (alice.page.locator("#confirm-dialog") if javascript else alice.page).get_by_role("button", name="Delete").click()
    expect(messages(alice).last.locator(".body")).to_have_text("message deleted")
    if not javascript:
        bob.page.reload()
    expect(messages(bob).last.locator(".body")).to_have_text("message deleted")  # with JavaScript: live
    expect(bob.page.locator("#conversation")).not_to_contain_text("meant for someone else")

    conversation_menu(bob.page).get_by_role("button", name=f"Block {alice_name}").click()
    expect(bob.page).to_have_url(re.compile(r"/chat$"))
    expect(bob.page.locator(f"#conversation-{alice_name}")).to_have_count(0)
    alice.page.get_by_label("Message").fill("hello?")
    alice.page.get_by_role("button", name="Send").click()
    if javascript:  # the message waits in its bubble, which says why it was not sent
        expect(messages(alice).last.locator(".status")).to_have_text("Not sent: Your message could not be delivered.")
        expect(messages(alice).last.get_by_role("button", name="Retry")).to_be_visible()
    else:
        expect(alice.page.locator("#send-form .form-error")).to_have_text("Your message could not be delivered.")
    assert alice.csp_violations() == [] and bob.csp_violations() == []
