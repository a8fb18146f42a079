"""`parlor admin create|grant|revoke|list` against a real server process and its data dir (the
embedded Redis it shares), and with no server running (the command starts that Redis and stops it
again). Admins see an "Admin" link and /admin; a revoked admin gets 404 there at once, in the
session they are in. Every admin action is in the audit log, and the server's are JSON log lines too."""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from parlor.infra.embedded_redis import pid_alive
from tests.helpers import ROOT, Browser, ServerProcess, redis_pid

pytestmark = pytest.mark.slow


def admin_command(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "server.py"), "admin", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60, input=stdin, cwd=ROOT)


@pytest.fixture
def folder():
    directory = Path(tempfile.mkdtemp(prefix="parlor-console-", dir="/tmp"))  # short: socket path limit
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_admin_commands_on_a_running_server(folder):
    server = ServerProcess(folder / "data", "--log-format", "json").start()
    try:
        made = admin_command(server.data_dir, "create", "Boss", "--password", "correct horse")
        assert made.returncode == 0 and made.stdout.strip() == "boss is an admin now."
        boss, plain = Browser(server.url), Browser(server.url)
        assert boss.request("/login", {"username": "boss", "password": "correct horse"})[0] == 303
        status, page = boss.request("/")
        assert '<a href="/admin">Admin<span id="open-reports"' in page
        assert boss.request("/admin")[0] == 200
        assert plain.request("/signup", {"username": "pupil", "password": "correct horse"})[0] == 303
        status, page = plain.request("/admin")
        assert status == 404 and 'href="/admin"' not in plain.request("/")[1]

        assert admin_command(server.data_dir, "grant", "pupil").stdout.strip() == "pupil is an admin now."
        assert plain.request("/admin")[0] == 200  # at once, in the session it has
        assert admin_command(server.data_dir, "list").stdout.split() == ["boss", "pupil"]
        assert admin_command(server.data_dir, "revoke", "pupil").stdout.strip() == "pupil is no longer an admin."
        status, page = plain.request("/admin")
        assert status == 404 and "There is nothing here." in page  # the same 404 as an unknown address
        assert plain.request("/no-such-page")[1].split("<main")[1] == page.split("<main")[1]
        refused = admin_command(server.data_dir, "grant", "nobody")
        assert refused.returncode == 1 and "There is no account named nobody" in refused.stderr
        taken = admin_command(server.data_dir, "create", "boss", "--password", "correct horse")
        assert taken.returncode == 1 and "is taken" in taken.stderr

        assert boss.request("/admin/users/pupil/suspension", {"action": "suspend", "length": "3600",
                                                              "reason": "Testing the log."})[0] == 200
        status, log_page = boss.request("/admin/log")
        for action in ("made an admin account", "granted admin rights", "revoked admin rights", "suspended"):
            assert action in log_page
        time.sleep(0.2)
        lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
        (audited,) = [line["audit"] for line in lines if "audit" in line]  # the server's; the console's are printed
        assert (audited["admin"], audited["action"], audited["target"]) == ("boss", "suspended", "pupil")
        assert audited["reason"] == "Testing the log." and audited["at_ms"] > 0
    finally:
        server.stop()


def test_the_first_admin_is_made_before_the_server_ever_ran(folder):
    data_dir = folder / "data"
    data_dir.mkdir()  # empty, as docs/deploy.md makes it
    made = admin_command(data_dir, "create", "first", stdin="correct horse\n")  # the password on stdin, asked for
    assert made.returncode == 0, made.stderr
    assert redis_pid(data_dir) is None  # the Redis it started for itself is stopped again
    server = ServerProcess(data_dir).start()
    try:
        first = Browser(server.url)
        assert first.request("/login", {"username": "first", "password": "correct horse"})[0] == 303
        assert first.request("/admin")[0] == 200
    finally:
        server.stop()
    pid = redis_pid(data_dir)
    assert pid is None or not pid_alive(pid)
