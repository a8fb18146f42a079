"""A conversation that behaves like a chat app (issue 23), on a phone (390×844, touch) and a laptop
(1366×768): the screen, read state, arrival signals, scrolling, the connection's state, careful
actions, and no CSP error anywhere along the way. With JavaScript off where it applies."""
import shutil
import signal
import sqlite3
import tempfile
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import account_menu, conversation_menu, message_menu, picture_png, sign_up
from tests.helpers import ServerProcess, pair_file, pair_messages

pytestmark = pytest.mark.slow

BOTH = pytest.mark.parametrize("size", ["phone", "desktop"])
MAX_HEADER_PX = 140  # the site's header and the conversation's, together, on a phone (issue 23)

# A page that can be "looked away from": hidden and unfocused on demand, as a background tab is.
LOOKED_AT = """
window.__shown = true;
Object.defineProperty(Document.prototype, "hidden", {get() { return !window.__shown; }, configurable: true});
Object.defineProperty(Document.prototype, "visibilityState",
                      {get() { return window.__shown ? "visible" : "hidden"; }, configurable: true});
const hasFocus = Document.prototype.hasFocus;
Document.prototype.hasFocus = function () { return window.__shown && hasFocus.call(this); };
"""
# Notifications and sound, recorded instead of shown and played.
SIGNALS = """
window.__notes = [];
window.__beeps = 0;
window.Notification = class {
  constructor(title, options) { window.__notes.push({title, body: options && options.body}); }
  addEventListener() {}
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
window.AudioContext = class {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
  resume() {}
  createGain() { return {gain: {setValueAtTime() {}, exponentialRampToValueAtTime() {}}, connect: (to) => to}; }
  createOscillator() { return {frequency: {}, connect: (to) => to, start() { window.__beeps += 1; }, stop() {}}; }
};
"""


@pytest.fixture(scope="module")
def server():
    """server.py as `make run` starts it, without the sign-up and message limits (these tests send
    many messages at once, from one address)."""
    directory = Path(tempfile.mkdtemp(prefix="parlor-e2e-", dir="/tmp"))
    process = ServerProcess(directory / "data", "--signup-limit", "0", "--message-limit", "0").start()
    yield process
    process.stop()
    shutil.rmtree(directory, ignore_errors=True)


def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"ann-{tag}", f"ben-{tag}"


def chatting(server, new_page, size, javascript=True, scripts=()):
    """ann and ben, each on their conversation's page; (ann, ben, their names)."""
    ann, ben = new_page(javascript, size), new_page(javascript, size)
    for watched in (ann, ben):
        for script in scripts:
            watched.page.add_init_script(script)
    ann_name, ben_name = names()
    sign_up(ann.page, server.url, ann_name)
    sign_up(ben.page, server.url, ben_name)
    ann.page.goto(f"{server.url}/chat/{ben_name}")
    ben.page.goto(f"{server.url}/chat/{ann_name}")
    if javascript:
        for watched in (ann, ben):
            watched.page.wait_for_function("() => window.parlorLive && window.parlorLive.state === 'live'")
    return ann, ben, ann_name, ben_name


def send(page, text):
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def post(page, peer, text):
    """A message sent as the page's form would, without touching the page (for many at once)."""
    page.evaluate("""async ([peer, text]) => {
        const form = new FormData();
        form.append("body", text);
        form.append("client_id", crypto.randomUUID().replaceAll("-", ""));
        const xsrf = document.querySelector('meta[name="xsrf-token"]').content;
        const answer = await fetch(`/chat/${peer}/messages?_xsrf=${encodeURIComponent(xsrf)}`,
                                   {method: "POST", body: form, headers: {"HX-Request": "true"}});
        if (!answer.ok) throw new Error(answer.status);
    }""", [peer, text])


def look(page, shown: bool) -> None:
    page.evaluate("(shown) => { window.__shown = shown; document.dispatchEvent(new Event('visibilitychange')); }",
                  shown)


def statuses(page):
    return page.locator("article.message.mine .status")


