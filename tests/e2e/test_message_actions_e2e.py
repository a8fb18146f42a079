"""Reply, reactions and edit in a real Chromium (issue 26, items 1-3), on a phone (390×844, touch)
and a laptop (1366×768), with JavaScript on (live in both people's pages) and off (plain forms
and links); no CSP error along the way. With PARLOR_SCREENSHOTS set, the conversation is saved
as docs/screenshots/issue-26/ shows it."""
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import message_menu
from tests.e2e.test_accessibility_e2e import AXE
from tests.e2e.test_conversation_e2e import BOTH, chatting, post, send
from tests.e2e.test_conversation_e2e import server  # noqa: F401 (a fixture: no sign-up or message limits)

pytestmark = pytest.mark.slow


def post_reply(page, peer, text, reply_to):
    """A reply sent as the page's form would, without touching the page."""
    page.evaluate("""async ([peer, text, replyTo]) => {
        const form = new FormData();
        form.append("body", text);
        form.append("client_id", crypto.randomUUID().replaceAll("-", ""));
        form.append("reply_to", replyTo);
        const xsrf = document.querySelector('meta[name="xsrf-token"]').content;
        const answer = await fetch(`/chat/${peer}/messages?_xsrf=${encodeURIComponent(xsrf)}`,
                                   {method: "POST", body: form, headers: {"HX-Request": "true"}});
        if (!answer.ok) throw new Error(answer.status);
    }""", [peer, text, str(reply_to)])


def bubble(page, text):
    return page.locator("article.message", has=page.locator(".body", has_text=text))


