"""Search and mute (issue 26, items 4 and 5) in a real browser, on a phone (390×844, touch) with
JavaScript on and off, and on a laptop: the search in a conversation's head, all conversations'
search on the list, a match leading to its message in context, and the mute choices in the
conversation's menu. No CSP error anywhere along the way."""
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import conversation_menu
from tests.e2e.test_conversation_e2e import chatting, post, server  # noqa: F401 (the module's server)

pytestmark = pytest.mark.slow

SEARCHES = pytest.mark.parametrize("size,javascript", [("phone", True), ("phone", False), ("desktop", True)])


def fill_conversation(ann, ben_name, javascript):
    """ann writes a few messages to ben (and many fillers, so the first is off the latest page)."""
    if javascript:
        post(ann.page, ben_name, "Coffee tomorrow at the harbour?")
        for n in range(60):
            post(ann.page, ben_name, f"filler {n}")
        post(ann.page, ben_name, "the harbour café is closed")
    else:
        for text in ("Coffee tomorrow at the harbour?", "the harbour café is closed"):
            ann.page.get_by_label("Message").fill(text)
            ann.page.get_by_role("button", name="Send").click()


def ben_searches(server, new_page, size, javascript, start: str, box: str, words: str):
    """ann writes to ben; ben, on `start` (a path, {ann} for ann's name), types `words` in `box`
    and presses Enter: (ben, ann's name, the matches)."""
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, javascript=javascript)
    fill_conversation(ann, ben_name, javascript)
    ben.page.goto(server.url + start.format(ann=ann_name))
    if box == "Words to find":  # reached by the head's link
        ben.page.get_by_role("link", name="Search this conversation").click()
        expect(ben.page).to_have_url(re.compile(rf"/chat/{ann_name}/search$"))
    ben.page.get_by_label(box).fill(words)
    ben.page.get_by_label(box).press("Enter")
    return ben, ann_name, ben.page.locator("#search-results .match")


@SEARCHES
def test_searching_a_conversation_finds_marked_words_and_leads_to_the_message(server, new_page, size, javascript):
    ben, ann_name, matches = ben_searches(server, new_page, size, javascript, "/chat/{ann}", "Words to find", "harb")
    page = ben.page
    expect(matches).to_have_count(2)
    expect(matches.first.locator("mark")).to_have_text("harbour")
    expect(matches.nth(1)).to_contain_text("Coffee tomorrow at the harbour?")
    expect(page).to_have_url(re.compile(r"/search\?q=harb$"))  # with a script too: kept in the history
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]  # nothing wider than the phone
    matches.nth(1).locator("a").click()
    target = page.locator("article.message:target")
    expect(target).to_contain_text("Coffee tomorrow at the harbour?")
    expect(target).to_be_in_viewport()
    assert ben.csp_violations() == [], ben.problems


@SEARCHES
def test_searching_all_conversations_names_the_peer(server, new_page, size, javascript):
    ben, ann_name, matches = ben_searches(server, new_page, size, javascript, "/chat", "Search all conversations",
                                          '"harbour café"')
    page = ben.page
    expect(matches).to_have_count(1)
    expect(matches.first.locator(".peer")).to_have_text(ann_name)
    expect(matches.first.locator("mark")).to_have_text("harbour café")  # a phrase is marked whole
    expect(page.locator("#search-results .searched")).to_contain_text("Searched 1 conversation")
    page.get_by_label("Words to find").fill("nothing-like-this")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-results .no-matches")).to_be_visible()
    assert ben.csp_violations() == [], ben.problems


@pytest.mark.parametrize("javascript", [True, False])
def test_muting_from_the_conversation_menu_and_unmuting(server, new_page, javascript):
    ann, ben, ann_name, ben_name = chatting(server, new_page, "phone", javascript=javascript)
    page = ben.page
    menu = conversation_menu(page)
    for choice in ("Mute for an hour", "Mute for a day", "Mute until I unmute"):
        expect(menu.get_by_role("button", name=choice)).to_be_visible()
    menu.get_by_role("button", name="Mute for a day").click()
    expect(page.locator(".conversation-head .muted-mark")).to_be_visible()
    conversation_menu(page).get_by_role("button", name=f"Unmute {ann_name}").click()
    expect(page.locator(".conversation-head .muted-mark")).to_have_count(0)
    assert ben.csp_violations() == [], ben.problems
