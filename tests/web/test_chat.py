"""Chat through HTTP and real WebSockets against the real app, real Redis and real SQLite files."""
import asyncio
import io
import json
import logging
import struct
import zlib
from urllib.parse import quote, urlencode, urlsplit

import PIL.Image
import pytest

from tests.helpers import Visitor, chat_dir, close_tabs, open_tabs, pair_messages, pushes, send_message, until, users


def picture(kind="PNG", size=(40, 30)) -> bytes:
    out = io.BytesIO()
    PIL.Image.new("RGB", size, (200, 30, 30)).save(out, kind)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header but carries almost no pixels (a bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def alice_and_bob(http_server, http_client, base_url, io_loop, app):
    """Two signed-up visitors, alice and bob, who have not talked yet."""
    return io_loop.run_sync(lambda: users(app, http_client, base_url, "alice", "bob"))


HELLO = "Hello Bob, see https://example.org/a?b=1."


@pytest.fixture
def hello_sent(alice_and_bob, io_loop):
    """alice and bob, after alice sent HELLO with JavaScript off (a form POST): the answer to it."""
    alice, bob = alice_and_bob
    return alice, bob, io_loop.run_sync(lambda: send_message(alice, "bob", HELLO))


@pytest.mark.gen_test(timeout=30)
async def test_opening_a_new_conversation_shows_the_send_form_and_makes_no_file(alice_and_bob, config):
    alice, _ = alice_and_bob
    page = await alice.get("/chat/bob")
    assert page.code == 200 and 'id="send-form"' in page.body.decode()
    assert pair_messages(config.data_dir, "alice", "bob") is None  # reading made no file


@pytest.mark.gen_test(timeout=30)
async def test_a_message_sent_without_javascript_goes_back_to_the_conversation(hello_sent):
    _, _, response = hello_sent
    assert response.code == 303 and response.headers["Location"] == "/chat/bob"


@pytest.mark.gen_test(timeout=30)
async def test_messages_of_both_people_are_stored_in_the_pairs_file_in_order(hello_sent, config):
    _, bob, _ = hello_sent
    await send_message(bob, "alice", "Hi Alice")
    assert pair_messages(config.data_dir, "alice", "bob") == [("alice", "text", HELLO), ("bob", "text", "Hi Alice")]


@pytest.mark.gen_test(timeout=30)
async def test_a_new_message_is_unread_in_the_peers_list_until_the_conversation_is_opened(hello_sent):
    _, bob, _ = hello_sent
    listing = (await bob.get("/chat")).body.decode()
    assert 'id="conversation-alice"' in listing and '<span class="unread-count">1 unread</span>' in listing
    # Every page bob is shown counts it: the tab's title and the Chat link's badge.
    for page in (listing, (await bob.get("/scores")).body.decode()):
        assert "<title>(1) " in page and '<span id="unread-total" class="badge" data-count="1">1<' in page
    page = (await bob.get("/chat/alice")).body.decode()  # opening it marks it read
    assert "<title>(1)" not in page and 'data-count="0"' in page
    listing = (await bob.get("/chat")).body.decode()
    assert 'class="unread-count"' not in listing and 'data-count="0"' in listing


@pytest.mark.gen_test(timeout=30)
async def test_a_message_shows_on_the_peers_page_with_its_link_made_safe(hello_sent):
    _, bob, _ = hello_sent
    page = (await bob.get("/chat/alice")).body.decode()
    assert "Hello Bob" in page
    assert '<a href="https://example.org/a?b=1" target="_blank" rel="noopener noreferrer nofollow ugc" dir="ltr">https://example.org/a?b=1</a>.' in page


@pytest.mark.gen_test(timeout=30)
async def test_a_resent_form_stores_one_message(http_server, http_client, base_url, config, app):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    for _ in range(3):
        assert (await send_message(alice, "bob", "once", client_id="same-client-id-1")).code == 303
    assert pair_messages(config.data_dir, "alice", "bob") == [("alice", "text", "once")]


@pytest.mark.gen_test(timeout=30)
async def test_markup_and_template_syntax_are_escaped_on_the_page_the_fragment_and_the_push(
        http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    tabs = await open_tabs(app, {"bob": bob})
    text = "<script>alert(1)</script> {{7*7}} javascript:alert(2) data:text/html,x"
    _, pushed = await pushes(tabs, send_message(alice, "bob", text), {"bob": 1})
    pushed = pushed["bob"][0]["content"]
    page = (await bob.get("/chat/alice")).body.decode()
    fragment = (await bob.get("/chat/alice", headers={"HX-Request": "true"})).body.decode()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}} javascript:alert(2) data:text/html,x"
    for body in (pushed, page, fragment):
        assert escaped in body and "<script>alert" not in body and "&gt; 49 " not in body
        assert 'href="javascript' not in body and 'href="data' not in body
    close_tabs(tabs)


