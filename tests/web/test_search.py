"""Search pages (handlers/search.py) over the real app: plain GET forms without JavaScript, the
results fragment for htmx, each match leading to its message in context; only one's own
conversations, never a deleted message, never a blocked person's conversation, nothing left of a
deleted account's words for whoever takes its name next."""
import re

import pytest

from tests.helpers import Visitor, send_message, users

HTMX = {"HX-Request": "true"}


def matches(body: bytes) -> list[str]:
    """The matches' texts, marks taken out."""
    return [re.sub(r"</?mark>", "", text) for text in
            re.findall(r'<span class="text">(.*?)</span>', body.decode(), re.S)]


@pytest.mark.gen_test(timeout=30)
async def test_a_conversation_search_without_javascript_marks_the_words_and_links_to_the_message(
        http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "Coffee tomorrow at the harbour?")
    for n in range(30):
        await send_message(bob, "alice", f"filler {n}")
    await send_message(bob, "alice", "The harbour café, at <b>ten</b>")
    page = await bob.get("/chat/alice/search?q=harb")
    assert page.code == 200 and b"<html" in page.body and b"<search>" in page.body
    assert matches(page.body) == ["The harbour café, at &lt;b&gt;ten&lt;/b&gt;", "Coffee tomorrow at the harbour?"]
    assert b"<mark>harbour</mark>" in page.body
    link = re.findall(r'<li class="match"[^>]*>\s*<a href="([^"]+)"', page.body.decode())[1]
    path, anchor = link.split("#")
    assert anchor == "message-alice_bob-1"
    context = await bob.get(path)  # the message among those around it, as a plain page
    assert context.code == 200 and f'id="{anchor}"'.encode() in context.body and b"filler 8" in context.body
    fragment = await bob.get("/chat/alice/search?q=%22at+the+harbour%22", headers=HTMX)
    assert b"<html" not in fragment.body and matches(fragment.body) == ["Coffee tomorrow at the harbour?"]
    assert "HX-Request" in fragment.headers["Vary"]
    assert (await bob.get("/chat/alice/search")).code == 200  # the empty form


@pytest.mark.gen_test(timeout=30)
async def test_searching_all_conversations_names_the_peer_and_hides_what_is_not_mine(
        http_server, http_client, base_url, app):
    alice, bob, carol, mallory = await users(app, http_client, base_url, "alice", "bob", "carol", "mallory")
    await send_message(alice, "bob", "lantern with bob")
    await send_message(carol, "bob", "lantern only bob and carol see")
    await send_message(alice, "carol", "lantern with carol")
    deleted = await send_message(alice, "carol", "lantern I take back")
    await send_message(mallory, "alice", "lantern from mallory")
    assert (await alice.post("/blocks", {"peer": "mallory", "action": "block"})).code == 303
    message_id = (await app.chat.history_page("alice", "carol"))[0][-1].id
    assert deleted.code == 303 and (await alice.post(f"/chat/carol/messages/{message_id}/delete")).code == 303
    page = await alice.get("/search?q=lantern")
    assert page.code == 200
    assert matches(page.body) == ["lantern with carol", "lantern with bob"]
    assert re.findall(r'<strong class="peer">([^<]+)</strong>', page.body.decode()) == ["carol", "bob"]
    assert b"Searched 2 conversations" in page.body
    assert b"search-form" in (await alice.get("/chat")).body  # the list offers it


@pytest.mark.parametrize("path,status,says", [
    ("/search?q=" + "x" * 201, 400, "at most 200 characters"),
    ("/search?q=%22%22%2A%5E", 400, "punctuation alone"),
    ("/search?q=a&before=1;DROP", 400, "as the Older link gives it"),
    ("/search?q=a&from=-1", 400, "from must be"),
    ("/search?q=a&to=%D9%A3", 400, "to must be"),
    ("/search?q=NEAR(a%20b)%20OR%20body%3Ax%20%5Ey%20-z", 200, "No messages"),
    ("/chat/alice/search?q=a&before=x", 400, "before must be a message number"),
    ("/chat/alice/search?q=%00%01%02", 200, "Words to find"),  # Tornado drops control characters: an empty box
    ("/chat/nobody-here/search?q=a", 404, "no user by that name"),
])
@pytest.mark.gen_test(timeout=30)
async def test_bad_searches_get_the_page_again_with_the_reason(http_server, http_client, base_url, app, path, status,
                                                               says):
    bob, = await users(app, http_client, base_url, "bob")
    await app.accounts.create("alice", "correct horse")
    answer = await bob.get(path)
    assert answer.code == status and says.encode() in answer.body
    if status == 400:
        assert b"<search>" in answer.body  # the form again, to correct it
        assert b'role="alert"' in (await bob.get(path, headers=HTMX)).body


@pytest.mark.gen_test(timeout=30)
async def test_a_deleted_accounts_words_are_found_by_no_one_who_takes_its_name(http_server, http_client, base_url, app,
                                                                               config, redis_sync):
    leaver, peer = await users(app, http_client, base_url, "leaver", "peer")
    await send_message(leaver, "peer", "the marmalade plan")
    await send_message(leaver, "eliza", "marmalade for eliza")
    assert (await leaver.post("/account/delete", {"password": "correct horse"})).code == 303
    found = await peer.get("/search?q=marmalade")  # the peer keeps the conversation, under "deleted user"
    assert matches(found.body) == ["the marmalade plan"] and b"deleted user" in found.body
    redis_sync.delete("reserved:leaver", "look-alike:leaver")  # as if its 30 days were over
    newcomer, = await users(app, http_client, base_url, "leaver")
    assert matches((await newcomer.get("/search?q=marmalade")).body) == []
    assert matches((await newcomer.get("/chat/eliza/search?q=marmalade")).body) == []
    assert not list((config.data_dir / "conversations").glob("*eliza*"))  # ELIZA's file, and its index, gone


@pytest.mark.gen_test(timeout=30)
async def test_a_search_page_needs_an_account(http_server, http_client, base_url, app):
    answer = await Visitor(http_client, base_url).get("/search?q=x")
    assert answer.code == 302 and answer.headers["Location"] == "/login?next=/search%3Fq%3Dx"


@pytest.mark.gen_test(timeout=30)
async def test_an_edit_through_the_page_takes_the_old_words_out_of_both_searches(http_server, http_client, base_url,
                                                                                 app):
    """An edit (issue 26's Edit) is an UPDATE of the body: the index follows it, in the pair's
    search and in the search of all conversations, for both people."""
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "meet at the lighthouse")
    (message,) = (await app.chat.history_page("alice", "bob"))[0]
    edited = await alice.post(f"/chat/bob/messages/{message.id}/edit", {"body": "meet at the harbour"})
    assert edited.code in (200, 303)
    for visitor, path in ((alice, "/chat/bob/search"), (bob, "/chat/alice/search"), (alice, "/search"),
                          (bob, "/search")):
        assert matches((await visitor.get(path + "?q=lighthouse")).body) == [], path
        assert matches((await visitor.get(path + "?q=harbour")).body) == ["meet at the harbour"], path
