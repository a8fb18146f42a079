"""Crashes under load: the server SIGKILLed five times at random moments, and its Redis SIGKILLed
once. Afterwards every message and score the server acknowledged is there, every chat file
passes PRAGMA integrity_check, and clients that reconnected with their last event id received
every acknowledged message of theirs exactly once. Each test prints a summary line (run with
-s to see it); docs/reliability.md quotes the latest."""
from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
import redis

from bench.common import cpu_seconds
from bench.load import Load, make_people
from parlor.infra.config import NO_LIMITS, as_flags
from tests.helpers import ServerProcess, chat_dir, redis_pid

pytestmark = pytest.mark.slow

CHAT_USERS = 50
RATE = 300  # messages per second offered, open loop, spread over the 50 users
PLAYERS = 5  # signed-in players finishing games on board 10 all the while
KILLS = 5
REDIS_TIMEOUT_S = 5  # server.REDIS_TIMEOUT_S: a request waiting on a dead Redis gives up then


@pytest.fixture
def data_dir():
    directory = Path(tempfile.mkdtemp(prefix="parlor-crash-", dir="/tmp"))  # short: socket path limit
    yield directory / "data"
    shutil.rmtree(directory, ignore_errors=True)


async def loaded_server(data_dir: Path) -> tuple[ServerProcess, Load]:
    server = ServerProcess(data_dir, "--eliza-delay", "0", *as_flags(NO_LIMITS)).start()
    names = [f"user-{i:02d}" for i in range(CHAT_USERS)]
    players = [f"player-{i}" for i in range(PLAYERS)]
    people = await make_people(f"unix://{data_dir}/redis/redis.sock", (data_dir / "secret").read_text().strip(),
                               names + players)
    # Four of the chat users also follow their events: two on a WebSocket, two by long polling.
    load = Load(server.url, people, names, players, socket_watchers=names[:2], poll_watchers=names[2:4], rate=RATE)
    return server, load


def check_everything_acknowledged_is_there(data_dir: Path, load: Load) -> dict:
    """Messages in their pairs' files (sound ones), scores on the board; returns the counts."""
    stored: set[str] = set()
    files = sorted(chat_dir(data_dir).glob("*.db"))
    for path in files:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path
            stored |= {cid for (cid,) in db.execute("SELECT client_id FROM messages")}
    lost_messages = load.acknowledged - stored
    store = redis.Redis(unix_socket_path=str(data_dir / "redis" / "redis.sock"), decode_responses=True)
    try:
        lost_scores = []
        for player, counts in load.scores.items():  # the best acknowledged win is the entry's best game
            best = store.hget(f"scores:10:entry:u:{player}", "guesses")
            if best is None or int(best) > min(counts):
                lost_scores.append(player)
    finally:
        store.close()
    summary = {
        "messages_answered": len(load.acknowledged), "messages_found": len(load.acknowledged & stored),
        "messages_lost": len(lost_messages), "messages_attempted": len(load.sent),
        "scores_answered": sum(len(c) for c in load.scores.values()), "players_lost_a_score": len(lost_scores),
        "chat_files_ok": len(files), "chat_statuses": dict(load.chat.statuses),
        "game_statuses": dict(load.games.statuses), "live": dict(load.live.statuses),
        "slowest_request_s": round(max(load.chat.slowest_s, load.games.slowest_s), 2),
        "events_received": {w: len(ids) for w, ids in load.event_ids.items()}, "reloads": load.reloads,
    }
    assert not lost_messages and not lost_scores, summary
    return summary


def check_watchers(load: Load, caught_up: bool, summary: dict) -> None:
    """Every acknowledged message of each watcher arrived, once (event ids only grow, checked as
    they came); what arrived was stored; no cursor was answered with a reload."""
    assert caught_up, {w: len(load.expected_by(w) - set(got)) for w, got in load.received.items()}
    for watcher, got in load.received.items():
        assert len(got) == len(set(got)), f"{watcher} received a message twice"
        assert load.expected_by(watcher), f"{watcher} had nothing to receive"
    assert load.reloads == 0, summary


