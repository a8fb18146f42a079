"""`make bench` cannot rot: each scenario runs once at a tiny size, against the real server and the
bare baseline, and must produce its figures. Nothing here depends on timing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_bench_scenario_runs_at_a_tiny_size():
    run = subprocess.run([sys.executable, "-m", "bench", "--tiny"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    results = {r["scenario"]: r for r in lines if "scenario" in r}
    assert set(results) == {"chat", "fanout", "conns", "fragment", "game", "workers"}

    chat = results["chat"]
    for path in ("api", "form", "ws"):  # POST /api/messages, the send form's POST, the page's socket
        steps = chat["sweep"][f"parlor_{path}"]
        assert steps and all(s["answered"] == s["sent"] > 0 for s in steps), path
        assert all({"server_cpu_us_per_message", "of_which_redis_us", "of_which_event_loop_us"} <= set(s)
                   for s in steps), path
    assert chat["lost"] == 0 and chat["errors"] == 0
    assert chat["pair_files"] == chat["pairs"]  # every pair has its own file
    assert chat["sweep"]["baseline"][0]["answered"] > 0 and chat["sweep"]["baseline_ws"][0]["answered"] > 0
    assert set(chat["bar"]) == {"api", "form", "ws"}
    committing = chat["sweep"]["baseline_commit"]  # bare Tornado with a SQLite file per pair
    assert committing[0]["answered"] > 0 and chat["baseline_commit"]["lost"] == 0
    assert chat["baseline_commit"]["pair_files"] == chat["pairs"]

    workers = results["workers"]  # chat on --workers 1 and 2
    assert [row["what"] for row in workers["rows"]] == ["1 worker", "2 workers"]
    for count in (1, 2):
        assert all(s["answered"] == s["sent"] > 0 for s in workers["sweep"][f"workers_{count}"]), count
    assert workers["lost"] == 0 and workers["errors"] == 0 and workers["sweep"]["baseline"][0]["answered"] > 0

    fanout = results["fanout"]
    assert len(fanout["runs"]["parlor"]) == len(fanout["runs"]["baseline"]) > 0
    assert fanout["parlor"] > 0 and fanout["baseline"] > 0

    conns = results["conns"]
    top = str(max(int(k) for k in conns["detail"]["parlor"] if k.isdigit()))
    assert conns["held"] == int(top) == conns["detail"]["baseline"][top]["open"]

    fragment = results["fragment"]
    assert [row["what"] for row in fragment["rows"]] == [
        "GET /scores/25/fragment", "GET /scores/25.json", "304 of /scores/25/fragment"]
    assert all(row["parlor"] > 0 and row["baseline"] > 0 for row in fragment["rows"])

    game = results["game"]
    assert game["parlor"] > 0 and game["players_on_board"] > 0

    assert all(not r["valid"] for r in results.values())  # a tiny run never passes for a measurement
    assert "| chat |" in run.stdout and "| conns |" in run.stdout  # the table
    assert "| bar | rate |" in run.stdout  # and the chat's steps, path by path