def scroller_state(page) -> dict:
    return page.evaluate("""() => {
        const box = document.querySelector("#conversation .scroller"), view = box.getBoundingClientRect();
        const shown = [...box.querySelectorAll("article.message")].filter((m) => {
            const place = m.getBoundingClientRect();
            return place.bottom > view.top && place.top < view.bottom;
        });
        const line = document.getElementById("unread-line");
        return {fromBottom: -box.scrollTop, first: shown.length && Number(shown[0].dataset.id),
                last: shown.length && Number(shown[shown.length - 1].dataset.id),
                firstTop: shown.length && shown[0].getBoundingClientRect().top,
                line: line && line.getBoundingClientRect().top - view.top};
    }""")


@BOTH
def test_1_the_conversation_is_an_app_screen(server, new_page, size, tmp_path):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    page = ann.page
    header = page.evaluate("() => document.querySelector('.conversation-head').getBoundingClientRect().bottom")
    if size == "phone":
        assert header <= MAX_HEADER_PX, header
    for n in range(25):
        post(ben.page, ann_name, f"line {n} of a long story, long enough to fill the screen")
    expect(page.locator("article.message")).to_have_count(25)
    composer = page.locator("#send-form").bounding_box()
    viewport = page.viewport_size
    assert composer["y"] + composer["height"] <= viewport["height"] + 1  # at hand, at the bottom
    page.evaluate("() => { document.querySelector('#conversation .scroller').scrollTop = -100000; }")
    assert page.locator("#send-form").bounding_box() == composer  # still there, reading history
    assert page.evaluate("() => document.scrollingElement.scrollHeight <= innerHeight + 1")  # only the list scrolls

    # Enter sends, Shift+Enter is a new line; the box grows with what is typed.
    box = page.get_by_label("Message")
    one_line = box.bounding_box()["height"]
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    assert box.bounding_box()["height"] > one_line + 10
    box.press("Enter")
    expect(ben.page.locator("article.message .body").last).to_have_text("first line\nsecond line")
    expect(box).to_have_value("")

    # A picture pasted from the clipboard is attached, then sent.
    page.evaluate("""(bytes) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], "pasted.png", {type: "image/png"}));
        const paste = new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true});
        document.getElementById("message-body").dispatchEvent(paste);
    }""", list(picture_png()))
    expect(page.locator("#send-form .attached")).to_contain_text("pasted.png")
    page.get_by_role("button", name="Send").click()
    expect(ben.page.locator("article.message img").last).to_have_attribute("alt", f"Picture from {ann_name}")

    # A draft survives going elsewhere and coming back.
    box = page.get_by_label("Message")
    box.fill("half a thought")
    page.wait_for_timeout(500)
    page.goto(f"{server.url}/scores")
    page.goto(f"{server.url}/chat/{ben_name}")
    expect(page.get_by_label("Message")).to_have_value("half a thought")

    # The head's menu holds Mute (for an hour, a day, or until unmuted), Block and Report.
    menu = conversation_menu(page)
    for name in ("Mute for an hour", "Mute for a day", "Mute until I unmute", f"Block {ben_name}"):
        expect(menu.get_by_role("button", name=name)).to_be_visible()
    expect(menu.get_by_role("link", name=f"Report {ben_name}")).to_be_visible()
    assert ann.csp_violations() == [] and ben.csp_violations() == []


@BOTH
def test_1_without_javascript_the_composer_is_a_form_and_the_newest_are_in_view(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, javascript=False)
    for n in range(20):
        ann.page.get_by_label("Message").fill(f"plain message {n}, with no script to help")
        ann.page.get_by_role("button", name="Send").click()
    expect(ann.page.locator("article.message")).to_have_count(20)
    state = scroller_state(ann.page)
    assert state["fromBottom"] == 0 and state["last"] == 20  # laid out from the end: no script needed
    ben.page.goto(f"{server.url}/chat")
    ben.page.locator(f"#conversation-{ann_name} a.peer").click()  # opens at the first unread
    expect(ben.page).to_have_url(f"{server.url}/chat/{ann_name}#unread-line")
    ann.page.reload()  # without a script, what a page showed is read when it is made
    expect(statuses(ann.page).last).to_have_text("Seen")


