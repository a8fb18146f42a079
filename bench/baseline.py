"""The bare Tornado baseline: the least a Tornado server can do for the same request.

GET /fragment answers a constant fragment (the bytes Parlor served for the same board), with no
storage, no session, no template.
"""
import argparse
import asyncio

import tornado.web


def make_app(fragment: bytes) -> tornado.web.Application:
    class FragmentHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(fragment)

    class SendHandler(tornado.web.RequestHandler):
        """Takes a chat message's form and stores nothing."""

        def post(self, peer: str) -> None:
            self.get_body_argument("message")
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(b'{"success": true}')

    return tornado.web.Application([(r"/fragment", FragmentHandler), (r"/send_message/(.*)", SendHandler)])


async def serve(port: int, fragment: bytes) -> None:
    make_app(fragment).listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fragment-file", required=True)
    args = parser.parse_args()
    with open(args.fragment_file, "rb") as f:
        asyncio.run(serve(args.port, f.read()))
