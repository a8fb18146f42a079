"""server.py as `make run` starts it: embedded Redis supervision across real processes."""
import json
import os
import signal
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from parlor.game.ranking import MIN_GAMES
from parlor.infra.embedded_redis import pid_alive
from tests.helpers import Browser, ServerProcess, pair_messages, pair_rows, redis_pid

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir():
    import shutil

    directory = Path(tempfile.mkdtemp(prefix="parlor-srv-", dir="/tmp"))  # short: socket path limit
    yield directory / "data"
    shutil.rmtree(directory, ignore_errors=True)


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_killed_redis_turns_health_503_then_recovers_with_its_users(data_dir):
    server = ServerProcess(data_dir).start()
    try:
        browser = Browser(server.url)
        assert browser.request("/signup", {"username": "survivor", "password": "long enough"})[0] == 303
        os.kill(redis_pid(data_dir), signal.SIGKILL)
        assert server.health() == 503
        status, body = browser.request("/")  # a signed-in page needs its session from Redis
        assert status == 503 and "cannot reach its database" in body
        server.wait_healthy(30)  # the server restarted Redis by itself
        status, _ = Browser(server.url).request("/login", {"username": "survivor", "password": "long enough"})
        assert status == 303
    finally:
        server.stop()


def test_a_server_keeps_its_data_dir_private_and_tightens_an_older_one(data_dir):
    """On a shared host every local account could read the chats: started with a permissive
    umask, on a data dir an older version left readable, the server makes it private (one log
    line), and all it and its Redis write after is private too."""
    (data_dir / "conversations").mkdir(parents=True)
    (data_dir / "conversations" / "old_pair.db").write_text("")
    for path, mode in ((data_dir, 0o755), (data_dir / "conversations", 0o755),
                       (data_dir / "conversations" / "old_pair.db", 0o644)):
        os.chmod(path, mode)
    old_umask = os.umask(0o022)  # the server process inherits it
    try:
        server = ServerProcess(data_dir).start()
    finally:
        os.umask(old_umask)
    try:
        alice, bob = Browser(server.url), Browser(server.url)
        assert alice.request("/signup", {"username": "alice", "password": "long enough"})[0] == 303
        assert bob.request("/signup", {"username": "bob", "password": "long enough"})[0] == 303
        assert alice.request("/send_message/bob", {"author": "alice", "message": "a secret"})[0] == 200
        readable = {str(path.relative_to(data_dir)): oct(path.stat().st_mode & 0o777)
                    for path in [data_dir, *data_dir.rglob("*")]
                    if (path.is_dir() or path.is_file()) and path.stat().st_mode & 0o077}
        names = {path.name for path in data_dir.rglob("*")}
        assert {"alice_bob.db", "alice_bob.db-wal", "secret"} <= names
        assert any(name.startswith("appendonly") for name in names)  # Redis 6's file, or Redis 7's folder
        assert readable == {}
        assert "made 3 file(s) and folder(s)" in server.log_path.read_text()
    finally:
        server.stop()


def test_second_process_shares_redis_and_a_killed_owners_redis_is_adopted(data_dir):
    first = ServerProcess(data_dir).start()
    second = None
    try:
        pid = redis_pid(data_dir)
        second = ServerProcess(data_dir).start()
        assert redis_pid(data_dir) == pid  # no second Redis was started
        Browser(first.url).request("/signup", {"username": "shared", "password": "long enough"})
        status, _ = Browser(second.url).request("/login", {"username": "shared", "password": "long enough"})
        assert status == 303
        first.kill(signal.SIGKILL)
        assert pid_alive(pid)  # a killed server leaves its Redis running ...
        third = ServerProcess(data_dir).start()  # ... for the next one to adopt
        assert redis_pid(data_dir) == pid
        second.stop()
        third.stop()  # the last one out stops Redis, data saved
        wait_for(lambda: not pid_alive(pid))
        assert not (data_dir / "redis" / "redis.sock").exists()
    finally:
        first.stop()
        if second:
            second.stop()