@BOTH
def test_2_what_is_shown_is_read_live_and_every_count_follows(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, scripts=[LOOKED_AT])
    ben_list = new_page(True, size)
    ben_list.page.context.add_cookies(ben.page.context.cookies())
    ben_list.page.goto(f"{server.url}/chat")

    send(ann.page, "are you there?")
    expect(statuses(ann.page).last).to_have_text("Seen")  # ben had it on screen: read, live
    expect(ben_list.page.locator("#unread-total")).to_be_hidden()

    look(ben.page, False)  # ben's tab goes to the background
    send(ann.page, "still there?")
    send(ann.page, "hello?")
    expect(statuses(ann.page)).to_have_text(["Seen", "Sent", "Sent"])  # sending, sent: not seen
    expect(ben_list.page.locator(f"#conversation-{ann_name} .unread-count")).to_have_text("2 unread")
    expect(ben_list.page.locator("#unread-total")).to_have_attribute("data-count", "2")
    expect(ben_list.page).to_have_title("(2) Chat · Parlor")
    expect(ben.page).to_have_title(f"(2) {ann_name} · Chat · Parlor")
    ann.page.wait_for_timeout(500)
    expect(statuses(ann.page)).to_have_text(["Seen", "Sent", "Sent"])  # a hidden tab reads nothing

    look(ben.page, True)  # ben comes back: what is on screen is read
    expect(statuses(ann.page)).to_have_text(["Seen", "Seen", "Seen"])
    expect(ben_list.page.locator(f"#conversation-{ann_name} .unread-count")).to_have_count(0)
    expect(ben_list.page).to_have_title("Chat · Parlor")
    expect(ben.page).to_have_title(f"{ann_name} · Chat · Parlor")
    for watched in (ann, ben, ben_list):
        assert watched.csp_violations() == [], watched.problems


