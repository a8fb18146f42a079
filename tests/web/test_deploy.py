"""docs/deploy.md as written: Debian's nginx with docs/nginx.conf in front of a real server, the
backup helper on a running server's data dir, and the version commands."""
import asyncio
import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import tornado.httpclient

from tests.helpers import (ROOT, ServerProcess, Visitor, free_port, next_frame, pair_messages, pair_rows, redis_pid,
                           send_message)
from tests.redis_servers import REDIS_SERVERS, aof_files, redis_server
from tests.web.test_server_process import Browser, wait_for

NGINX = "/usr/sbin/nginx"  # Debian's; the Makefile's test target installs it
DOCS = ROOT / "docs"


def fenced_blocks(markdown: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", markdown, re.S)


def test_deploy_md_shows_the_tested_files_verbatim():
    blocks = fenced_blocks((DOCS / "deploy.md").read_text())
    assert (DOCS / "nginx.conf").read_text() in blocks
    assert (DOCS / "nginx-main.conf").read_text() in blocks
    assert (DOCS / "parlor@.service").read_text() in blocks


# A version made from git (pyproject.toml): X.Y.Z for a tag, X.Y.Z.devN+g<hash>[.d<date>] after it.
GIT_VERSION = re.compile(r"\d+\.\d+\.\d+(\.dev\d+\+g[0-9a-f]{7,}(\.d\d{8})?)?")


@pytest.mark.slow
def test_version_commands_healthz_and_the_first_log_line_give_the_builds_version(short_tmp):
    installed = importlib.metadata.version("parlor")
    assert GIT_VERSION.fullmatch(installed), installed
    assert installed != "0.1.0"  # what every build was before versions came from git
    console_script = Path(sys.executable).parent / "parlor"
    for command in ([str(console_script), "--version"], [sys.executable, str(ROOT / "server.py"), "--version"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"parlor {installed}"
    server = ServerProcess(short_tmp / "data", "--log-format", "json").start()
    try:
        assert json.loads(urllib.request.urlopen(server.url + "/healthz").read())["version"] == installed
    finally:
        server.stop()
    first = json.loads(server.log_path.read_text().splitlines()[0])
    assert first["message"] == f"Parlor {installed} starting"


# -- nginx in front ----------------------------------------------------------------------------

NGINX_MAIN = """daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
{limits}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/parlor.conf;
}}
"""


def templated(conf: str, upstream_port: int, listen_port: int) -> str:
    """docs/nginx.conf with its two addresses changed, and nothing else."""
    for old, new in (("server 127.0.0.1:8888;", f"server 127.0.0.1:{upstream_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{listen_port};")):
        assert conf.count(old) == 1, f"docs/nginx.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    return conf


@pytest.fixture
def behind_nginx(tmp_path, redis_url, redis_sync):
    """A Parlor process as docs/deploy.md runs it, and nginx in front with docs/nginx.conf."""
    server = ServerProcess(tmp_path / "data", "--redis-url", redis_url, "--xheaders", "--log-format", "json",
                           "--access-log").start()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    (prefix / "parlor.conf").write_text(templated((DOCS / "nginx.conf").read_text(), server.port, port))
    (prefix / "nginx.conf").write_text(NGINX_MAIN.format(prefix=prefix, limits=(DOCS / "nginx-main.conf").read_text()))
    nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                              str(prefix / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert nginx.poll() is None, (prefix / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", server
    finally:
        nginx.send_signal(signal.SIGQUIT)  # graceful: open streams are closed
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        server.stop()


def secure_flags(response) -> dict[str, bool]:
    return {name: bool(morsel["secure"]) for header in response.headers.get_list("Set-Cookie")
            for name, morsel in SimpleCookie(header).items()}


@pytest.mark.slow
@pytest.mark.gen_test(timeout=60)
async def test_through_nginx_pages_forms_websocket_and_unbuffered_sse(behind_nginx):
    url, server = behind_nginx
    http = tornado.httpclient.AsyncHTTPClient()
    home = await http.fetch(url + "/")
    assert home.code == 200 and "<!doctype html>" in home.body.decode().lower()
    assert home.headers["Server"] == "nginx"  # no version (server_tokens off)
    assert home.headers.get_list("Strict-Transport-Security") == ["max-age=31536000"]  # once, nginx's

    # Forms with XSRF through the proxy; a client's own X-Forwarded-* are replaced by nginx's.
    alice, bob = Visitor(http, url), Visitor(http, url)
    spoofed = {"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7",
               "X-Forwarded-Proto": "https", "X-Scheme": "https", "X-Forwarded-Host": "evil.example"}
    assert secure_flags(await alice.get("/login", headers=spoofed)) == {"_xsrf": False}  # plain http
    assert (await alice.post("/signup", {"username": "alice", "password": "correct horse"}, xsrf=False)).code == 403
    await alice.sign_up("alice")
    await bob.sign_up("bob")

    # The WebSocket: upgraded by nginx, Origin matches the host the browser asked for.
    ws = await alice.live(origin=url)
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await alice.live(origin="http://evil.example")
    assert refused.value.code == 403
    sse = await alice.events()
    assert sse.status == 200
    await asyncio.sleep(0.3)  # both joined
    sent_at = time.monotonic()
    assert (await send_message(bob, "alice", "through the proxy")).code == 303
    event = await sse.next_event(timeout=5)
    took = time.monotonic() - sent_at
    assert event["id"] and "through the proxy" in event["data"]
    assert took < 2, f"the SSE event took {took:.2f} s: nginx buffered it"
    assert (await next_frame(ws))["kind"] == "message"
    ws.close()
    sse.close()

    # /metrics is not reachable through the public site, whatever the client claims.
    blocked = await http.fetch(url + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, raise_error=False)
    assert blocked.code == 404
    http.close()

    # The server's log: one JSON object per line; the address is nginx's view, not the client's claim.
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "tornado.access"]
    assert {line["remote_ip"] for line in access} == {"127.0.0.1"}
    assert any(line["route"] == "LiveSocket" and line["status"] == 101 for line in access)


async def open_stream(url: str) -> tuple[int, asyncio.StreamWriter]:
    """An anonymous GET /events left open: its status, and the connection that holds it."""
    parts = url.split("//", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(parts[0], int(parts[1]))
    writer.write(b"GET /events?boards=10 HTTP/1.1\r\nHost: parlor.example.org\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    return int(head.split()[1]), writer


@pytest.mark.slow
@pytest.mark.gen_test(timeout=120)
async def test_idle_anonymous_streams_from_one_address_do_not_take_the_site_down(behind_nginx):
    """800 idle anonymous streams from one address held nginx's 768 worker connections and
    nothing else was served. Parlor takes at most 60 anonymous connections from one address
    (429 for the others) and nginx at most 400 connections: 500 streams leave the site up."""
    url, _ = behind_nginx
    opened = await asyncio.gather(*(open_stream(url) for _ in range(500)), return_exceptions=True)
    statuses = [result[0] if isinstance(result, tuple) else type(result).__name__ for result in opened]
    http = tornado.httpclient.AsyncHTTPClient()
    try:
        served = [await http.fetch(url + "/", raise_error=False, request_timeout=10) for _ in range(20)]
        assert [page.code for page in served] == [200] * 20
        assert statuses.count(200) == 60 and statuses.count(429) == 440, sorted(set(map(str, statuses)))
    finally:
        for result in opened:
            if isinstance(result, tuple):
                result[1].close()
        http.close()


# -- backups ---------------------------------------------------------------------------------

@pytest.fixture
def short_tmp():
    import shutil

    directory = Path(tempfile.mkdtemp(prefix="parlor-bak-", dir="/tmp"))  # short: socket path limit
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("redis_name", REDIS_SERVERS)
def test_parlor_backup_while_sending_restores_to_a_working_server(short_tmp, redis_name):
    data_dir, copy_dir = short_tmp / "data", short_tmp / "copy"
    binary = redis_server(redis_name)
    server = ServerProcess(data_dir, "--redis-server", binary).start()
    alice = Browser(server.url)
    assert alice.request("/signup", {"username": "alice", "password": "long enough"})[0] == 303
    Browser(server.url).request("/signup", {"username": "bob", "password": "long enough"})
    answered, stop = [], threading.Event()

    def sender():
        n = 0
        while not stop.is_set():
            status, _ = alice.request("/send_message/bob", {"author": "alice", "message": f"m{n}"})
            if status == 200:
                answered.append(n)
            n += 1

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        wait_for(lambda: len(answered) >= 20)
        before = len(answered)
        done = subprocess.run([str(Path(sys.executable).parent / "parlor-backup"), str(copy_dir),
                               "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "conversations: 1 file(s)" in done.stdout
        wait_for(lambda: len(answered) >= before + 5)  # the server went on answering meanwhile
    finally:
        stop.set()
        thread.join(30)
        server.stop()
    assert pair_rows(copy_dir, "alice", "bob", "PRAGMA integrity_check") == [("ok",)]
    copied = [body for (body,) in pair_messages(copy_dir, "alice", "bob", "body")]
    assert copied[:before] == [f"m{n}" for n in range(before)]  # all answered before the backup began
    assert aof_files(copy_dir / "redis") == aof_files(data_dir / "redis") != []
    assert (copy_dir / "secret").read_text() == (data_dir / "secret").read_text()
    # The copy names the Redis that reads it, so the restored server runs that one by itself.
    assert (copy_dir / "redis" / "server.json").read_text() == (data_dir / "redis" / "server.json").read_text()

    restored = ServerProcess(copy_dir, port=server.port).start()  # the same address: cookies still fit
    try:
        status, body = alice.request("/get_message_history", {"user_one": "alice", "user_two": "bob"})
        assert status == 200 and [m["message"] for m in json.loads(body)["history"]] == copied
        fresh = Browser(restored.url)
        assert fresh.request("/login", {"username": "bob", "password": "long enough"})[0] == 303
        assert Path(os.readlink(f"/proc/{redis_pid(copy_dir)}/exe")) == Path(binary).resolve()
    finally:
        restored.stop()


def test_parlor_backup_refuses_a_folder_that_is_not_empty(tmp_path):
    from parlor.infra.backup import BackupError, backup

    (tmp_path / "data").mkdir()
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "file").write_text("keep me")
    with pytest.raises(BackupError):
        backup(tmp_path / "data", tmp_path / "copy", log=lambda _: None)
    assert (tmp_path / "copy" / "file").read_text() == "keep me"


def test_the_backup_steps_make_the_folder_the_parlor_user_writes_its_copies_into():
    """parlor-backup runs as the parlor user, who cannot make /backup: the steps make it first."""
    (block,) = [block for block in fenced_blocks((DOCS / "deploy.md").read_text()) if "parlor-backup" in block]
    lines = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    backup = next(i for i, line in enumerate(lines) if " parlor-backup " in line)
    destination = lines[backup].split("parlor-backup ")[1].split()[0]
    parent = destination.rsplit("/", 1)[0]
    assert lines[backup].startswith("sudo -u parlor ")
    assert f"install -d -o parlor -g parlor -m 700 {parent}" in lines[:backup]