def test_sigterm_stops_redis_and_the_data_is_back_after_restart(data_dir):
    server = ServerProcess(data_dir).start()
    Browser(server.url).request("/signup", {"username": "keeper", "password": "long enough"})
    pid = redis_pid(data_dir)
    server.stop()
    assert server.process.returncode == 0
    wait_for(lambda: not pid_alive(pid))
    server = ServerProcess(data_dir).start()
    try:
        status, _ = Browser(server.url).request("/login", {"username": "keeper", "password": "long enough"})
        assert status == 303
        health = json.loads(urllib.request.urlopen(server.url + "/healthz").read())
        # The server runs on uvloop's event loop (the tests' in-process apps run on asyncio's own).
        assert health == {"status": "ok", "redis": True, "data_dir_writable": True, "version": health["version"],
                          "event_loop": "uvloop"}
    finally:
        server.stop()


def test_a_stale_socket_is_cleaned_up_at_start(data_dir):
    (data_dir / "redis").mkdir(parents=True)
    (data_dir / "redis" / "redis.sock").write_text("")
    server = ServerProcess(data_dir).start()
    try:
        assert redis_pid(data_dir) is not None
    finally:
        server.stop()


def test_external_redis_url_starts_no_redis(data_dir, redis_url, redis_sync):
    server = ServerProcess(data_dir, "--redis-url", redis_url).start()
    try:
        assert not (data_dir / "redis").exists()
    finally:
        server.stop()


def test_a_score_recorded_on_one_process_is_in_the_others_cached_fragment_at_once(data_dir):
    import redis

    first = ServerProcess(data_dir).start()
    second = ServerProcess(data_dir).start()
    store = redis.Redis(unix_socket_path=str(data_dir / "redis" / "redis.sock"), decode_responses=True)
    def win(player) -> str:
        status, _ = player.request("/games", {"max": "10"})
        assert status == 303
        game_id = next(k for k in store.keys("game:*") if not k.endswith(":guesses") and
                       store.hget(k, "status") == "playing").split(":")[1]
        secret = store.hget(f"game:{game_id}", "secret")
        assert player.request(f"/games/{game_id}/guesses", {"guess": secret})[0] == 303
        return game_id

    try:
        regular = Browser(first.url)  # guests here share one entry: it is ranked from MIN_GAMES games
        for _ in range(MIN_GAMES - 1):
            win(regular)
        for round_number in range(10):
            with urllib.request.urlopen(second.url + "/scores/10/fragment") as response:
                before = response.read().decode()  # now cached on the second process
            player = Browser(first.url)
            game_id = win(player)
            name = f"round {round_number}"
            assert player.request(f"/games/{game_id}/name", {"name": name})[0] == 303
            with urllib.request.urlopen(second.url + "/scores/10/fragment") as response:
                after = response.read().decode()
            assert f'data-name="{name}"' in after and f'data-name="{name}"' not in before
    finally:
        store.close()
        first.stop()
        second.stop()


def test_every_answered_message_survives_a_sigkill_mid_stream(data_dir):
    import threading

    server = ServerProcess(data_dir, "--message-limit", "0").start()  # 500 sends as fast as they go
    alice = Browser(server.url)
    assert alice.request("/signup", {"username": "alice", "password": "long enough"})[0] == 303
    Browser(server.url).request("/signup", {"username": "bob", "password": "long enough"})
    answered, lock = [], threading.Lock()
    numbers = iter(range(500))

    def sender():
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            try:
                status, _ = alice.request("/send_message/bob", {"author": "alice", "message": f"message {n}",
                                                                "client_id": f"durable-{n:04d}"})
            except OSError:
                return  # the server is gone
            if status == 200:
                with lock:
                    answered.append(n)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(answered) >= 150, timeout=60)
    server.kill(signal.SIGKILL)  # mid-stream: other sends are in flight
    for thread in threads:
        thread.join(30)
    assert 150 <= len(answered) < 500
    server = ServerProcess(data_dir, port=server.port).start()  # the same address: the cookies still fit
    try:
        assert pair_rows(data_dir, "alice", "bob", "PRAGMA integrity_check") == [("ok",)]
        stored = {body for (body,) in pair_messages(data_dir, "alice", "bob", "body")}
        assert {f"message {n}" for n in answered} <= stored
        # The restarted server serves the same history.
        status, body = alice.request("/get_message_history", {"user_one": "alice", "user_two": "bob"})
        assert status == 200 and len(json.loads(body)["history"]) == len(stored)
    finally:
        server.stop()
