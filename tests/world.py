"""A populated Parlor for table-driven tests: one real server process (its own data dir and
embedded Redis) per test module, with people, a conversation, games and an API token in it.
Each test gets visitors that copy the module's cookies, so what one test's answers set does
not leak into the next; the tests check that refused requests change nothing stored anyway."""
from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

import redis
import redis.asyncio as aioredis
import tornado.httpclient
import tornado.web

from parlor.accounts.sessions import Sessions
from parlor.accounts.usernames import look_alike_index_key
from parlor.infra.config import NO_LIMITS, as_flags
from tests.helpers import ServerProcess, Visitor, chat_dir, multipart, password_hash

PEOPLE = ("alice", "bob", "carol", "admin")  # signed in; "guest" has only a guest session, "anon" nothing
TOKEN_RE = re.compile(r'id="new-token" class="token" readonly value="([^"]+)"')
# Bookkeeping that any request may touch; a refused request must leave everything else alone.
# A sign-up or a password check is counted per address whether it succeeds or not; every process
# beats in the registry of processes each second.
VOLATILE_KEYS = ("session:", "user-sessions:", "login-attempts:", "rate:signups:", "rate:logins:", "presence:",
                 "conns:", "online", "typing:", "parlor:processes")


class World:
    def __init__(self, server: ServerProcess):
        self.server = server
        self.base_url = server.url
        self.data_dir = server.data_dir
        self.redis_socket = str(server.data_dir / "redis" / "redis.sock")
        self.redis = redis.Redis(unix_socket_path=self.redis_socket, decode_responses=True)
        self.secret = (server.data_dir / "secret").read_text().strip()
        self.cookies: dict[str, dict[str, str]] = {}
        self.ids: dict[str, str] = {"base_url": server.url}

    @classmethod
    def start(cls, *flags: str) -> "World":
        directory = Path(tempfile.mkdtemp(prefix="parlor-world-", dir="/tmp"))  # short: socket path limit
        world = cls(ServerProcess(directory / "data", "--eliza-delay", "0", *as_flags(NO_LIMITS), *flags).start())
        asyncio.run(world._populate())
        return world

    def stop(self) -> None:
        self.redis.close()
        self.server.stop()
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def path(self, template: str) -> str:
        return template.format(**self.ids)

    def visitors(self, http_client) -> dict[str, Visitor]:
        """A visitor per person, with copies of their cookies."""
        visitors = {}
        for who in (*PEOPLE, "guest", "anon"):
            visitors[who] = Visitor(http_client, self.base_url)
            visitors[who].cookies = dict(self.cookies[who])
        return visitors

    async def signed_in(self, http_client, user: str | None) -> Visitor:
        """A visitor with a brand-new session of `user` (so a test may log it out), or a new
        guest session (user None)."""
        store = aioredis.Redis(unix_socket_path=self.redis_socket, decode_responses=True)
        try:
            session_id, _ = await Sessions(store).create(**({"user": user} if user else {}))
        finally:
            await store.aclose()
        visitor = Visitor(http_client, self.base_url)
        visitor.cookies["parlor_session"] = tornado.web.create_signed_value(
            self.secret, "parlor_session", session_id).decode()
        await visitor.get("/login")  # the XSRF cookie
        return visitor

    async def _populate(self) -> None:
        http = tornado.httpclient.AsyncHTTPClient()
        for name in PEOPLE:
            self.redis.hset(f"user:{name}", mapping={"password_hash": password_hash(), "created_at": "0"})
            self.redis.set(look_alike_index_key(name), name)  # as a sign-up keeps it
        people = {name: await self.signed_in(http, name) for name in PEOPLE}
        people["guest"], people["anon"] = Visitor(http, self.base_url), Visitor(http, self.base_url)
        await people["anon"].get("/login")
        for sender, peer, text in (("alice", "bob", "hello bob"), ("bob", "alice", "hello alice")):
            assert (await send(people[sender], peer, text)).code == 303
        assert (await send(people["alice"], "bob", "", picture())).code == 303
        self.ids["done"] = await start(people["alice"])
        await self.win(people["alice"], self.ids["done"])
        self.ids["game"] = await start(people["alice"])  # after: one open game per board and player
        self.ids["won"] = await start(people["guest"])  # the guest's session comes with its first game
        await self.win(people["guest"], self.ids["won"])
        response = await people["alice"].post("/account/token", {"action": "new", "password": "correct horse"})
        self.ids["token"] = TOKEN_RE.search(response.body.decode()).group(1)
        self.cookies = {who: dict(v.cookies) for who, v in people.items()}
        http.close()

    async def win(self, visitor: Visitor, game_id: str) -> None:
        secret = self.redis.hget(f"game:{game_id}", "secret")
        assert (await visitor.post(f"/games/{game_id}/guesses", {"guess": secret})).code == 303

    def snapshot(self) -> tuple[dict, dict]:
        """Everything stored that a refused request must leave alone: Redis, and every chat file."""
        store = self.redis
        read = {"string": store.get, "hash": store.hgetall, "list": lambda k: store.lrange(k, 0, -1),
                "set": lambda k: sorted(store.smembers(k)), "stream": store.xrange,
                "zset": lambda k: store.zrange(k, 0, -1, withscores=True)}
        keys = {}
        for key in store.scan_iter(count=1000):
            if not key.startswith(VOLATILE_KEYS):
                kind = store.type(key)
                keys[key] = (kind, read[kind](key))
        files = {}
        for path in sorted(chat_dir(self.data_dir).glob("*.db")):
            with sqlite3.connect(path) as db:
                files[path.name] = [db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                                    for table in ("messages", "read_markers")]
                files[path.name].append(db.execute("SELECT id, sha256 FROM images ORDER BY id").fetchall())
        return keys, files


async def start(visitor: Visitor, board: int = 10) -> str:
    response = await visitor.post("/games", {"max": str(board)})
    assert response.code == 303, response.body
    return response.headers["Location"].rsplit("/", 1)[1]


async def send(visitor: Visitor, peer: str, body: str = "", image: bytes | None = None, client_id: str | None = None):
    """The send form of the conversation page (multipart, its XSRF token in the address)."""
    import os

    fields = {"body": body, "client_id": client_id or os.urandom(12).hex()}
    data, content_type = multipart(fields, {"image": ("p.png", "image/png", image)} if image else None)
    return await visitor.fetch(f"/chat/{peer}/messages?_xsrf={quote(visitor.cookies['_xsrf'])}", "POST", data,
                               {"Content-Type": content_type})


def picture() -> bytes:
    import io

    import PIL.Image

    out = io.BytesIO()
    PIL.Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()
