"""/healthz: is this process able to serve? For load balancers and operators."""
from __future__ import annotations

import asyncio
import tempfile

from .base import BaseHandler


class HealthHandler(BaseHandler):
    answers_json = True

    async def prepare(self) -> None:
        pass  # no session: a health probe must not create or need one

    async def get(self) -> None:
        app = self.application
        redis_ok = await app.redis_answers()
        data_dir_ok = _writable(app.config.data_dir)
        self.set_header("Cache-Control", "no-store")
        self.write_json(
            {"status": "ok" if redis_ok and data_dir_ok else "unavailable",
             "redis": redis_ok, "data_dir_writable": data_dir_ok, "version": app.version,
             "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0]},
            status=200 if redis_ok and data_dir_ok else 503,
        )


def _writable(directory) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".healthz-"):
            return True
    except OSError:
        return False
