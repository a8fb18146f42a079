"""Accessibility in Chromium: axe-core on every kind of page, light and dark, and the game and a
chat played with the keyboard alone."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import play_by_halving, sign_up
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # npm's axe-core, installed by make setup
FAILING_IMPACTS = ("serious", "critical")
SIGNED_IN_PAGES = ["/", "/scores", "/scores/10", "{game}", "{won}", "/chat", "/chat/grace", "/account", "/no-such-page",
                   "/chat/grace/report", "/chat/grace/messages/1/report", "/chat/grace/search?q=a", "/search?q=a"]
GUEST_PAGES = ["/", "/login", "/signup", "{guest_won}"]
ADMIN_PAGES = ["/admin", "/admin/reports", "/admin/invites", "/admin/log", "/admin/users/ada", "/scores/10"]


def axe_violations(page, rules: list[str] | None) -> list[str]:
    """Serious and critical axe findings on the page (all rules, or only these), one line each."""
    page.add_script_tag(path=str(AXE))  # the context bypasses our CSP, which rightly blocks this
    found = page.evaluate("""async (rules) => (await axe.run(document,
            rules ? {runOnly: rules, resultTypes: ["violations"]} : {resultTypes: ["violations"]})).violations
        .map(v => ({id: v.id, impact: v.impact, help: v.help, where: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))""",
        rules)
    return [f"{v['impact']} {v['id']}: {v['help']} at {v['where']}" for v in found if v["impact"] in FAILING_IMPACTS]


# Every rule in the light scheme; the dark one changes only colours, so only contrast is checked again.
@pytest.mark.parametrize("scheme, rules", [("light", None), ("dark", ["color-contrast"])], ids=["light", "dark"])
def test_axe_finds_nothing_serious_on_any_page(scene, browser, scheme, rules):
    places = {"game": scene.game, "won": scene.won, "guest_won": scene.guest_won}
    problems = []
    for state, paths in ((scene.ada, SIGNED_IN_PAGES), (scene.guest, GUEST_PAGES), (scene.admin, ADMIN_PAGES)):
        context = browser.new_context(bypass_csp=True, color_scheme=scheme, storage_state=state)
        page = context.new_page()
        for path in paths:
            page.goto(scene.url + path.format(**places))
            problems += [f"{path.format(**places)}: {line}" for line in axe_violations(page, rules)]
        context.close()
    assert problems == [], "\n".join(problems)


def tab_to(page, selector: str, most: int = 40) -> None:
    """Press Tab until the focused element matches selector, as a keyboard user would."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was not reached with Tab")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_game_and_a_chat_message_with_the_keyboard_alone(server, browser, javascript):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    name = "keys-js" if javascript else "keys-plain"
    sign_up(page, server.url, name)  # the setting up; from here on only keys
    page.goto(server.url + "/")
    tab_to(page, 'input[name="max"]')  # the checked one of the group
    page.keyboard.press("ArrowLeft")  # arrows move within a radio group: 25 -> 10
    expect(page.get_by_label("10", exact=True)).to_be_checked()
    tab_to(page, '#start-form button[type="submit"]')
    page.keyboard.press("Enter")
    expect(page.locator("#game h1")).to_have_text("A number from 1 to 10")

    box = page.locator("#guess").bounding_box()

    def type_guess(page, number: int) -> None:
        expect(page.locator("#guess")).to_be_focused()  # on arrival and after every answer
        assert page.locator("#guess").bounding_box() == box  # the answers never move the box
        page.keyboard.type(str(number))
        page.keyboard.press("Enter")

    play_by_halving(page, enter=type_guess)
    expect(page.locator(".standing")).to_contain_text("It counts on the 1 to 10 board")  # ranked from five games

    tab_to(page, 'header a[href="/chat"]')
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Chat")
    tab_to(page, "#talk-peer")
    page.keyboard.type("eliza")
    page.keyboard.press("Enter")
    expect(page.locator("#conversation h1")).to_have_text("eliza")
    expect(page.locator("#message-body")).to_be_focused()
    page.keyboard.type("Hello from the keyboard")
    tab_to(page, '#send-form button[type="submit"]')
    page.keyboard.press("Enter")
    expect(page.locator("article.message.mine .body")).to_have_text("Hello from the keyboard")
    expect(page.locator("#message-body")).to_be_focused()  # ready for the next message
    if javascript:
        expect(page.locator("article.message.theirs")).to_have_count(1)  # ELIZA's answer, live
    context.close()
