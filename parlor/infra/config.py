"""All of Parlor's settings in one dataclass, filled from flags and PARLOR_* environment variables."""
from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from parlor.infra.private_files import private_dir
from parlor.infra.workers import worker_count

MAX_BOARD = 9_999_999  # a guess has at most 7 digits
SECRET_BYTES = 32  # 256 bits signs the session cookie; more adds nothing
MAX_RATE_COUNT = 1_000_000  # a rate limit's count; more is no limit in practice: say 0
MAX_RATE_SECONDS = 7 * 86400  # a rate limit's window; a longer one is a ban, not a rate
SIGNUP_MODES = ("open", "invite", "closed")


@dataclass(frozen=True)
class Rate:
    """A rate limit: `count` actions at once, then `count` more every `seconds` (a token bucket);
    a count of 0 is no limit."""

    count: int
    seconds: int

    @property
    def unlimited(self) -> bool:
        return self.count == 0

    def __str__(self) -> str:
        return "0" if self.unlimited else f"{self.count}/{self.seconds}"

    @classmethod
    def parse(cls, raw: str) -> "Rate":
        """COUNT/SECONDS ("20/10": 20 in 10 s), or 0 for no limit."""
        text = raw.strip()
        if text == "0":
            return cls(0, 0)
        count, _, seconds = text.partition("/")
        if not (count.isdigit() and count.isascii() and seconds.isdigit() and seconds.isascii()
                and 1 <= int(count) <= MAX_RATE_COUNT and 1 <= int(seconds) <= MAX_RATE_SECONDS):
            raise ValueError(f"a limit is COUNT/SECONDS like 20/10 (count 1 to {MAX_RATE_COUNT}, "
                             f"seconds 1 to {MAX_RATE_SECONDS}), or 0 for no limit")
        return cls(int(count), int(seconds))


NO_LIMIT = Rate(0, 0)


