"""Chat in a real browser: two people live with JavaScript on (pictures by input and by drop),
and the same conversation with JavaScript off."""
import base64
import io
import uuid

import PIL.Image
import pytest
from playwright.sync_api import expect

from tests.e2e.test_accounts_e2e import sign_up

pytestmark = pytest.mark.slow


def png_bytes(color) -> bytes:
    out = io.BytesIO()
    PIL.Image.new("RGB", (60, 40), color).save(out, "PNG")
    return out.getvalue()


def open_chat(page, base_url, peer):
    page.goto(f"{base_url}/chat/{peer}")
    expect(page.locator("#conversation h1")).to_have_text(peer)


def in_a_conversation(server, alice, bob) -> tuple[str, str]:
    """Two new people, signed up on these pages, each on their conversation's page; their names."""
    alice_name, bob_name = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    sign_up(alice.page, server.url, alice_name)
    sign_up(bob.page, server.url, bob_name)
    open_chat(alice.page, server.url, bob_name)
    open_chat(bob.page, server.url, alice_name)
    return alice_name, bob_name


def test_two_people_chat_live_and_send_pictures_by_input_and_by_drop(server, new_page, tmp_path):
    alice, bob = new_page(javascript=True), new_page(javascript=True)
    alice_name, bob_name = in_a_conversation(server, alice, bob)
    for watched in (alice, bob):
        watched.page.evaluate("() => { window.notReloaded = true }")
    messages = lambda watched: watched.page.locator("#conversation .messages article.message")

    alice.page.get_by_label("Message").fill("Hello <b>Bob</b>!")
    alice.page.get_by_role("button", name="Send").click()
    for watched in (alice, bob):
        expect(messages(watched).last.locator(".body")).to_have_text("Hello <b>Bob</b>!")
    expect(alice.page.get_by_label("Message")).to_have_value("")  # the form was reset

    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes((220, 20, 20)))
    bob.page.get_by_label("Picture", exact=False).set_input_files(str(picture))
    bob.page.get_by_role("button", name="Send").click()
    for watched in (alice, bob):
        image = messages(watched).last.locator("img")
        expect(image).to_have_attribute("alt", f"Picture from {bob_name}")
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") == 60

    dropped = base64.b64encode(png_bytes((20, 20, 220))).decode()
    alice.page.evaluate(
        """async (data) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "blue.png", {type: "image/png"}));
            const zone = document.querySelector("[data-drop-target]");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""", dropped)
    for watched in (alice, bob):
        expect(messages(watched)).to_have_count(3)
        expect(messages(watched).last.locator("img")).to_have_attribute("alt", f"Picture from {alice_name}")
        assert watched.page.evaluate("() => window.notReloaded") is True
        assert watched.csp_violations() == [], watched.problems


def test_the_same_conversation_works_with_javascript_off(server, new_page, tmp_path):
    alice_name, bob_name = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    alice, bob = new_page(javascript=False).page, new_page(javascript=False).page
    sign_up(alice, server.url, alice_name)
    sign_up(bob, server.url, bob_name)
    alice.goto(server.url + "/chat")
    alice.get_by_label("Talk to").fill(bob_name)
    alice.get_by_role("button", name="Open").click()
    expect(alice.locator("#conversation h1")).to_have_text(bob_name)
    alice.get_by_label("Message").fill("no scripts here")
    picture = tmp_path / "green.png"
    picture.write_bytes(png_bytes((20, 200, 20)))
    alice.get_by_label("Picture", exact=False).set_input_files(str(picture))
    alice.get_by_role("button", name="Send").click()
    expect(alice.locator("article.message.mine .body")).to_have_text("no scripts here")
    bob.goto(server.url + "/chat")
    row = bob.locator(f"#conversation-{alice_name}")
    expect(row).to_contain_text("1 unread")
    row.get_by_role("link", name=alice_name).click()
    expect(bob.locator("article.message.theirs .body")).to_have_text("no scripts here")
    expect(bob.locator("article.message.theirs img")).to_have_attribute("alt", f"Picture from {alice_name}")
    bob.get_by_label("Message").fill("")
    bob.get_by_role("button", name="Send").click()  # empty: the reason shows next to the form
    expect(bob.locator("#send-form .form-error")).to_contain_text("Write a message or attach a picture")