@BOTH
def test_2_a_page_opened_reads_only_what_it_shows(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    ben.page.goto(f"{server.url}/scores")
    for n in range(40):
        post(ann.page, ben_name, f"news {n}\nwith a second line\nand a third")
    expect(ben.page).to_have_title("(40) Boards · Parlor")
    ben.page.goto(f"{server.url}/chat/{ann_name}")
    expect(ben.page.locator("#unread-line")).to_be_visible()
    state = scroller_state(ben.page)
    assert state["first"] == 1 and abs(state["line"]) < 30  # opened at the first unread, under its line
    expect(statuses(ann.page).last).to_have_text("Sent")  # the newest are below: not read yet
    seen = ann.page.locator("article.message.mine.seen")
    expect(seen.first).to_be_visible()
    assert 0 < seen.count() < 40
    ben.page.evaluate("() => { document.querySelector('#conversation .scroller').scrollTop = 0; }")
    expect(statuses(ann.page).last).to_have_text("Seen")
    expect(ben.page).to_have_title(f"{ann_name} · Chat · Parlor")


@BOTH
def test_3_title_badge_notifications_and_sound(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, scripts=[LOOKED_AT, SIGNALS])
    ben.page.goto(f"{server.url}/scores")
    menu = account_menu(ben.page)
    for name in ("Notifications", "Sound"):
        menu.get_by_role("button", name=name).click()
        expect(menu.get_by_role("button", name=name)).to_have_attribute("aria-pressed", "true")
    ben.page.keyboard.press("Escape")
    ben.page.reload()  # remembered by this browser
    for name in ("notify", "sound"):
        expect(ben.page.locator(f'.toggle[data-toggle="{name}"]')).to_have_attribute("aria-pressed", "true")
    beeps = ben.page.evaluate("() => window.__beeps")

    look(ben.page, False)
    send(ann.page, "a secret for ben only")
    expect(ben.page).to_have_title("(1) Boards · Parlor")
    expect(ben.page.locator("#unread-total")).to_have_text("1 unread")
    ben.page.wait_for_function("() => window.__notes.length === 1")
    assert ben.page.evaluate("() => window.__notes") == [
        {"title": f"New message from {ann_name}", "body": "Open Parlor to read it."}]  # never the text
    assert ben.page.evaluate("() => window.__beeps") == beeps + 1

    # A tab in front: no notification (the sound still tells, the conversation not being open).
    look(ben.page, True)
    send(ann.page, "are you reading this?")
    expect(ben.page).to_have_title("(2) Boards · Parlor")
    ben.page.wait_for_timeout(500)
    assert ben.page.evaluate("() => [window.__notes.length, window.__beeps]") == [1, beeps + 2]

    # Muted: it still counts in the list, but neither raises the title nor notifies nor sounds.
    ben.page.goto(f"{server.url}/chat/{ann_name}")
    expect(statuses(ann.page)).to_have_text(["Seen", "Seen"])  # shown, so read: nothing unread now
    conversation_menu(ben.page).get_by_role("button", name="Mute for an hour").click()
    expect(ben.page.locator(".conversation-head .muted-mark")).to_be_visible()
    ben.page.goto(f"{server.url}/scores")
    look(ben.page, False)
    beeps = ben.page.evaluate("() => window.__beeps")
    send(ann.page, "and another")
    ben.page.wait_for_timeout(500)
    expect(ben.page).to_have_title("Boards · Parlor")  # the muted conversation is left out
    assert ben.page.evaluate("() => [window.__notes.length, window.__beeps]") == [0, beeps]
    ben.page.goto(f"{server.url}/chat")
    row = ben.page.locator(f"#conversation-{ann_name}")
    expect(row.locator(".unread-count")).to_have_text("1 unread")  # still unread in the list
    expect(row.locator(".last")).to_contain_text("and another")
    assert ben.csp_violations() == [], ben.problems


@BOTH
def test_3_without_javascript_the_page_shows_the_count(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, javascript=False)
    ann.page.get_by_label("Message").fill("count me")
    ann.page.get_by_role("button", name="Send").click()
    ben.page.goto(f"{server.url}/scores")
    expect(ben.page).to_have_title("(1) Boards · Parlor")
    expect(ben.page.locator("#unread-total")).to_have_text("1 unread")


@BOTH
def test_4_scrolling_keeps_the_readers_place(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    for n in range(70):
        post(ann.page, ben_name, f"story {n + 1}" + " and so on" * (n % 4))
    expect(ben.page.locator("article.message")).to_have_count(70)
    assert scroller_state(ben.page)["fromBottom"] == 0  # at the bottom, the new ones came into view

    ben.page.evaluate("() => { document.querySelector('#conversation .scroller').scrollTop = -700; }")
    ben.page.wait_for_timeout(200)
    before = scroller_state(ben.page)
    post(ann.page, ben_name, "something new while ben reads back")
    expect(ben.page.locator(".new-pill")).to_be_visible()  # and the view did not move
    after = scroller_state(ben.page)
    assert (after["first"], round(after["firstTop"])) == (before["first"], round(before["firstTop"]))
    ben.page.locator(".new-pill").click()
    expect(ben.page.locator(".new-pill")).to_be_hidden()
    ben.page.wait_for_function("() => document.querySelector('#conversation .scroller').scrollTop > -2")

    # Older messages: a fresh page holds the latest 50; reaching the top loads the rest in place.
    ben.page.reload()
    expect(ben.page.locator("article.message")).to_have_count(50)
    ben.page.evaluate("() => { document.querySelector('#conversation .scroller').scrollTop = -100000; }")
    expect(ben.page.locator("article.message")).to_have_count(71)
    state = scroller_state(ben.page)
    assert state["first"] <= 22 <= state["last"]  # story 22, the oldest of the page, is still on screen
    assert ben.csp_violations() == [], ben.problems


@BOTH
def test_4_without_javascript_older_messages_are_a_link(server, new_page, size):
    ann, ben = new_page(True, size), new_page(False, size)
    ann_name, ben_name = names()
    sign_up(ann.page, server.url, ann_name)
    sign_up(ben.page, server.url, ben_name)
    ann.page.goto(f"{server.url}/chat/{ben_name}")
    for n in range(55):
        post(ann.page, ben_name, f"story {n + 1}")
    ben.page.goto(f"{server.url}/chat/{ann_name}")
    expect(ben.page.locator("article.message")).to_have_count(50)
    expect(ben.page.locator("#conversation .day")).to_have_text(["Today"])
    ben.page.get_by_role("link", name="Older messages").click()
    expect(ben.page.locator("article.message .body")).to_have_text([f"story {n}" for n in range(1, 6)])


@BOTH
def test_4_days_are_named_between_messages(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    for text in ("from long ago", "from yesterday", "from today"):
        post(ann.page, ben_name, text)
    day_ms = 24 * 3600 * 1000
    with closing(sqlite3.connect(pair_file(server.data_dir, ann_name, ben_name), timeout=5)) as db, db:
        db.execute("UPDATE messages SET sent_at = sent_at - ? WHERE id = 1", (40 * day_ms,))  # before the clocks moved
        db.execute("UPDATE messages SET sent_at = sent_at - ? WHERE id = 2", (day_ms,))
    ben.page.reload()
    days = ben.page.locator("#conversation .day")
    expect(days).to_have_count(3)
    expect(days.nth(1)).to_have_text("Yesterday")
    expect(days.nth(2)).to_have_text("Today")


@BOTH
def test_5_offline_a_message_waits_and_goes_once(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    ann.page.context.set_offline(True)
    expect(ann.page.locator("#connection")).to_contain_text("Offline")
    expect(ann.page.get_by_role("button", name="Retry now")).to_be_visible()
    send(ann.page, "written on the train")
    expect(ann.page.locator(".message.pending .status")).to_have_text("Waiting for the connection…")
    ann.page.context.set_offline(False)
    expect(ann.page.locator("#connection")).to_be_hidden()
    expect(ben.page.locator("article.message .body")).to_have_text(["written on the train"])
    expect(ann.page.locator(".message.pending")).to_have_count(0)
    assert pair_messages(server.data_dir, ann_name, ben_name) == [(ann_name, "text", "written on the train")]


@BOTH
def test_5_a_connection_that_stops_answering_shows_and_its_message_is_stored_once(server, new_page, size):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    server.process.send_signal(signal.SIGSTOP)  # the server stops answering; the socket stays open
    try:
        send(ann.page, "are you still there?")
        expect(ann.page.locator("#connection")).to_contain_text("Reconnecting", timeout=15_000)
        expect(ann.page.locator(".message.pending .status")).to_have_text("Not sent: no answer from Parlor.",
                                                                          timeout=15_000)
        waiting = ann.page.locator(".message.pending")
        client_id = waiting.get_attribute("data-client-id")
        waiting.get_by_role("button", name="Retry", exact=True).click()  # no connection yet: it waits for one
        expect(waiting.locator(".status")).to_have_text("Waiting for the connection…")
        assert waiting.locator("input[name=client_id]").input_value() == client_id  # the same message
    finally:
        server.process.send_signal(signal.SIGCONT)
    expect(ann.page.locator("#connection")).to_be_hidden(timeout=15_000)
    expect(ben.page.locator("article.message .body")).to_have_text(["are you still there?"])
    expect(ann.page.locator("article.message")).to_have_count(1)
    # Sent on the old socket before it went quiet and again on the new one: stored once.
    assert pair_messages(server.data_dir, ann_name, ben_name) == [(ann_name, "text", "are you still there?")]


@BOTH
def test_6_careful_actions(server, new_page, size, tmp_path):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size)
    send(ann.page, "a link: https://example.org/page")
    picture = tmp_path / "picture.png"
    picture.write_bytes(picture_png())
    ann.page.locator("#message-image").set_input_files(str(picture))
    ann.page.get_by_role("button", name="Send").click()
    mine = ann.page.locator("article.message.mine")
    expect(mine).to_have_count(2)

    # The actions menu: its button large enough to hit (24 px with a mouse, 44 px by touch).
    first = mine.first
    menu = message_menu(first)
    least = 44 if size == "phone" else 24
    box = first.get_by_role("button", name="Actions for this message").bounding_box()
    assert box["width"] >= least and box["height"] >= least, box
    menu.get_by_role("link", name="Delete…").click()
    dialog = ann.page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete this message for both of you?")
    dialog.get_by_role("button", name="Cancel").click()  # it asked, and nothing happened
    expect(first.locator(".body")).to_contain_text("a link")
    message_menu(first).get_by_role("link", name="Delete…").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(first.locator(".body")).to_have_text("message deleted")
    expect(ben.page.locator("article.message").first.locator(".body")).to_have_text("message deleted")

    # Links leave the chat in a new tab, telling the other site nothing.
    send(ann.page, "see https://example.org/elsewhere")
    link = ben.page.get_by_role("link", name="https://example.org/elsewhere")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")

    # A picture opens over the page, and closes with Escape.
    ben.page.locator("article.message a.picture").click()
    viewer = ben.page.locator("#picture-viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator("img")).to_have_js_property("complete", True)
    assert viewer.locator("img").evaluate("img => img.naturalWidth") == 360  # the picture itself, not its preview
    ben.page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    assert ann.csp_violations() == [] and ben.csp_violations() == []


@BOTH
def test_6_without_javascript_delete_asks_on_a_page_and_a_picture_is_a_link(server, new_page, size, tmp_path):
    ann, ben, ann_name, ben_name = chatting(server, new_page, size, javascript=False)
    picture = tmp_path / "picture.png"
    picture.write_bytes(picture_png())
    ann.page.locator("#message-image").set_input_files(str(picture))
    ann.page.get_by_role("button", name="Send").click()
    message = ann.page.locator("article.message.mine")
    expect(message.locator("a.picture")).to_have_attribute("href", f"/chat/{ben_name}/images/1")
    message_menu(message).get_by_role("link", name="Delete…").click()
    expect(ann.page.locator("h1")).to_have_text("Delete this message?")
    ann.page.get_by_role("link", name="Keep it").click()
    expect(message.locator("img")).to_be_visible()
    message_menu(message).get_by_role("link", name="Delete…").click()
    ann.page.get_by_role("button", name="Delete").click()
    expect(ann.page.locator("article.message.mine .body")).to_have_text("message deleted")


@BOTH
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_8_play_again_stays_on_the_board_and_a_repeat_is_not_counted(server, new_page, size, javascript):
    watched = new_page(javascript, size)
    page = watched.page
    sign_up(page, server.url, names()[0])
    page.goto(server.url + "/")
    page.get_by_label("100", exact=True).check()
    page.get_by_role("button", name="Start").click()
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= innerWidth")  # nothing off the side
    assert page.evaluate("""() => {
        const lines = document.createRange();
        lines.selectNodeContents(document.querySelector("#game h1"));
        return new Set([...lines.getClientRects()].map((r) => Math.round(r.top))).size;
    }""") == 1  # the heading on one line
    page.get_by_label("Your guess").fill("50")
    page.get_by_role("button", name="Guess").click()
    expect(page.locator("ol.guesses li.guess")).to_have_count(1)
    while page.locator("#game").get_attribute("data-status") != "playing":  # 50 was it: once more
        page.get_by_role("button", name="Play again").click()
        page.get_by_label("Your guess").fill("50")
        page.get_by_role("button", name="Guess").click()
        expect(page.locator("ol.guesses li.guess")).to_have_count(1)
    page.get_by_label("Your guess").fill("50")
    page.get_by_role("button", name="Guess").click()
    expect(page.locator("#game .form-error")).to_contain_text("You already guessed 50")
    expect(page.locator("#game .count")).to_have_text("1")
    low, high = (51, 100) if "Higher" in page.locator("#game .answer").inner_text() else (1, 49)
    while page.locator("#game").get_attribute("data-status") == "playing":
        middle = (low + high) // 2
        page.get_by_label("Your guess").fill(str(middle))
        page.get_by_role("button", name="Guess").click()
        expect(page.locator("ol.guesses li.guess .value").first).to_have_text(str(middle))
        word = page.locator("ol.guesses li.guess .word").first.inner_text()
        low, high = (middle + 1, high) if word == "higher" else (low, middle - 1)
    won = page.url
    page.get_by_role("button", name="Play again").click()
    expect(page.locator("#game h1")).to_have_text("A number from 1 to 100")
    expect(page.locator("ol.guesses li.guess")).to_have_count(0)
    assert page.url != won
    assert watched.csp_violations() == [], watched.problems