@BOTH
def test_reply_react_and_edit_live_in_both_pages(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    send(ann.page, "shall we play tonight?")
    original = bubble(ben.page, "shall we play tonight?")
    expect(original).to_be_visible()

    # Reply: the menu's Reply fills the composer's slot; Enter sends the answer with its quote.
    message_menu(original).get_by_role("link", name="Reply").click()
    slot = ben.page.locator("#reply-slot")
    expect(slot).to_contain_text(ann_name)
    expect(slot).to_contain_text("shall we play tonight?")
    expect(ben.page.get_by_label("Message")).to_be_focused()
    send(ben.page, "yes, at eight")
    expect(slot.locator("input")).to_have_count(0)  # the slot empties once the answer is on its way
    for page in (ann.page, ben.page):
        answer = bubble(page, "yes, at eight")
        expect(answer.locator("a.quote")).to_contain_text("shall we play tonight?")
        expect(answer.locator(".status")).to_have_count(1)

    # Reactions: from the menu, then the chips; each page shows the count and who.
    message_menu(bubble(ben.page, "shall we play tonight?")).get_by_role("button", name="React with 👍").click()
    for page in (ann.page, ben.page):
        expect(bubble(page, "shall we play tonight?").get_by_role("button", name=f"👍 1: {ben_name}")).to_be_visible()
    chip = bubble(ben.page, "shall we play tonight?").locator(".reaction")
    expect(chip).to_have_attribute("aria-pressed", "true")
    bubble(ann.page, "shall we play tonight?").get_by_role("button", name=f"👍 1: {ben_name}").click()
    expect(bubble(ben.page, "shall we play tonight?").get_by_role(
        "button", name=f"👍 2: {ben_name}, {ann_name}")).to_be_visible()
    chip.click()  # ben's again: taken back
    for page in (ann.page, ben.page):
        expect(bubble(page, "shall we play tonight?").get_by_role("button", name=f"👍 1: {ann_name}")).to_be_visible()
    message_menu(bubble(ann.page, "yes, at eight")).get_by_role("button", name="React with 🎉").click()
    expect(bubble(ben.page, "yes, at eight").get_by_role("button", name=f"🎉 1: {ann_name}")).to_be_visible()

    # Edit: in the message's place; both pages show the new text, marked edited, and the quote follows.
    message_menu(bubble(ann.page, "shall we play tonight?")).get_by_role("link", name="Edit…").click()
    box = ann.page.get_by_label("Edit your message")
    expect(box).to_have_value("shall we play tonight?")
    box.fill("shall we play at eight tonight?")
    ann.page.get_by_role("button", name="Save").click()
    for page in (ann.page, ben.page):
        edited = bubble(page, "shall we play at eight tonight?")
        expect(edited.locator(".edited-mark")).to_have_text("edited")
        expect(edited.get_by_role("button", name=f"👍 1: {ann_name}")).to_be_visible()  # reactions stay
    expect(bubble(ben.page, "shall we play tonight?")).to_have_count(0)
    for page in (ann.page, ben.page):  # the reply's quote follows: the old words are nowhere on screen
        expect(bubble(page, "yes, at eight").locator("a.quote")).to_contain_text("shall we play at eight tonight?")
    expect(message_menu(bubble(ben.page, "shall we play at eight")).get_by_role("link", name="Edit…")).to_be_hidden()
    ben.page.keyboard.press("Escape")

    folder = os.environ.get("PARLOR_SCREENSHOTS")
    if folder:
        target = Path(folder) / "issue-26"
        target.mkdir(parents=True, exist_ok=True)
        ben.page.wait_for_function("() => document.fonts.status === 'loaded'")
        ben.page.mouse.move(0, 0)
        ben.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        ben.page.screenshot(path=target / f"reply-reactions-edit-{size}.png", animations="disabled", caret="hide")
    assert ann.csp_violations() == [] and ben.csp_violations() == []

    # axe finds nothing serious in a conversation with a reply, reactions and an edit, light or dark.
    ben.page.evaluate(AXE.read_text())  # evaluated by the driver: the page's CSP rightly refuses it as a script
    for scheme in ("light", "dark"):
        ben.page.emulate_media(color_scheme=scheme)
        ben.page.wait_for_timeout(500)  # past Pico's colour transitions
        found = ben.page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter(v => ["serious", "critical"].includes(v.impact)).map(v => v.id + " " + v.nodes[0].target)""")
        assert found == [], (scheme, found)


@BOTH
def test_a_quote_finds_its_original_pages_back(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    send(ann.page, "the very first message")
    expect(bubble(ann.page, "the very first message")).to_have_attribute("data-id", "1")
    for n in range(120):  # more than two pages of 50
        post(ben.page, ann_name, f"filler {n}")
    post_reply(ben.page, ann_name, "about your first message", 1)
    ann.page.reload()
    expect(bubble(ann.page, "the very first message")).to_have_count(0)  # not on the page yet
    bubble(ann.page, "about your first message").locator("a.quote").click()
    original = bubble(ann.page, "the very first message")
    expect(original).to_have_class(re.compile(r"\bjumped-to\b"), timeout=15000)
    expect(original).to_be_in_viewport()
    assert ann.csp_violations() == []


@BOTH
def test_without_javascript_reply_react_and_edit_are_forms_and_links(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, javascript=False)
    ann.page.get_by_label("Message").fill("see you at the club")
    ann.page.get_by_role("button", name="Send").click()
    ben.page.reload()

    message_menu(bubble(ben.page, "see you at the club")).get_by_role("link", name="Reply").click()
    expect(ben.page.locator("#reply-slot")).to_contain_text("see you at the club")
    ben.page.get_by_label("Message").fill("see you there")
    ben.page.get_by_role("button", name="Send").click()
    answer = bubble(ben.page, "see you there")
    expect(answer.locator("a.quote")).to_contain_text("see you at the club")

    message_menu(bubble(ben.page, "see you at the club")).get_by_role("button", name="React with ❤️").click()
    expect(bubble(ben.page, "see you at the club").get_by_role("button", name=f"❤️ 1: {ben_name}")).to_be_visible()

    message_menu(bubble(ann.page, "see you at the club")).get_by_role("link", name="Edit…").click()
    expect(ann.page.locator("h1")).to_contain_text("Edit your message")
    ann.page.get_by_label("Edit your message").fill("see you at the chess club")
    ann.page.get_by_role("button", name="Save").click()
    expect(bubble(ann.page, "see you at the chess club").locator(".edited-mark")).to_be_visible()
    ben.page.reload()
    expect(bubble(ben.page, "see you there").locator("a.quote")).to_contain_text("see you at the chess club")
    expect(bubble(ben.page, "see you at the chess club").get_by_role(
        "button", name=f"❤️ 1: {ben_name}")).to_be_visible()
    bubble(ben.page, "see you there").locator("a.quote").click()  # the original, on a page of its own
    expect(ben.page).to_have_url(f"{server.url}/chat/{ann_name}/messages?before=2#message-"
                                 f"{'_'.join(sorted((ann_name, ben_name)))}-1")
    expect(bubble(ben.page, "see you at the chess club")).to_be_visible()
