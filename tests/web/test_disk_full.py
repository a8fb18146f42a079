"""A full disk: the server runs in a private mount namespace whose data/conversations is a small
tmpfs (`unshare -m`, then `mount -t tmpfs`; root writes into read-only directories anyway, so
those prove nothing). We fill that tmpfs from outside, through /proc/<pid>/root."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from parlor.infra.config import NO_LIMITS, as_flags
from tests.helpers import Browser, ServerProcess, chat_dir, multipart, pair_file

pytestmark = pytest.mark.slow

TMPFS_BYTES = 2 * 1024 * 1024  # a few hundred messages' worth


@pytest.fixture
def small_disk_server():
    directory = Path(tempfile.mkdtemp(prefix="parlor-full-", dir="/tmp"))  # short: socket path limit
    data_dir = directory / "data"
    conversations = chat_dir(data_dir)
    conversations.mkdir(parents=True)
    mount = f'mount -t tmpfs -o size={TMPFS_BYTES} parlor-full "$0" && exec "$@"'
    server = ServerProcess(data_dir, "--eliza-delay", "0", *as_flags(NO_LIMITS),
                           wrapper=("unshare", "-m", "sh", "-c", mount, str(conversations)))
    server.start()
    # The server's view of the folder, where the tmpfs is mounted (outside it, it is a plain folder).
    seen = Path(f"/proc/{server.process.pid}/root") / str(conversations).lstrip("/")
    assert os.statvfs(seen).f_blocks * os.statvfs(seen).f_frsize == TMPFS_BYTES
    yield server, seen
    server.stop()
    print(server.log_path.read_text()[-3000:])  # shown when the test fails
    shutil.rmtree(directory, ignore_errors=True)


def fill(directory: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = directory / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == 28  # ENOSPC
    return filler


def send(browser: Browser, peer: str, text: str, image: bytes | None = None):
    body, content_type = multipart({"body": text, "client_id": os.urandom(12).hex()},
                                   {"image": ("p.png", "image/png", image)} if image else None)
    return browser.request(f"/chat/{peer}/messages?_xsrf={browser.xsrf()}", body=body,
                           headers={"Content-Type": content_type})


READ_CHAT = """
import json, sqlite3, sys
with sqlite3.connect(sys.argv[1]) as db:
    print(json.dumps([db.execute("PRAGMA integrity_check").fetchone()[0],
                      [body for (body,) in db.execute("SELECT body FROM messages ORDER BY id")]]))
"""


def stored(server: ServerProcess, a: str, b: str) -> list[str]:
    """The pair's messages, read in the server's mount namespace (SQLite resolves /proc/<pid>/root
    to "/", so it cannot read the file from outside), after checking the file is sound."""
    path = pair_file(server.data_dir, a, b)
    out = subprocess.run(["nsenter", "-t", str(server.process.pid), "-m", sys.executable, "-c", READ_CHAT, path],
                         capture_output=True, text=True, check=True).stdout
    integrity, bodies = json.loads(out)
    assert integrity == "ok"
    return bodies


def test_a_send_to_a_full_disk_is_a_503_and_nothing_is_lost(small_disk_server):
    import io

    import PIL.Image

    server, conversations = small_disk_server
    alice, bob, carol = Browser(server.url), Browser(server.url), Browser(server.url)
    for browser, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        assert browser.request("/signup", {"username": name, "password": "long enough"})[0] == 303
    before = [f"before the disk filled {n}" for n in range(5)]
    for text in before:
        assert send(alice, "bob", text)[0] == 303

    filler = fill(conversations)
    # SQLite reuses the WAL's pages after a checkpoint, so a small message may still fit in space
    # the file already holds: keep sending until a send needs new space.
    answers = []
    while len(answers) < 60 and [status for status, _ in answers].count(503) < 3:
        answers.append(send(alice, "bob", f"while full {len(answers)} " + "x" * 3000))
    statuses = [status for status, _ in answers]
    assert statuses.count(503) == 3 and set(statuses) <= {303, 503}, statuses
    refused = next(body for status, body in answers if status == 503)
    assert "disk is full" in refused and 'id="send-form"' in refused  # the form, with the reason
    # A conversation with no file yet, a picture, the API and the tutorial's endpoint: all 503.
    assert send(alice, "carol", "a new conversation")[0] == 503
    picture = io.BytesIO()
    PIL.Image.new("RGB", (300, 300), (10, 200, 30)).save(picture, "PNG")
    assert send(alice, "bob", "", picture.getvalue())[0] == 503
    status, body = alice.request("/send_message/bob", {"author": "alice", "message": "via the tutorial"})
    assert status == 503 and "disk is full" in json.loads(body)["error"]
    # Reading still works, and everything answered before is there, in a sound file.
    status, body = bob.request("/get_message_history", {"user_one": "alice", "user_two": "bob"})
    assert status == 200
    history = [m["message"] for m in json.loads(body)["history"]]
    assert history[:5] == before
    answered = before + [f"while full {n} " + "x" * 3000 for n, s in enumerate(statuses) if s == 303]
    assert stored(server, "alice", "bob") == answered == history
    assert bob.request("/chat/alice")[0] == 200  # opening it (a read marker it cannot write) still works
    new_file = conversations / pair_file(server.data_dir, "alice", "carol").name
    assert not new_file.exists() or new_file.stat().st_size == 0  # begun, with nothing in it

    filler.unlink()  # space is back: sends work again, with no restart
    assert send(alice, "bob", "after the space came back")[0] == 303
    assert send(alice, "carol", "a new conversation")[0] == 303
    assert stored(server, "alice", "bob") == answered + ["after the space came back"]
    assert stored(server, "alice", "carol") == ["a new conversation"]
