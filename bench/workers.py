"""The `workers` scenario: chat on `parlor --workers 1` and `--workers 2` on this 2-core machine,
next to bare Tornado. Each message is a POST /api/messages timed to the recipient's socket, rates
swept upwards until p99 passes 50 ms. Parlor (its workers and Redis) may use both cores, as an
operator runs it; the load generator stays on core 1, so two workers share it with the load.
Bare Tornado is one process on core 0, as in the chat scenario."""
from __future__ import annotations

import asyncio
from pathlib import Path

from bench import chat
from bench.common import Baseline, Parlor, Processes, cpu_seconds, make_users

WORKER_COUNTS = (1, 2)
ALL_CORES = "0,1"


def side(name: str, url: str, users: list[dict], cpu, redis_cpu=None) -> chat.Side:
    return chat.Side(name, url, [{"name": u["name"], "ws_path": u["ws_path"], "ws_headers": u["ws_headers"],
                                  "post_headers": u["post_headers"]} for u in users], cpu, redis_cpu=redis_cpu)


async def sweep(one: chat.Side, rates: list[int], size) -> dict:
    load = chat.Load(one, via="api")
    await load.open()
    await load.warm_up(size.chat_settle_s)
    result = await chat.sweep(load, rates, size.chat_seconds, pause_s=size.chat_pause_s)
    load.close()
    return result


def at_sustained(result: dict) -> dict | None:
    """The step at the sustained rate (the highest with p99 within the limit)."""
    return next((s for s in result["steps"] if s["offered"] == result["sustained"]), None)


def run_workers(size, workdir: Path, processes: Processes, flags: tuple[str, ...]) -> dict:
    names = [f"chat-{i:04d}" for i in range(size.chat_users)]
    rates = list(size.chat_rates)
    swept = {}
    for count in WORKER_COUNTS:
        folder = workdir / f"workers-{count}"
        folder.mkdir()
        parlor = Parlor(folder, processes, *flags, f"--workers={count}", name=f"parlor-{count}", cores=ALL_CORES)
        users = asyncio.run(make_users(parlor, names, tokens=True))
        sides = [{"name": u["name"], "ws_path": "/live", "ws_headers": f"Cookie: {u['cookie']}\r\n",
                  "post_headers": f"Authorization: Bearer {u['token']}\r\nContent-Type: application/json\r\n"}
                 for u in users]
        swept[count] = asyncio.run(sweep(side(f"parlor_{count}", parlor.url, sides, parlor.cpu,
                                              lambda p=parlor: cpu_seconds(p.redis_pid)), rates, size))
    baseline = Baseline(workdir, processes)
    bare_users = [{"name": n, "ws_path": f"/live?user={n}", "ws_headers": "",
                   "post_headers": f"Authorization: Bearer {n}\r\nContent-Type: application/json\r\n"} for n in names]
    bare = asyncio.run(sweep(side("baseline", baseline.url, bare_users, baseline.cpu), rates, size))

    def row(what: str, result: dict) -> dict:
        step = at_sustained(result)
        return {"what": what, "parlor": result["sustained"], "baseline": bare["sustained"],
                "ratio": round(result["sustained"] / bare["sustained"], 3) if bare["sustained"] else None,
                "cpu_us_per_message": step and step["server_cpu_us_per_message"],
                "p99_ms": step and step["p99_ms"]}

    rows = [row(f"{count} worker{'s' if count > 1 else ''}", swept[count]) for count in WORKER_COUNTS]
    bare_step = at_sustained(bare)
    return {"scenario": "workers", "unit": "msgs/s",
            "what": "chat, POST /api/messages to the recipient's socket, sustained rate with p99 <= 50 ms, "
                    "on --workers 1 and 2 (both cores) next to bare Tornado (one process, core 0)",
            "users": size.chat_users, "parlor": rows[0]["parlor"], "baseline": bare["sustained"],
            "ratio": rows[0]["ratio"], "target": "2 workers sustain more than 1", "rows": rows,
            "baseline_cpu_us_per_message": bare_step and bare_step["server_cpu_us_per_message"],
            "lost": sum(r["lost"] for r in swept.values()), "errors": sum(r["errors"] for r in swept.values()),
            "sweep": {**{f"workers_{count}": swept[count]["steps"] for count in WORKER_COUNTS},
                      "baseline": bare["steps"]},
            "load_generator_busy": max(r["load_generator_busy"] for r in (*swept.values(), bare))}