BAD_SENDS = [
    # (body, image, status, words of the message)
    ("", None, 400, "Write a message or attach a picture"),
    ("   ", None, 400, "Write a message or attach a picture"),
    ("x" * 4001, None, 400, "at most 4000 characters"),
    ("", ("drawing.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 415, "Only PNG, JPEG, GIF and WebP"),
    ("", ("fake.png", "image/png", b"\x89PNG\r\n\x1a\n" + b'<svg xmlns="http://www.w3.org/2000/svg"/>'), 415, "Only PNG, JPEG, GIF and WebP"),
    ("", ("cut.jpg", "image/jpeg", picture("JPEG", (400, 300))[:-400]), 415, "damaged or incomplete"),
    ("", ("huge.png", "image/png", png_header_only(20000, 20000)), 413, "too many pixels"),
    ("", ("big.png", "image/png", b"\x89PNG" + b"\0" * (5 * 1024 * 1024 - 3)), 413, "larger than 5 MiB"),
]


@pytest.mark.parametrize("body,image,status,message", BAD_SENDS, ids=[
    "empty", "blank", "4001 chars", "svg", "png header on svg", "truncated jpeg", "20000x20000 png", "5 MiB + 1 byte"])
@pytest.mark.gen_test(timeout=30)
async def test_bad_sends_are_refused_and_store_nothing(http_server, http_client, base_url, config,
                                                       body, image, status, message, app):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    for htmx in (False, True):
        response = await send_message(alice, "bob", body, image=image, htmx=htmx)
        assert response.code == status
        assert message in response.body.decode()
        assert 'id="send-form"' in response.body.decode()  # shown next to the form
    assert not pair_messages(config.data_dir, "alice", "bob")


@pytest.mark.parametrize("length,status,says", [
    (str(6 * 1024 * 1024), 413, "at most 5 MiB"),
    # "²" passes str.isdigit(); a streamed upload's length is read here before Tornado reads it.
    ("\u00b2", 400, "not a number"),
])
@pytest.mark.gen_test(timeout=30)
async def test_an_upload_is_refused_from_its_content_length_before_it_is_read(
        http_server, http_client, base_url, config, app, length, status, says):
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    reader, writer = await picture_upload_to_bob(alice, base_url, f"Content-Length: {length}")
    writer.write(b"--x\r\n")
    await writer.drain()
    answer = (await asyncio.wait_for(reader.read(65536), 5)).decode()  # no more of the body is sent
    writer.close()
    assert answer.startswith(f"HTTP/1.1 {status}")
    assert says in answer
    assert not pair_messages(config.data_dir, "alice", "bob")


@pytest.mark.parametrize("peer,status,message", [
    ("nobody-here", 404, "no user by that name"), ("alice", 400, "with yourself"), ("ALICE", 400, "with yourself"),
    ("a_b", 404, "no user by that name"), ("..", 404, "no user by that name"),
])
@pytest.mark.gen_test(timeout=30)
async def test_unknown_peer_and_yourself(http_server, http_client, base_url, config, peer, status, message, app):
    alice, = await users(app, http_client, base_url, "alice")
    page = await alice.get(f"/chat/{quote(peer)}")
    assert page.code == status and message in page.body.decode()
    sent = await send_message(alice, quote(peer), "hello")
    assert sent.code == status
    assert list(chat_dir(config.data_dir).glob("*")) == []


@pytest.fixture
def picture_sent(alice_and_bob, io_loop):
    """alice and bob, after alice sent bob a 640x480 PNG (as an untyped upload): its answer."""
    alice, bob = alice_and_bob
    upload = ("red.png", "application/octet-stream", picture("PNG", (640, 480)))
    return alice, bob, io_loop.run_sync(lambda: send_message(alice, "bob", "", image=upload))


@pytest.mark.gen_test(timeout=30)
async def test_a_picture_is_stored_as_an_image_message(picture_sent, config):
    _, _, response = picture_sent
    assert response.code == 303
    assert pair_messages(config.data_dir, "alice", "bob") == [("alice", "image", "")]


@pytest.mark.gen_test(timeout=30)
async def test_a_picture_is_served_with_headers_that_keep_it_an_image(picture_sent):
    _, bob, _ = picture_sent
    full = await bob.get("/chat/alice/images/1")
    assert full.code == 200 and full.headers["Content-Type"] == "image/png"
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert full.headers["Content-Security-Policy"] == "sandbox"
    assert full.headers["Cache-Control"].startswith("private")


@pytest.mark.gen_test(timeout=30)
async def test_a_picture_keeps_its_size_and_has_a_half_size_thumbnail(picture_sent):
    alice, bob, _ = picture_sent
    assert PIL.Image.open(io.BytesIO((await bob.get("/chat/alice/images/1")).body)).size == (640, 480)
    thumbnail = await alice.get("/chat/bob/images/1?thumb=1")
    assert PIL.Image.open(io.BytesIO(thumbnail.body)).size == (320, 240)


@pytest.mark.gen_test(timeout=30)
async def test_pictures_are_served_only_to_the_pair(picture_sent, http_client, base_url):
    alice, _, _ = picture_sent
    carol = Visitor(http_client, base_url)
    await carol.sign_up("carol")
    await send_message(alice, "carol", "hi carol")
    assert (await carol.get("/chat/alice/images/1")).code == 404  # carol's own pair has no image 1
    assert (await carol.get("/chat/bob/images/1")).code == 404
    assert (await alice.get("/chat/bob/images/2")).code == 404


@pytest.mark.gen_test(timeout=30)
async def test_metadata_is_stripped_from_pictures(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    out = io.BytesIO()
    exif = PIL.Image.Exif()
    exif[0x8825] = {1: "N"}  # GPS info
    exif[0x010F] = "SpyCam"
    PIL.Image.new("RGB", (64, 48), (0, 90, 200)).save(out, "JPEG", exif=exif)
    assert b"SpyCam" in out.getvalue()
    await send_message(alice, "bob", "where am I?", image=("photo.jpg", "image/jpeg", out.getvalue()))
    stored = (await bob.get("/chat/alice/images/1")).body
    assert b"SpyCam" not in stored and b"Exif" not in stored


@pytest.mark.gen_test(timeout=30)
async def test_every_tab_of_both_people_gets_the_message(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    tabs = await open_tabs(app, {"bob": bob, "bob 2": bob, "alice": alice})
    response, pushed = await pushes(tabs, send_message(alice, "bob", "to every tab", htmx=True),
                                    {"bob": 1, "bob 2": 1, "alice": 1})
    assert response.code == 200 and 'id="send-form"' in response.body.decode()  # a fresh, empty form
    for tab, peer, unread in (("bob", "alice", 1), ("bob 2", "alice", 1), ("alice", "bob", 0)):
        (frame,) = pushed[tab]
        pushed_html = frame["content"]
        assert 'id="messages-alice_bob" hx-swap-oob="beforeend"' in pushed_html
        # The message is the same for both (the page marks it mine or theirs); the row is each one's.
        assert "to every tab" in pushed_html and 'class="message" data-id="1" data-author="alice"' in pushed_html
        # Its menu is each viewer's own, fetched when it first opens (the pair's address suits both).
        assert 'hx-get="/chat/alice_bob/messages/1/actions" hx-trigger="toggle once"' in pushed_html
        assert f'id="conversation-{peer}"' in pushed_html and (f"{unread} unread" in pushed_html) == bool(unread)
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=30)
async def test_eliza_answers_in_the_pairs_file_and_live(http_server, http_client, base_url, config, app):
    alice, = await users(app, http_client, base_url, "alice")
    tabs = await open_tabs(app, {"alice": alice})
    _, pushed = await pushes(tabs, send_message(alice, "eliza", "I feel tired today"), {"alice": 2})
    mine, reply = (frame["content"] for frame in pushed["alice"])
    assert "I feel tired today" in mine
    assert 'data-author="eliza"' in reply
    rows = pair_messages(config.data_dir, "alice", "eliza")
    assert rows[0] == ("alice", "text", "I feel tired today") and rows[1][0] == "eliza" and rows[1][2]
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=30)
async def test_older_messages_page_by_fifty(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    for i in range(60):
        await send_message(alice, "bob", f"message {i}")
    page = (await bob.get("/chat/alice")).body.decode()
    assert "message 59" in page and "message 10" in page and "message 9<" not in page
    assert 'href="/chat/alice/messages?before=11"' in page
    older = await bob.get("/chat/alice/messages?before=11", headers={"HX-Request": "true"})
    body = older.body.decode()
    assert "message 0<" in body and "message 9<" in body and "message 10<" not in body and "<html" not in body
    assert (await bob.get("/chat/alice/messages?before=x")).code == 400


@pytest.mark.gen_test
async def test_chat_needs_an_account(http_server, http_client, base_url):
    guest = Visitor(http_client, base_url)
    response = await guest.get("/chat")
    assert response.code == 302 and response.headers["Location"] == "/login?next=/chat"
    assert (await send_message(guest, "bob", "hi")).code == 401


@pytest.mark.gen_test(timeout=30)
async def test_the_tutorials_json_endpoints(http_server, http_client, base_url, config, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    created = await alice.post("/create_conversation_db", {"user_one": "alice", "user_two": "bob"})
    assert created.code == 200 and created.body == b'{"success": true}'
    assert pair_messages(config.data_dir, "alice", "bob") == []
    sent = await alice.post("/send_message/bob", {"author": "alice", "message": "<b>hi</b>"})
    assert sent.code == 200 and b'"success": true' in sent.body
    history = await bob.post("/get_message_history", {"user_one": "alice", "user_two": "bob"})
    assert history.code == 200
    (entry,) = json.loads(history.body)["history"]
    assert (entry["author"], entry["message"]) == ("alice", "<b>hi</b>")


@pytest.mark.parametrize("path,fields,status", [
    ("/send_message/bob", {"author": "bob", "message": "forged"}, 403),
    ("/send_message/bob", {"author": "alice", "message": ""}, 400),
    ("/send_message/bob", {"author": "alice", "message": "x" * 4001}, 400),
    ("/send_message/nobody-here", {"author": "alice", "message": "hi"}, 404),
    ("/get_message_history", {"user_one": "bob", "user_two": "carol"}, 403),
    ("/create_conversation_db", {"user_one": "bob", "user_two": "carol"}, 403),
    ("/create_conversation_db", {"user_one": "alice", "user_two": "alice"}, 400),
])
@pytest.mark.gen_test(timeout=30)
async def test_the_json_endpoints_refuse_what_the_chat_refuses(http_server, http_client, base_url, config,
                                                              path, fields, status, app):
    alice, _, _ = await users(app, http_client, base_url, "alice", "bob", "carol")
    response = await alice.post(path, fields)
    assert response.code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert list(chat_dir(config.data_dir).glob("*")) == []


SCRIPT_FORM = urlencode({"author": "alice", "message": "from a script"})
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def script(alice_and_bob, app, http_client, base_url, io_loop):
    """A client with no cookies at all, and alice's API token."""
    return Visitor(http_client, base_url), io_loop.run_sync(lambda: app.accounts.new_api_token("alice"))


@pytest.mark.gen_test(timeout=30)
async def test_an_api_token_sends_without_cookie_or_xsrf_in_a_header_or_the_query(script, config):
    client, token = script
    sent = await client.fetch("/send_message/bob", "POST", SCRIPT_FORM, {**FORM_TYPE, "Authorization": f"Bearer {token}"})
    assert sent.code == 200 and b'"success": true' in sent.body
    by_query = await client.fetch(f"/send_message/bob?token={token}", "POST", SCRIPT_FORM, FORM_TYPE)
    assert by_query.code == 200
    assert pair_messages(config.data_dir, "alice", "bob") == [("alice", "text", "from a script")] * 2


@pytest.mark.gen_test(timeout=30)
async def test_a_bad_api_token_is_refused_even_with_a_good_cookie(alice_and_bob, config):
    alice, _ = alice_and_bob
    forged = await alice.fetch("/send_message/bob?token=not-a-token", "POST", SCRIPT_FORM, FORM_TYPE)
    assert forged.code == 401 and "not valid" in forged.body.decode()
    assert not pair_messages(config.data_dir, "alice", "bob")


@pytest.mark.gen_test(timeout=30)
async def test_a_replaced_api_token_is_refused(script, app, config):
    client, token = script
    replaced = await app.accounts.new_api_token("alice")
    stale = await client.fetch("/send_message/bob", "POST", SCRIPT_FORM, {**FORM_TYPE, "Authorization": f"Bearer {token}"})
    assert stale.code == 401 and replaced != token
    assert not pair_messages(config.data_dir, "alice", "bob")


# Only the API takes a token. Elsewhere it is ignored: no XSRF bypass (a forged login form
# carrying the forger's token), and no reach beyond the API.
@pytest.mark.gen_test(timeout=30)
async def test_an_api_token_does_not_bypass_xsrf_on_a_form(script):
    client, token = script
    assert (await client.fetch(f"/login?token={token}", "POST", "username=alice&password=x", FORM_TYPE)).code == 403


@pytest.mark.gen_test(timeout=30)
async def test_an_api_token_opens_no_page_beyond_the_api(script):
    client, token = script
    assert (await client.fetch(f"/chat/bob?token={token}")).code == 302
    assert (await client.fetch("/chat/bob", headers={"Authorization": f"Bearer {token}"})).code == 302


@pytest.mark.gen_test(timeout=30)
async def test_a_client_id_reused_by_the_peer_neither_reveals_nor_drops_the_first_message(
        http_server, http_client, base_url, app, config):
    """client_id makes a resend idempotent for its author only: bob sending with alice's client
    id (seen in her page's form, or guessed) stores bob's message and learns nothing of hers."""
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    assert (await send_message(alice, "bob", "alice's secret", client_id="shared-client-id")).code == 303
    token = await app.accounts.new_api_token("bob")
    script = Visitor(http_client, base_url)
    answer = await script.fetch("/api/messages", "POST",
                                json.dumps({"to": "alice", "body": "bob's words", "client_id": "shared-client-id"}),
                                {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert answer.code == 201, answer.body
    assert json.loads(answer.body)["message"]["body"] == "bob's words"
    assert b"alice's secret" not in answer.body
    assert (await send_message(alice, "bob", "resent", client_id="shared-client-id")).code == 303
    assert pair_messages(config.data_dir, "alice", "bob") == [("alice", "text", "alice's secret"), ("bob", "text", "bob's words")]


@pytest.mark.gen_test(timeout=30)
async def test_phone_pictures_and_pictures_with_broken_metadata_are_stored_not_a_500(
        http_server, http_client, base_url, config, app):
    """An MPO (what phones send as JPEG), an odd but real EXIF, and fuzzed files whose EXIF made
    Pillow raise: stored, or refused with a message; never a 500."""
    from tests.unit.chat.test_images import CORPUS, CORPUS_OUTCOMES, encoded, exif_with_ascii_resolution

    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    mpo = encoded(PIL.Image.new("RGB", (40, 30)), "MPO", save_all=True, append_images=[PIL.Image.new("RGB", (40, 30))])
    turned = encoded(PIL.Image.new("RGB", (40, 30)), "JPEG", exif=exif_with_ascii_resolution(6))
    uploads = [("phone.jpg", mpo, 303), ("turned.jpg", turned, 303)]
    uploads += [(name, (CORPUS / name).read_bytes(), {"stored": 303, "unsupported": 415}[outcome])
                for name, outcome in sorted(CORPUS_OUTCOMES.items())]
    for name, data, status in uploads:
        response = await send_message(alice, "bob", "", image=(name, "image/jpeg", data))
        assert response.code == status, (name, response.body[:300])
        if status == 415:
            assert "damaged or incomplete" in response.body.decode()
    stored = sum(1 for _, _, status in uploads if status == 303)
    assert pair_messages(config.data_dir, "alice", "bob") == [("alice", "image", "")] * stored
    mpo_stored = await bob.get("/chat/alice/images/1")
    assert mpo_stored.headers["Content-Type"] == "image/jpeg"
    assert PIL.Image.open(io.BytesIO((await bob.get("/chat/alice/images/2")).body)).size == (30, 40)


@pytest.mark.parametrize("control", ["\u202e", "\u202d", "\u202a", "\u2066", "\u2067", "\u2068", "\u2069",
                                     "\u200e", "\u200f", "\u061c", "\u200b"])
def test_a_url_with_a_bidi_control_or_invisible_character_is_no_link_and_shows_it(control):
    from parlor.web.views.chat import linkify

    html = str(linkify(f"see https://ok.example/{control}exe.txt now"))
    assert "<a " not in html and control not in html
    assert f"https://ok.example/&lt;U+{ord(control):04X}&gt;exe.txt now" in html


def test_links_are_isolated_from_bidi_controls_around_them():
    from parlor.web.views.chat import linkify

    html = str(linkify("\u202e see https://ok.example/a.txt"))
    assert '<a href="https://ok.example/a.txt" target="_blank" rel="noopener noreferrer nofollow ugc" dir="ltr">https://ok.example/a.txt</a>' in html


@pytest.mark.gen_test(timeout=30)
async def test_a_spoofed_url_is_shown_escaped_in_the_page_and_the_push(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    tabs = await open_tabs(app, {"bob": bob})
    _, pushed = await pushes(tabs, send_message(alice, "bob", "https://ok.example/\u202eexe.txt"), {"bob": 1})
    page = (await bob.get("/chat/alice")).body.decode()
    for html in (pushed["bob"][0]["content"], page):
        assert "https://ok.example/&lt;U+202E&gt;exe.txt" in html and 'href="https://ok.example/' not in html
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=30)
async def test_a_chunked_upload_over_the_limit_is_answered_413_with_the_message(
        http_server, http_client, base_url, config, app, caplog):
    """No Content-Length to refuse it from: past 5 MiB nothing more is kept, and the answer comes
    when the body ends (an answer before it would be lost to the connection's reset), with the
    readable message, and no error in the log."""
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    reader, writer = await picture_upload_to_bob(alice, base_url, "Transfer-Encoding: chunked")
    chunk = 64 * 1024
    with caplog.at_level(logging.INFO):
        for _ in range(6 * 1024 * 1024 // chunk):  # 6 MiB
            writer.write(b"%x\r\n" % chunk + b"\0" * chunk + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        text = (await asyncio.wait_for(reader.read(65536), 5)).decode("latin-1")
    writer.close()
    assert text.startswith("HTTP/1.1 413"), text[:200]
    assert "at most 5 MiB" in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not pair_messages(config.data_dir, "alice", "bob")
    assert (await send_message(alice, "bob", "still served")).code == 303
    await until(lambda: app.in_flight == 0)


@pytest.mark.gen_test(timeout=60)
async def test_the_tutorials_history_comes_in_pages_of_at_most_1000(http_server, http_client, base_url, app):
    """A whole conversation was one answer (41 MB for 10,000 long messages): now the latest 1000
    at most, or limit=; before=<id> pages back; the tutorial's shape stays, with "more"."""
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    async with app.pair_files.conversation("alice", "bob", create=True) as conversation:
        for n in range(1, 1206):
            await conversation.add("alice" if n % 2 else "bob", f"message {n}", None, None)

    async def history(**fields):
        response = await bob.post("/get_message_history", {"user_one": "alice", "user_two": "bob", **fields})
        assert response.code == 200, response.body
        answer = json.loads(response.body)
        return [entry["id"] for entry in answer["history"]], answer["more"], answer["history"]

    ids, more, entries = await history()
    assert ids == list(range(206, 1206)) and more
    assert set(entries[0]) == {"id", "author", "message", "kind", "sent_at"} and entries[0]["message"] == "message 206"
    ids, more, _ = await history(before="206")
    assert ids == list(range(1, 206)) and not more
    ids, more, _ = await history(limit="10")
    assert ids == list(range(1196, 1206)) and more
    ids, more, _ = await history(before="11", limit="10")
    assert ids == list(range(1, 11)) and not more
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"before": "-1"}):
        response = await bob.post("/get_message_history", {"user_one": "alice", "user_two": "bob", **bad})
        assert response.code == 400 and ("limit must be" in response.body.decode() or "before must" in response.body.decode())


@pytest.mark.parametrize("megabytes", [3, 9], ids=["client leaves mid-body", "past the server's 8 MiB"])
@pytest.mark.gen_test(timeout=30)
async def test_an_upload_that_never_ends_is_not_left_in_flight(http_server, http_client, base_url, app, config,
                                                               megabytes):
    """A stopping server waits for requests in flight: one whose body never came whole (its
    client left, or Tornado cut it past 8 MiB) must not count, or every stop waits its grace."""
    alice, _ = await users(app, http_client, base_url, "alice", "bob")
    await alice.get("/login")
    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"POST /chat/bob/messages?_xsrf={quote(alice.cookies['_xsrf'])} HTTP/1.1\r\n"
                  f"Host: {host}:{port}\r\nCookie: {alice.cookie_header()}\r\n"
                  "Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
    chunk = 64 * 1024
    try:
        for _ in range(megabytes * 1024 * 1024 // chunk):
            writer.write(b"%x\r\n" % chunk + b"\0" * chunk + b"\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # Tornado hung up past its limit
    writer.close()
    await until(lambda: app.in_flight == 0, timeout=5)
    assert not pair_messages(config.data_dir, "alice", "bob")


async def picture_upload_to_bob(alice: Visitor, base_url: str, framing: str):
    """A raw connection that has sent alice's multipart POST to bob's conversation up to the end
    of its headers; `framing` says how the body's length is given (headers are latin-1 on the
    wire). (reader, writer)."""
    await alice.get("/login")  # the _xsrf cookie
    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    reader, writer = await asyncio.open_connection(host, port)  # the server shares this event loop
    writer.write((f"POST /chat/bob/messages?_xsrf={quote(alice.cookies['_xsrf'])} HTTP/1.1\r\n"
                  f"Host: {host}:{port}\r\nCookie: {alice.cookie_header()}\r\n"
                  f"Content-Type: multipart/form-data; boundary=x\r\n{framing}\r\n\r\n").encode("latin-1"))
    return reader, writer
