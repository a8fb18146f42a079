"""docs/deploy.md's install and upgrade as written, with Debian's pipx: in a git repository of its
own holding a copy of this checkout, a wheel is built and installed, a line is changed and
committed, the next wheel is built and installed with the documented upgrade line, and the
installed code is the new one."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # two builds, two pipx installs

PIPX = "/usr/bin/pipx"  # Debian 12's pipx 1.1, as docs/deploy.md uses it; the Makefile's test target installs it
# The docs' places, replaced by folders of the test's own.
DOCS_PIPX_HOME, DOCS_BIN_DIR = "/opt/pipx", "/usr/local/bin"
MARKER = "# upgraded by tests/web/test_upgrade.py"


def run(command, cwd: Path, env: dict | None = None, timeout: float = 600) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          shell=isinstance(command, str))
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def documented(kind: str) -> str:
    """docs/deploy.md's pipx line for a first install ("install") or an upgrade ("upgrade")."""
    lines = [line for line in (ROOT / "docs" / "deploy.md").read_text().splitlines()
             if line.startswith("PIPX_HOME=") and " pipx install " in line]
    wanted = [line for line in lines if ("--force" in line) == (kind == "upgrade")]
    assert len(wanted) == 1, f"docs/deploy.md should have one pipx line to {kind}: {lines}"
    return wanted[0]


def as_here(line: str, wheel: Path, pipx_home: Path, bin_dir: Path) -> str:
    """A documented pipx line with the test's folders and the wheel built here."""
    assert DOCS_PIPX_HOME in line and DOCS_BIN_DIR in line, line
    line = line.replace(DOCS_PIPX_HOME, str(pipx_home)).replace(DOCS_BIN_DIR, str(bin_dir))
    named = re.search(r"\./parlor-\S+\.whl", line)
    assert named, f"the documented line names no wheel: {line}"
    return line.replace(named.group(0), f"./{wheel.name}")


def build(source: Path, dist: Path) -> Path:
    """The wheel `make dist` builds (sdist first, the wheel from it), without make's set-up."""
    shutil.rmtree(dist, ignore_errors=True)
    run([sys.executable, "-m", "build", "--outdir", dist, source], cwd=source)
    (wheel,) = dist.glob("parlor-*.whl")
    return wheel


@pytest.fixture
def repository():
    """A new git repository with this checkout's files (committed or not, as git would list them)
    and the vendored front-end files, committed once."""
    folder = Path(tempfile.mkdtemp(prefix="parlor-upgrade-"))
    source = folder / "source"
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT).split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "static" / "vendor", source / "static" / "vendor")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    run(["git", "init", "-q"], cwd=source)
    run(["git", "add", "-A"], cwd=source)
    run([*git, "commit", "-q", "-m", "first"], cwd=source)
    yield folder, source, git
    shutil.rmtree(folder, ignore_errors=True)


def test_the_documented_upgrade_replaces_the_installed_code(repository):
    folder, source, git = repository
    pipx_home, bin_dir = folder / "pipx", folder / "bin"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PARLOR_", "PIPX_", "VIRTUAL_ENV"))},
           "PATH": "/usr/bin:/bin"}
    installed_server = pipx_home / "venvs" / "parlor" / "lib"

    first = build(source, folder / "dist")
    shutil.copy(first, folder)
    run(as_here(documented("install"), first, pipx_home, bin_dir), cwd=folder, env=env)
    first_version = run([bin_dir / "parlor", "--version"], cwd=folder, env=env).split()[1]
    assert f"parlor-{first_version}-" in first.name

    server_py = source / "server.py"
    server_py.write_text(server_py.read_text() + f"\n{MARKER}\n")
    run(["git", "add", "server.py"], cwd=source)
    run([*git, "commit", "-q", "-m", "a change"], cwd=source)
    second = build(source, folder / "dist")
    assert second.name != first.name
    shutil.copy(second, folder)
    run(as_here(documented("upgrade"), second, pipx_home, bin_dir), cwd=folder, env=env)

    second_version = run([bin_dir / "parlor", "--version"], cwd=folder, env=env).split()[1]
    assert f"parlor-{second_version}-" in second.name
    from packaging.version import Version

    assert Version(second_version) > Version(first_version)
    (installed,) = installed_server.glob("python3*/site-packages/parlor/web/server.py")
    assert installed.read_text().endswith(f"\n{MARKER}\n")
