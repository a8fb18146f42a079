"""Screenshots for the README and docs/screenshots/: the home page, a game, a board and a chat,
in the light and the dark scheme, and a conversation as a phone and a laptop show it, taken from a
server with some life in it. They go to a
temporary folder unless PARLOR_SCREENSHOTS names one (`make screenshots` writes docs/screenshots/),
so a test run leaves the checkout as it was."""
import os
from pathlib import Path

import PIL.Image
import PIL.ImageStat
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SIZES, Watched

pytestmark = pytest.mark.slow

PAGES = {"home": "/", "game": "{game}", "board": "/scores/10", "chat": "/chat/grace"}
VIEWPORT = {"width": 1024, "height": 640}  # a laptop's window; the whole page is taken


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where the screenshots go: PARLOR_SCREENSHOTS, else a folder of this test's own."""
    folder = Path(os.environ.get("PARLOR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshots_of_the_main_pages_light_and_dark(scene, browser, screenshots):
    brightness = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport=VIEWPORT, storage_state=scene.ada)
        watched = Watched(context)
        page = watched.page
        for name, path in PAGES.items():
            page.goto(scene.url + path.format(game=scene.game))
            page.wait_for_function("() => document.fonts.status === 'loaded'")
            target = screenshots / f"{name}-{scheme}.png"
            page.screenshot(path=target, full_page=True, animations="disabled", caret="hide")
            with PIL.Image.open(target) as image:
                assert image.width == VIEWPORT["width"] and image.height >= VIEWPORT["height"]
                brightness[name, scheme] = PIL.ImageStat.Stat(image.convert("L")).mean[0]
        assert watched.csp_violations() == []  # the styles load nothing the CSP refuses
        context.close()
    for name in PAGES:  # prefers-color-scheme really switches the page: dark is dark, light is light
        assert brightness[name, "dark"] < 80 < 170 < brightness[name, "light"], brightness


# The conversation as a phone and a laptop show it: (size, scheme, JavaScript on).
CONVERSATION_SHOTS = [("phone", "light", True), ("phone", "dark", True), ("desktop", "light", True),
                      ("desktop", "dark", True), ("phone", "light", False)]


def test_screenshots_of_a_conversation_on_a_phone_and_a_laptop(scene, browser, screenshots):
    brightness = {}
    for size, scheme, javascript in CONVERSATION_SHOTS:
        context = browser.new_context(color_scheme=scheme, storage_state=scene.ada, java_script_enabled=javascript,
                                      **SIZES[size])
        watched = Watched(context)
        page = watched.page
        page.goto(scene.url + "/chat/grace")
        page.wait_for_function("() => document.fonts.status === 'loaded'")
        if javascript:
            page.wait_for_function("() => window.parlorLive.state === 'live'")
            page.get_by_label("Message").blur()  # no focus ring in the picture
        expect(page.locator("#conversation .day")).to_have_text(["Yesterday", "Today"])
        target = screenshots / f"chat-{size}{'' if javascript else '-nojs'}-{scheme}.png"
        page.screenshot(path=target, animations="disabled", caret="hide")  # the screen, as it is seen
        with PIL.Image.open(target) as image:
            assert image.size == (SIZES[size]["viewport"]["width"], SIZES[size]["viewport"]["height"])
            brightness[size, scheme] = PIL.ImageStat.Stat(image.convert("L")).mean[0]
        assert watched.csp_violations() == [], watched.problems
        context.close()
    for size in SIZES:
        assert brightness[size, "dark"] < 80 < 170 < brightness[size, "light"], brightness


def test_screenshots_of_the_chat_list_and_a_game_on_a_phone(scene, browser, screenshots):
    context = browser.new_context(storage_state=scene.ada, **SIZES["phone"])
    watched = Watched(context)
    for name, path in (("list", "/chat"), ("game", scene.game)):
        watched.page.goto(scene.url + path)
        watched.page.wait_for_function("() => document.fonts.status === 'loaded' && window.parlorLive.state === 'live'")
        watched.page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
        watched.page.screenshot(path=screenshots / f"{name}-phone-light.png", animations="disabled", caret="hide")
        assert watched.page.evaluate("() => document.scrollingElement.scrollWidth <= innerWidth")  # nothing off the side
    assert watched.csp_violations() == [], watched.problems
    context.close()
