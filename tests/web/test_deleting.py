"""Deleting one's own messages: only the author, gone from the SQLite file itself, and live in
both people's open tabs (an event like any other, so a long poll sees it too)."""
import io
import json
import os

import PIL.Image
import pytest

from tests.helpers import close_tabs, open_tabs, pair_file, pair_rows, pushes, send_message, users


def noise_picture() -> bytes:
    """A PNG of random pixels: its stored bytes are unlike anything else in the file."""
    out = io.BytesIO()
    PIL.Image.frombytes("RGB", (64, 48), os.urandom(64 * 48 * 3)).save(out, "PNG")
    return out.getvalue()


def file_bytes(config, a, b) -> bytes:
    """The pair's database file and its WAL, as they are on disk now."""
    path = pair_file(config.data_dir, a, b)
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


async def delete(visitor, peer, message_id, htmx=False):
    return await visitor.post(f"/chat/{peer}/messages/{message_id}/delete",
                              headers={"HX-Request": "true"} if htmx else None)


@pytest.mark.gen_test(timeout=60)
async def test_deleting_a_message_updates_both_peoples_open_tabs_over_live(http_server, http_client, base_url, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    tabs = await open_tabs(app, {"alice": alice, "alice 2": alice, "bob": bob})
    every_tab = {name: 1 for name in tabs}
    sent, pushed = await pushes(tabs, send_message(alice, "bob", "meant for carol", htmx=True), every_tab)
    assert sent.code == 200
    for (frame,) in pushed.values():
        assert "meant for carol" in frame["content"]
    cursor = json.loads((await bob.get("/poll?timeout=0")).body)["cursor"]

    response, pushed = await pushes(tabs, delete(alice, "bob", 1, htmx=True), every_tab)
    assert response.code == 200  # the deleted message itself, swapped in place of the old one
    assert response.body.decode().startswith('<article id="message-alice_bob-1" class="message mine deleted"')
    for name, (frame,) in pushed.items():
        assert frame["kind"] == "deleted", frame
        side = "mine" if name.startswith("alice") else "theirs"
        assert f'<article id="message-alice_bob-1" class="message {side} deleted"' in frame["content"]
        assert 'hx-swap-oob="true"' in frame["content"] and "message deleted" in frame["content"]
        assert "meant for carol" not in frame["content"]
        assert 'id="conversation-' in frame["content"]  # it was the newest: the list row too
    # It was unread: bob's count of it is gone with it, in his list and in his total.
    assert 'class="unread-count"' not in pushed["bob"][0]["content"] and 'data-count="0"' in pushed["bob"][0]["content"]
    polled = json.loads((await bob.get(f"/poll?after={cursor}&timeout=0")).body)
    assert [(e["kind"], e["data"]) for e in polled["events"]] == [("deleted", {"peer": "alice", "message_id": 1,
                                                                               "unread": 0})]
    close_tabs(tabs)


@pytest.mark.gen_test(timeout=60)
async def test_only_the_author_can_delete_a_message(http_server, http_client, base_url, config, app):
    alice, bob, carol = await users(app, http_client, base_url, "alice", "bob", "carol")
    await send_message(alice, "bob", "mine to delete")
    await send_message(bob, "alice", "bob's own")
    for visitor, peer, message_id in ((bob, "alice", 1), (carol, "alice", 1), (carol, "bob", 1),
                                      (alice, "bob", 2), (alice, "bob", 99)):
        for htmx in (False, True):
            response = await delete(visitor, peer, message_id, htmx)
            assert response.code == 404 and "no message of yours" in response.body.decode()
    assert b"mine to delete" in file_bytes(config, "alice", "bob")
    assert (await alice.post("/chat/bob/messages/1/delete", xsrf=False)).code == 403  # XSRF, as every form
    assert "mine to delete" in (await bob.get("/chat/alice")).body.decode()


@pytest.mark.gen_test(timeout=60)
async def test_a_deleted_messages_text_and_picture_are_gone_from_the_file(http_server, http_client, base_url,
                                                                          config, app):
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    secret = "the secret is " + os.urandom(8).hex()
    await send_message(alice, "bob", "an innocent message before")
    await send_message(alice, "bob", secret, image=("noise.png", "image/png", noise_picture()))
    stored = (await bob.get("/chat/alice/images/1")).body  # the picture as it was re-encoded and kept
    assert len(stored) > 5000
    samples = [secret.encode(), stored[1000:1064], stored[-1064:-1000]]
    # Into the database file itself, as SQLite's auto-checkpoint does once the WAL holds 1000
    # pages; then one more message, so the WAL is not empty either.
    path = pair_file(config.data_dir, "alice", "bob")
    assert pair_rows(config.data_dir, "alice", "bob", "PRAGMA wal_checkpoint(TRUNCATE)")[0][0] == 0
    assert all(sample in path.read_bytes() for sample in samples)  # so their absence below means something
    await send_message(bob, "alice", "and an answer after")

    response = await delete(alice, "bob", 2)  # no JavaScript: back to the conversation
    assert response.code == 303 and response.headers["Location"] == "/chat/bob"
    after = file_bytes(config, "alice", "bob")
    assert not any(sample in after for sample in samples)
    assert b"an innocent message before" in after and b"and an answer after" in after
    page = (await bob.get("/chat/alice")).body.decode()
    assert "message deleted" in page and secret not in page and "/images/1" not in page
    assert (await bob.get("/chat/alice/images/1")).code == 404
    assert (await delete(alice, "bob", 2)).code == 303  # a resent form changes nothing
    assert pair_rows(config.data_dir, "alice", "bob", "SELECT COUNT(*) FROM images") == [(0,)]
    assert pair_rows(config.data_dir, "alice", "bob", "SELECT body, image_id FROM messages WHERE id = 2") == [("", None)]


@pytest.mark.gen_test(timeout=60)
async def test_a_deleted_pictures_address_is_never_given_to_another_picture(http_server, http_client, base_url, app):
    """Pictures are cached by the browser for a year under their address: when the deleted
    picture was the newest, the next one must get a new address, and the old one stays a 404."""
    alice, bob = await users(app, http_client, base_url, "alice", "bob")
    await send_message(alice, "bob", "", image=("first.png", "image/png", noise_picture()))
    deleted = noise_picture()
    await send_message(alice, "bob", "", image=("second.png", "image/png", deleted))
    assert (await bob.get("/chat/alice/images/2")).code == 200
    assert (await delete(alice, "bob", 2)).code == 303
    await send_message(alice, "bob", "", image=("third.png", "image/png", noise_picture()))
    assert (await bob.get("/chat/alice/images/2")).code == 404
    assert (await bob.get("/chat/alice/images/2?thumb=1")).code == 404
    page = (await bob.get("/chat/alice")).body.decode()
    assert 'href="/chat/alice/images/3"' in page and "/images/2" not in page
    assert (await bob.get("/chat/alice/images/3")).code == 200