@pytest.mark.gen_test(timeout=300)
async def test_five_sigkills_of_the_server_lose_nothing_acknowledged(data_dir):
    server, load = await loaded_server(data_dir)
    try:
        loop = asyncio.get_running_loop()
        moments = [round(random.uniform(1.0, 3.0), 2) for _ in range(KILLS)]
        restarts = []
        started = time.monotonic()
        load.start()
        try:
            for moment in moments:
                await asyncio.sleep(moment)
                server.kill(signal.SIGKILL)  # its Redis lives on, and is adopted by the next one
                killed = time.monotonic()
                server = ServerProcess(data_dir, "--eliza-delay", "0", *as_flags(NO_LIMITS), port=server.port)
                await loop.run_in_executor(None, server.start)
                restarts.append(round(time.monotonic() - killed, 2))
            await asyncio.sleep(2)
            seconds = time.monotonic() - started
            await load.stop_sending()
            caught_up = await load.caught_up()
        finally:
            await load.stop()
        summary = check_everything_acknowledged_is_there(data_dir, load)
        up_s = seconds - sum(restarts)
        summary.update(test="server SIGKILL", kills=KILLS, kill_after_s=moments, restart_s=restarts,
                       offered_rate=RATE, answered_per_s_while_up=round(len(load.acknowledged) / up_s))
        print("\nCRASH-TEST", json.dumps(summary))
        check_watchers(load, caught_up, summary)
        assert "500" not in load.chat.statuses and "500" not in load.games.statuses, summary
    finally:
        server.stop()  # the one running now


@pytest.mark.gen_test(timeout=300)
async def test_a_sigkilled_redis_means_503s_then_recovery_and_no_acknowledged_score_is_lost(data_dir):
    server, load = await loaded_server(data_dir)
    try:
        loop = asyncio.get_running_loop()
        cpu = (time.process_time(), cpu_seconds(server.process.pid), time.monotonic())
        load.start()
        try:
            await asyncio.sleep(2)
            scores_before = {player: list(counts) for player, counts in load.scores.items()}
            os.kill(redis_pid(data_dir), signal.SIGKILL)
            killed = time.monotonic()
            health = []
            while not health or health[-1] != 200:  # the server restarts Redis by itself
                assert time.monotonic() - killed < 60, "Redis was not restarted"
                health.append(await loop.run_in_executor(None, server.health))
            down_s = time.monotonic() - killed
            await asyncio.sleep(2)
            await load.stop_sending()
            cpu = [round(now - then, 1) for now, then in zip(
                (time.process_time(), cpu_seconds(server.process.pid), time.monotonic()), cpu)]
            caught_up = await load.caught_up()
        finally:
            await load.stop()
        summary = check_everything_acknowledged_is_there(data_dir, load)
        summary.update(load_generator_cpu_s=cpu[0], server_cpu_s=cpu[1], wall_s=cpu[2])
        summary.update(test="Redis SIGKILL", healthy_again_after_s=round(down_s, 2), health_polls=health,
                       scores_answered_before_the_kill=sum(len(c) for c in scores_before.values()))
        print("\nCRASH-TEST", json.dumps(summary))
        for player, counts in scores_before.items():  # (also covered by the check above)
            assert counts and all(min(load.scores[player]) <= c for c in counts)
        # While Redis was away: 503s, never a 500, a hang or a dropped connection.
        # busy: a sender waiting for its answer; resent: the same message again after a 503
        assert set(load.chat.statuses) <= {"201", "503", "busy", "resent 200", "resent 201", "resent 503"}, summary
        assert set(load.games.statuses) <= {"200", "303", "503"}, summary
        assert set(health) <= {200, 503}, summary
        assert load.chat.statuses["503"] + load.games.statuses["503"] > 0, summary
        assert max(load.chat.slowest_s, load.games.slowest_s) < REDIS_TIMEOUT_S + 5, summary
        check_watchers(load, caught_up, summary)
    finally:
        server.stop()