def test_text_goes_over_the_open_socket_and_a_picture_is_posted(server, new_page, tmp_path):
    alice, bob = new_page(javascript=True), new_page(javascript=True)
    alice_name, bob_name = in_a_conversation(server, alice, bob)
    posts = []
    alice.page.on("request", lambda r: r.method == "POST" and "/messages" in r.url and posts.append(r.url))
    sent_frames = []
    alice.page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent_frames.append(payload)))
    alice.page.reload()  # the socket opens again, now watched
    expect(alice.page.locator("#conversation h1")).to_have_text(bob_name)
    alice.page.wait_for_function("() => document.body.hasAttribute('data-htmx-powered')")

    alice.page.get_by_label("Message").fill("over the socket")
    alice.page.get_by_role("button", name="Send").click()
    expect(bob.page.locator("article.message.theirs .body").last).to_have_text("over the socket")
    expect(alice.page.locator("article.message.mine .body").last).to_have_text("over the socket")
    expect(alice.page.get_by_label("Message")).to_have_value("")  # the form came back over the socket, empty
    assert posts == [] and any('"body":"over the socket"' in f for f in sent_frames)
    # Bob has no Delete for Alice's message in its menu; Alice has, and no Report.
    bob.page.locator("article.message").last.hover()
    bob.page.locator("article.message").last.get_by_role("button", name="Actions for this message").click()
    expect(bob.page.get_by_role("link", name="Report…")).to_be_visible()
    expect(bob.page.get_by_role("link", name="Delete…")).to_be_hidden()
    alice.page.locator("article.message").last.hover()
    alice.page.locator("article.message").last.get_by_role("button", name="Actions for this message").click()
    expect(alice.page.get_by_role("link", name="Delete…")).to_be_visible()
    expect(alice.page.get_by_role("link", name="Report…")).to_be_hidden()
    alice.page.keyboard.press("Escape")

    sends = lambda: [f for f in sent_frames if '"body"' in f]
    frames = len(sends())
    alice.page.get_by_role("button", name="Send").click()  # empty: nothing is sent
    alice.page.get_by_label("Message").press("Enter")
    alice.page.wait_for_timeout(300)
    assert posts == [] and len(sends()) == frames

    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes((220, 20, 20)))
    alice.page.get_by_label("Picture", exact=False).set_input_files(str(picture))
    alice.page.get_by_role("button", name="Send").click()
    expect(bob.page.locator("article.message.theirs img").last).to_have_attribute("alt", f"Picture from {alice_name}")
    assert len(posts) == 1  # the picture went as a form POST
    assert alice.csp_violations() == [] and bob.csp_violations() == []


def test_sends_apply_no_inline_style_even_after_the_box_was_resized(server, new_page, tmp_path):
    """A textarea resized by its handle carries a style attribute the browser set; swaps that
    copied it to the new form broke the CSP ("Applying inline style violates … style-src")."""
    alice, bob = new_page(javascript=True), new_page(javascript=True)
    in_a_conversation(server, alice, bob)
    page = alice.page
    box = page.get_by_label("Message")
    box.evaluate("box => { box.style.height = '7rem' }")  # what dragging the resize handle does
    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes((220, 20, 20)))
    page.locator('input[type="file"]').set_input_files(str(picture))
    page.get_by_role("button", name="Send").click()  # a picture: posted, the form swapped
    expect(page.locator("article.message img")).to_have_count(1)
    box.evaluate("box => { box.style.height = '7rem' }")
    box.fill("after the picture")
    page.get_by_role("button", name="Send").click()  # text: over the socket
    expect(bob.page.locator("article.message .body").last).to_have_text("after the picture")
    assert alice.csp_violations() == [], alice.problems
