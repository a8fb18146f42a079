"""Sign up and log in in a real browser, with JavaScript on and off; the live online count."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import account_menu, sign_up

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_online_count_changes_live_when_a_second_user_signs_in(server, new_page):
    first = new_page(javascript=True)
    sign_up(first.page, server.url, unique("first"))
    count = first.page.locator("#online-count .count")
    expect(count).to_have_text("1", timeout=5000)
    second = new_page(javascript=True)
    sign_up(second.page, server.url, unique("second"))
    expect(count).to_have_text("2", timeout=5000)  # pushed over /live, no reload
    second.page.close()
    expect(count).to_have_text("1", timeout=5000)
    assert first.csp_violations() == [] and second.csp_violations() == []


def test_a_bad_signup_swaps_only_the_form_with_javascript_on(server, new_page):
    watched = new_page(javascript=True)
    page = watched.page
    page.goto(server.url + "/signup")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.stillHere = true }")
    page.get_by_label("Username").fill("eliza")  # passes the browser's checks, not the server's
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#signup-form .form-error")).to_contain_text("is taken")
    assert page.evaluate("() => window.stillHere") is True  # swapped in place, not reloaded
    assert watched.csp_violations() == []


def test_sign_up_log_out_and_log_in_with_javascript_off(server, new_page):
    page = new_page(javascript=False).page
    username = unique("plain")
    sign_up(page, server.url, username)
    account_menu(page).get_by_role("button", name="Log out").click()
    expect(page.locator("header nav")).to_contain_text("Log in")
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_label("Username").fill(username.upper())
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-error")).to_have_text("Unknown username or wrong password.")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("header nav")).to_contain_text(f"Signed in as {username}")
