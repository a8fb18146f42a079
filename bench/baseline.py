"""The bare Tornado baseline: the least a Tornado server can do for the same requests, storing
nothing, with no session, no template, no Redis.

GET /fragment         a constant fragment (the bytes Parlor served for the same board); Tornado's
                      own ETag, so If-None-Match gets a 304
WS  /live?user=<name> a socket in one room (for the fanout) and in its user's room (for chat);
                      a frame {"to", "body"} from it is a message, delivered as POST /api/messages
                      delivers it, then the sender's socket is answered with a form
POST /api/messages    {"to", "body"} as JSON from "Authorization: Bearer <name>": the message is
                      written to the recipient's sockets as a JSON frame, then answered 201
POST /push            the constant fragment written to every open socket, answered 204

With --store DIR, POST /api/messages first commits the message to its pair's own SQLite file in
DIR (WAL, synchronous=FULL, one insert through aiosqlite, files kept open), as Parlor must: bare
Tornado plus the one cost per message that durable storage cannot avoid.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
from pathlib import Path

import aiosqlite
import tornado.web
import tornado.websocket
from markupsafe import escape


class Store:
    """Each pair's messages in its own SQLite file, committed before the push."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.files: dict[str, asyncio.Future] = {}

    async def _open(self, key: str) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.directory / f"{key}.db", isolation_level=None)
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, author TEXT, body TEXT)")
        return db

    async def commit(self, author: str, peer: str, body: str) -> int:
        key = "_".join(sorted((author, peer)))
        if key not in self.files:  # the first message of a pair opens its file, once
            self.files[key] = asyncio.ensure_future(self._open(key))
        db = await self.files[key]
        (row_id,) = await db.execute_insert("INSERT INTO messages (author, body) VALUES (?, ?)", (author, body))
        return row_id


SEND_ACK = json.dumps({"content": '<span id="send-state-x" class="status" hx-swap-oob="true">Sent</span>'})  # what a sender's socket is answered


def make_app(fragment: bytes, store: Store | None = None) -> tornado.web.Application:
    room: set = set()
    users: dict[str, set] = {}
    numbers = itertools.count(1)  # message ids when nothing is stored
    push_frame = json.dumps({"content": fragment.decode()})

    class FragmentHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(fragment)

    async def deliver(sender: str, to: str, body: str) -> None:
        if store is not None:
            message_id = await store.commit(sender, to, body)
        else:
            message_id = next(numbers)
        frame = json.dumps({"id": message_id, "kind": "message", "content": f'<p class="body">{escape(body)}</p>'})
        for socket in list(users.get(to, ())):
            socket.write_message(frame)

    class LiveHandler(tornado.websocket.WebSocketHandler):
        def open(self) -> None:
            self.user = self.get_query_argument("user", "")
            room.add(self)
            users.setdefault(self.user, set()).add(self)

        async def on_message(self, message) -> None:
            data = json.loads(message)  # {"to", "body"}: the message goes to "to", the sender is answered
            await deliver(self.user, data["to"], data["body"])
            self.write_message(SEND_ACK)

        def on_close(self) -> None:
            room.discard(self)
            sockets = users.get(self.user)
            if sockets is not None:
                sockets.discard(self)
                if not sockets:
                    del users[self.user]

    class MessagesHandler(tornado.web.RequestHandler):
        async def post(self) -> None:
            sender = self.request.headers.get("Authorization", "")[len("Bearer "):]
            data = json.loads(self.request.body)
            await deliver(sender, data["to"], data["body"])
            self.set_status(201)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"created": True, "from": sender, "to": data["to"]}))

    class PushHandler(tornado.web.RequestHandler):
        def post(self) -> None:
            for socket in list(room):
                socket.write_message(push_frame)
            self.set_status(204)
            self.finish()

    return tornado.web.Application([(r"/fragment", FragmentHandler), (r"/live", LiveHandler),
                                    (r"/api/messages", MessagesHandler), (r"/push", PushHandler)])


async def serve(port: int, fragment: bytes, store: Path | None) -> None:
    make_app(fragment, Store(store) if store else None).listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fragment-file", required=True)
    parser.add_argument("--store", type=Path, help="commit each message to its pair's SQLite file here first")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # as server.py does
    with open(args.fragment_file, "rb") as f:
        asyncio.run(serve(args.port, f.read(), args.store))