def _flag(help_text: str, default, **extra):
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass(frozen=True)
class Config:
    """Settings of one server process; every field is a flag and a PARLOR_<NAME> variable."""

    address: str = _flag("address to listen on", "127.0.0.1")
    port: int = _flag("port to listen on", 8888)
    data_dir: Path = _flag("runtime state: redis/, conversations/, secret", Path("data"))
    workers: str = _flag(
        "server processes forked on the one port, sharing the one Redis and data dir, supervised "
        "(a dead one is replaced): a number, or auto (one per core)", "1")
    redis_url: str | None = _flag(
        "use this Redis (redis://, rediss:// or unix://) instead of starting a private one", None
    )
    redis_durability: str = _flag(
        "with --redis-url: refuse to start on a Redis whose settings could lose or evict acknowledged writes "
        "(appendonly, appendfsync, maxmemory-policy), or warn and start", "refuse", choices=("refuse", "warn"))
    redis_server: str | None = _flag(
        "the redis-server (or valkey-server) binary the embedded Redis runs (default: the one that owns "
        "DATA_DIR/redis, else redis-server on PATH, else the wheel's Redis 6.2); one that cannot read the "
        "data there is refused", None
    )
    cookie_secret: str | None = _flag(
        "key that signs cookies (default: made once and kept in DATA_DIR/secret)", None
    )
    allowed_origins: tuple[str, ...] = _flag(
        "other origins allowed to open the WebSocket, comma-separated (e.g. https://example.org)", ()
    )
    boards: tuple[int, ...] = _flag(
        "the games' maximums, one leaderboard each, comma-separated", (10, 25, 100, 1000)
    )
    chat_max_open: int = _flag(
        "chat files kept open at most (least used close first); each holds three descriptors and a thread "
        "(the file, its -wal and its -shm)", 256
    )
    eliza_delay: float = _flag("scale of ELIZA's thinking time (0 answers at once)", 1.0)
    events_max: int = _flag("events kept per user for clients that reconnect (the oldest go first)", 1000)
    events_max_age: int = _flag("seconds an event is kept for clients that reconnect", 86400)
    poll_timeout: float = _flag("seconds a long poll (/poll) waits for an event before answering empty", 25.0)
    max_connections_per_user: int = _flag(
        "live connections (sockets, event streams, polls) one user may hold, on all processes", 20
    )
    # One address holding hundreds of idle streams took the site down. 300: a class of 30 behind
    # one address (a school's NAT), each with up to 10 tabs; 60 without an account: 30 guests with
    # two tabs each, so that an anonymous flood is stopped early. 0: no limit.
    max_connections_per_address: int = _flag(
        "live connections from one IP address (IPv6: one /64), on all processes (0: no limit)", 300)
    max_anonymous_connections_per_address: int = _flag(
        "live connections without an account from one IP address (0: no limit)", 60)
    # Rate limits, kept in Redis so every process counts together. COUNT/SECONDS allows COUNT at
    # once and then COUNT more every SECONDS; 0 switches a limit off (benchmarks, load tests).
    message_limit: Rate = _flag("chat messages one user may send, COUNT/SECONDS (0: no limit)", Rate(20, 10))
    conversation_limit: Rate = _flag(
        "new conversations one user may start, COUNT/SECONDS (0: no limit)", Rate(30, 3600))
    image_limit: Rate = _flag("pictures one user may send, COUNT/SECONDS (0: no limit)", Rate(10, 60))
    signup_limit: Rate = _flag("sign-ups from one IP address, COUNT/SECONDS (0: no limit)", Rate(5, 3600))
    login_limit: Rate = _flag(
        "password checks (logins, and the account page's forms) from one IP address, COUNT/SECONDS (0: no limit)",
        Rate(30, 60))
    guess_limit: Rate = _flag("guesses in one game, COUNT/SECONDS (0: no limit)", Rate(10, 1))
    game_limit: Rate = _flag(
        "games one visitor (a session, or a signed-in user) may start, COUNT/SECONDS (0: no limit)", Rate(20, 60))
    game_address_limit: Rate = _flag(
        "games started from one IP address (IPv6: one /64), COUNT/SECONDS (0: no limit); "
        "a class behind one address shares it", Rate(120, 60))
    report_limit: Rate = _flag("reports one user may file, COUNT/SECONDS (0: no limit)", Rate(10, 3600))
    guest_name_limit: Rate = _flag(
        "guest names for the boards refused from one IP address (taken, or like a username), COUNT/SECONDS "
        "(0: no limit); past it every name is refused alike, so names cannot be tried out", Rate(20, 3600))
    export_limit: Rate = _flag(
        "downloads of their data (/account/data) one user may start, COUNT/SECONDS (0: no limit)", Rate(3, 3600))
    search_limit: Rate = _flag(  # each opens up to 100 files (parlor/chat/search.py SEARCH_WINDOW)
        "searches of all conversations one user may make, COUNT/SECONDS (0: no limit)", Rate(30, 60))
    signup: str = _flag(
        "who may make an account: open (anyone), invite (with an admin's invite link), closed (admins only)",
        "open", choices=SIGNUP_MODES)
    guest_boards: str = _flag(
        "on: guests' games count for a guest entry per address on the boards; off: only accounts are ranked",
        "on", choices=("on", "off"))
    xheaders: bool = _flag(
        "trust X-Forwarded-For/-Proto/-Host from a reverse proxy in front of Parlor", False
    )
    access_log: bool = _flag(
        "log every request (errors, refusals and slow requests are always logged)", False
    )
    log_format: str = _flag(
        "text, or json: every log line (the access log too) one JSON object", "text", choices=("text", "json")
    )
    metrics_allow: tuple[str, ...] = _flag(
        "networks that may read /metrics, comma-separated (empty: nobody)", ("127.0.0.0/8", "::1/128")
    )
    debug: bool = _flag("autoreload and tracebacks in error pages; never in production", False)

    def __post_init__(self) -> None:
        for name, low, high in (("events_max", 1, 1_000_000), ("events_max_age", 60, 30 * 86400),
                                ("poll_timeout", 1, 300), ("max_connections_per_user", 1, 100_000),
                                ("max_connections_per_address", 0, 1_000_000),
                                ("max_anonymous_connections_per_address", 0, 1_000_000),
                                ("chat_max_open", 1, 100_000)):
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"--{name.replace('_', '-')} must be from {low} to {high}")
        if self.log_format not in ("text", "json"):
            raise ValueError("--log-format must be text or json")
        if self.signup not in SIGNUP_MODES:
            raise ValueError("--signup must be open, invite or closed")
        worker_count(self.workers)  # a number from 1 to MAX_WORKERS, or auto
        if self.redis_durability not in ("refuse", "warn"):
            raise ValueError("--redis-durability must be refuse or warn")
        if self.guest_boards not in ("on", "off"):
            raise ValueError("--guest-boards must be on or off")
        for network in self.metrics_allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"--metrics-allow: {network!r} is not a network like 10.0.0.0/8") from None

    @property
    def guest_entries(self) -> bool:
        """Whether guests' games count for guest entries on the boards (--guest-boards on)."""
        return self.guest_boards == "on"

    def rate_limits(self) -> dict[str, Rate]:
        """The rate limits, by the names parlor/safety.py knows them by."""
        return {"messages": self.message_limit, "conversations": self.conversation_limit,
                "images": self.image_limit, "signups": self.signup_limit, "logins": self.login_limit,
                "guesses": self.guess_limit, "games": self.game_limit,
                "game_addresses": self.game_address_limit, "reports": self.report_limit,
                "guest_names": self.guest_name_limit, "exports": self.export_limit,
                "searches": self.search_limit}

    @property
    def secret_path(self) -> Path:
        return self.data_dir / "secret"

    def with_secret(self) -> "Config":
        """Return a copy whose cookie_secret is set, made once and kept in data/secret if none was given."""
        if self.cookie_secret:
            return self
        return dataclasses.replace(self, cookie_secret=load_or_make_secret(self.secret_path))

    @classmethod
    def from_args(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> "Config":
        """Build a Config from command-line flags, falling back to PARLOR_* variables, then defaults."""
        environ = os.environ if environ is None else environ
        parser = argparse.ArgumentParser(
            prog="parlor",
            description="Parlor: a number-guessing game with live leaderboards and one-to-one chat.",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        parser.add_argument("--version", action="version", version=f"parlor {installed_version()}")
        for f in dataclasses.fields(cls):
            env_name = "PARLOR_" + f.name.upper()
            default = environ.get(env_name)
            default = f.default if default is None else _parse(f.type, default)
            help_text = f"{f.metadata['help']} [env {env_name}]"
            flag = "--" + f.name.replace("_", "-")
            if f.type == "bool":
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
            else:
                parser.add_argument(flag, type=_converter(f.type), default=default, help=help_text,
                                    choices=f.metadata.get("choices"))
        args = parser.parse_args(argv)
        try:
            return cls(**vars(args))
        except ValueError as e:
            parser.error(str(e))


# Every rate limit and per-address cap off: load tests and benchmarks measure serving, not refusing
# (a few users send thousands of messages, play 1,000-guess games and open thousands of sockets
# from one address).
NO_LIMITS: dict[str, Rate | int] = {**{f.name: NO_LIMIT for f in dataclasses.fields(Config) if f.type == "Rate"},
                                    "max_connections_per_address": 0, "max_anonymous_connections_per_address": 0}


def as_flags(settings: Mapping[str, object]) -> tuple[str, ...]:
    """The command-line flags that give a server process these settings (`--name=value`)."""
    return tuple(f"--{name.replace('_', '-')}={value}" for name, value in settings.items())


def installed_version() -> str:
    """The installed build's version, from git at build time (read from the package's metadata; a
    checkout's editable install records it at `make setup`)."""
    try:
        return importlib.metadata.version("parlor")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"  # a checkout that was never installed (`pip install -e .` records it)


def _converter(type_name: str):
    def convert(raw: str):
        try:
            return _parse(type_name, raw)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = type_name
    return convert


def _parse(type_name: str, raw: str):
    """Turn one flag or environment value into the field's type."""
    if type_name == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
    if type_name == "Path":
        return Path(raw)
    if type_name == "Rate":
        return Rate.parse(raw)
    if type_name.startswith("tuple[int"):
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if not parts or not all(p.isdigit() and p.isascii() and 2 <= int(p) <= MAX_BOARD for p in parts):
            raise ValueError(f"each board is a whole number from 2 to {MAX_BOARD}")
        values = tuple(int(p) for p in parts)
        return tuple(sorted(set(values)))
    if type_name.startswith("tuple"):
        return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    return raw or None


def load_or_make_secret(path: Path) -> str:
    """Read the cookie secret from path, creating it (mode 0600) on first use."""
    return kept_in_file(path, lambda: secrets.token_urlsafe(SECRET_BYTES))


def kept_in_file(path: Path, make: Callable[[], str]) -> str:
    """The value kept in path, made by make() and written (mode 0600) the first time."""
    private_dir(path.parent)
    try:
        kept = path.read_text().strip()
        if kept:
            return kept
    except FileNotFoundError:
        pass
    value = make()
    # O_EXCL: two processes starting at once on a new data dir agree on one value
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
