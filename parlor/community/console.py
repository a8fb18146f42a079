"""`parlor admin`: admin rights from the server's own shell, the only place they are given.

    parlor admin create NAME [--password P]   an account with admin rights, whatever --signup says
    parlor admin grant NAME                   give an existing account admin rights
    parlor admin revoke NAME                  take them away (the account stays)
    parlor admin list                         the admins, one a line
    parlor admin reset-link NAME              a one-time password-reset link for any account, an admin's too

Each takes the server's --data-dir (its embedded Redis: shared with a running server, or started
for the command and stopped after) or --redis-url, also as PARLOR_DATA_DIR and PARLOR_REDIS_URL.
Every change is an audit entry by "(console)".
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis.asyncio as aioredis

from parlor.accounts.accounts import Accounts
from parlor.accounts.password_resets import RESET_TTL_S, PasswordResets
from parlor.community.admins import Admins
from parlor.community.audit import CONSOLE, AuditLog
from parlor.infra.embedded_redis import EmbeddedRedis
from parlor.infra.startup import CannotStart
from parlor.refusals import Refused
from parlor.safety import Safety


def where_flags(defaults: bool) -> argparse.ArgumentParser:
    """--data-dir and --redis-url, before or after the command (after it: no defaults of its own,
    which would undo the ones given before it)."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--data-dir", type=Path,
                       default=Path(os.environ.get("PARLOR_DATA_DIR") or "data") if defaults else argparse.SUPPRESS,
                       help="the server's data dir, whose embedded Redis holds the accounts [env PARLOR_DATA_DIR]")
    where.add_argument("--redis-url", default=(os.environ.get("PARLOR_REDIS_URL") or None) if defaults else argparse.SUPPRESS,
                       help="the server's Redis, if it uses its own [env PARLOR_REDIS_URL]")
    where.add_argument("--redis-server", default=(os.environ.get("PARLOR_REDIS_SERVER") or None) if defaults else argparse.SUPPRESS,
                       help="the redis-server the data dir's Redis runs, if none runs now "
                            "(default: the one that owns it) [env PARLOR_REDIS_SERVER]")
    return where


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(prog="parlor admin", description="Admin rights, from the server's shell.",
                                       parents=[where_flags(defaults=True)])
    where = where_flags(defaults=False)
    actions = commands.add_subparsers(dest="action", required=True, metavar="create|grant|revoke|list|reset-link")
    create = actions.add_parser("create", parents=[where], help="make an account with admin rights")
    create.add_argument("name")
    create.add_argument("--password", help="its password (asked for when not given)")
    actions.add_parser("grant", parents=[where], help="give an account admin rights").add_argument("name")
    actions.add_parser("revoke", parents=[where], help="take an account's admin rights away").add_argument("name")
    actions.add_parser("list", parents=[where], help="list the admins")
    actions.add_parser("reset-link", parents=[where],
                       help="a one-time password-reset link (the only way to make one for an admin)").add_argument("name")
    return commands


def ask_password(name: str) -> str:
    """The new account's password, typed twice (read from stdin when it is not a terminal)."""
    first = getpass.getpass(f"Password for {name}: ")
    if sys.stdin.isatty() and getpass.getpass("The same again: ") != first:
        raise Refused("invalid", "The two passwords differ.")
    return first


async def run(args: argparse.Namespace) -> str:
    """Carry out one command; what to print."""
    embedded = None
    url = args.redis_url
    if not url and not args.data_dir.is_dir():
        raise CannotStart(f"there is no data dir at {args.data_dir.resolve()}: give the server's --data-dir "
                          "(or PARLOR_DATA_DIR), or run this in the folder the server runs in")
    password = None
    if args.action == "create":  # asked before Redis is joined: a console waiting for a typist holds nothing
        password = args.password if args.password is not None else ask_password(args.name)
    if not url:
        embedded = EmbeddedRedis(args.data_dir, args.redis_server)
        await embedded.start()  # a running server's Redis is shared, not started twice
        url = embedded.url
    client = aioredis.Redis.from_url(url, decode_responses=True, driver_info=None)
    hashing = ThreadPoolExecutor(1, thread_name_prefix="argon2")
    try:
        admins = Admins(client, Accounts(client, hashing, safety=Safety.unlimited(client)), AuditLog(client),
                        PasswordResets(client))
        if args.action == "create":
            return f"{await admins.create(CONSOLE, args.name, password)} is an admin now."
        if args.action == "grant":
            granted = await admins.grant(CONSOLE, args.name)
            return f"{args.name.lower()} is an admin now." if granted else f"{args.name.lower()} was an admin already."
        if args.action == "revoke":
            revoked = await admins.revoke(CONSOLE, args.name)
            return f"{args.name.lower()} is no longer an admin." if revoked else f"{args.name.lower()} was not an admin."
        if args.action == "reset-link":
            token = await admins.reset_link(CONSOLE, args.name)
            return (f"A link that sets a new password for {args.name.lower()}, once, within {RESET_TTL_S // 3600} hours "
                    f"(after your site's address): /password-reset?token={token}")
        return "\n".join(await admins.all()) or "There are no admins yet: parlor admin create NAME"
    finally:
        hashing.shutdown()
        await client.aclose()
        if embedded is not None:
            await embedded.stop()  # stops only a Redis no server is using


def main(argv: list[str]) -> int:
    """`parlor admin ...`; the exit status (0, or 1 with the reason on stderr)."""
    args = parser().parse_args(argv)
    try:
        print(asyncio.run(run(args)))
    except (Refused, CannotStart) as e:
        print(f"parlor admin {args.action}: {e}", file=sys.stderr)
        return 1
    return 0
