"""`make autobahn`: the Autobahn|Testsuite fuzzing client (Python 2.7) against Parlor's WebSocket.

Two targets, each a real server process:
- parlor-live: /live of server.py as `make run` starts it. /live only pushes; it ignores what a
  client sends, so every case that expects its message echoed back fails by design.
- parlor-echo: the same protocol (handlers/websocket.py's StrictProtocol) and the same limits
  (64 KiB messages, pings) in a handler that echoes every message, which is what Autobahn's
  cases measure protocol handling with.

The performance and compression groups (9.*, 12.*, 13.*) are left out. Set-up (once, in
.autobahn/): a Python 2.7 (on PATH or under pyenv), virtualenv 20.21 (the last that makes 2.7
environments) and autobahntestsuite from PyPI. The report goes to docs/autobahn.md (summary and
every case that is not OK, with the reason) and the full HTML to .autobahn/reports/.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".autobahn"
EXCLUDED = ["9.*", "12.*", "13.*"]  # performance, and permessage-deflate (Parlor offers none)

# Why a case is not OK, by case id prefix (the longest prefix that matches wins).
REASONS = {
    "parlor-live": {
        "": "/live does not echo: it only pushes to the page and ignores what a client sends, so a "
            "case that waits for its message to come back sees none, gives up and closes with 1001 "
            "(the server answers 1001; Autobahn reports WRONG CODE, expecting 1000).",
    },
    "parlor-echo": {
        "6.4.": "Fail-fast on invalid UTF-8 inside a fragmented text message: Tornado decodes a text "
                "message once its last fragment has arrived, so the close (1007) comes at the end of "
                "the message, not at the fragment that broke it.",
        "7.1.6": "A 256 KiB message, a close, then a ping: the message is over the 64 KiB limit, so the "
                 "server closes (1009) without echoing (informational: the spec leaves it open).",
        "7.13.": "Close codes 5000 and 65535 are outside the registered ranges; the spec leaves the answer "
                 "open, and Parlor closes with 1002 (informational).",
        "": "not explained yet",
    },
}
INFORMATIONAL = {"7.1.6", "7.13.1", "7.13.2"}  # cases whose outcome Autobahn records without judging


def python27() -> str:
    """A working Python 2.7: `python2.7` on PATH, else one that pyenv installed."""
    candidates = [shutil.which("python2.7") or "", *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7")))]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "import sys"], capture_output=True).returncode == 0:
            return candidate
    sys.exit("make autobahn needs Python 2.7 (autobahntestsuite runs on nothing newer); none was found")


def wstest() -> Path:
    """The wstest command of a Python 2.7 virtualenv with autobahntestsuite, made once."""
    tool = TOOLS / "py27" / "bin" / "wstest"
    if tool.exists():
        return tool
    tools_venv = TOOLS / "tools"
    subprocess.run([sys.executable, "-m", "venv", str(tools_venv)], check=True)
    subprocess.run([tools_venv / "bin" / "pip", "install", "--quiet", "virtualenv<20.22"], check=True)
    subprocess.run([tools_venv / "bin" / "virtualenv", "--quiet", "-p", python27(), str(TOOLS / "py27")], check=True)
    subprocess.run([TOOLS / "py27" / "bin" / "pip", "install", "--quiet", "autobahntestsuite"], check=True)
    return tool


def echo_server(port: int) -> None:
    """The echo target: StrictProtocol with /live's limits, echoing every message."""
    import asyncio

    import tornado.web
    import tornado.websocket

    from parlor.web.handlers.websocket import StrictProtocol
    from parlor.web.server import MAX_WEBSOCKET_MESSAGE, WEBSOCKET_PING_S, WEBSOCKET_PING_TIMEOUT_S

    class EchoSocket(tornado.websocket.WebSocketHandler):
        def get_websocket_protocol(self):
            standard = super().get_websocket_protocol()
            return standard and StrictProtocol(self, False, standard.params)

        def on_message(self, message):
            return self.write_message(message, binary=isinstance(message, bytes))

    async def serve():
        app = tornado.web.Application([(r"/live", EchoSocket)], websocket_max_message_size=MAX_WEBSOCKET_MESSAGE,
                                      websocket_ping_interval=WEBSOCKET_PING_S,
                                      websocket_ping_timeout=WEBSOCKET_PING_TIMEOUT_S)
        app.listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(serve())


def reason(agent: str, case: str) -> str:
    table = REASONS[agent]
    return table[max((p for p in table if case.startswith(p)), key=len)]


def expects_echo(reports: Path, result: dict) -> bool:
    """Whether the case's passing outcome includes its own message coming back."""
    case = json.loads((reports / result["reportfile"]).read_text())
    return any(event[0] == "message" for events in case["expected"].values() for event in events)


def report(index: dict, reports: Path) -> str:
    """The summary table and every case that is not OK, as markdown."""
    agents = sorted(index)
    lines = ["| result | " + " | ".join(agents) + " |", "|---|" + "---|" * len(agents)]
    counts = {a: Counter(r["behavior"] for r in index[a].values()) for a in agents}
    for behavior in ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"):
        lines.append(f"| {behavior} | " + " | ".join(str(counts[a][behavior]) for a in agents) + " |")
    lines.append("| cases run | " + " | ".join(str(len(index[a])) for a in agents) + " |")
    for agent in agents:
        bad = sorted(((c, r) for c, r in index[agent].items() if r["behavior"] != "OK"),
                     key=lambda item: [int(p) for p in item[0].split(".")])
        lines += ["", f"### {agent}: cases that are not OK ({len(bad)})", ""]
        explain_as = agent
        if agent == "parlor-live":  # the echo explains these; list them compactly, and any it does not
            echo = [c for c, r in bad if c not in INFORMATIONAL and expects_echo(reports, r)]
            groups = Counter(c.rsplit(".", 1)[0] for c in echo)
            lines.append(reason(agent, "") + f" All {len(echo)} of them expect their message back. By group: "
                         + ", ".join(f"{g}.x ({n})" for g, n in sorted(groups.items(), key=lambda i: [int(p) for p in i[0].split(".")]))
                         + ". The informational cases are as for parlor-echo.")
            bad = [(c, r) for c, r in bad if c not in INFORMATIONAL and c not in echo]
            if not bad:
                continue
            lines += ["", "The others, as for parlor-echo:", ""]
            explain_as = "parlor-echo"
        lines += ["| case | result | close | why |", "|---|---|---|---|"]
        for case, result in bad:
            lines.append(f"| {case} | {result['behavior']} | {result['behaviorClose']} | {reason(explain_as, case)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.autobahn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="*", help="case ids to run, comma-separated (default: all)")
    parser.add_argument("--report-only", action="store_true", help="write docs/autobahn-results.md from the last run")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        echo_server(args.echo_server)
        return
    reports = TOOLS / "reports"
    if not args.report_only:
        run(args.cases)
    table = report(json.loads((reports / "index.json").read_text()), reports)
    print(table)
    (ROOT / "docs" / "autobahn-results.md").write_text(
        "<!-- written by `make autobahn` (bench/autobahn.py); do not edit by hand -->\n" + table)


def run(cases: str) -> None:
    """Both targets, the fuzzing client against them, the reports in .autobahn/reports/."""
    from bench.common import Processes, free_port, wait_http

    tool = wstest()
    workdir = Path(tempfile.mkdtemp(prefix="parlor-autobahn-", dir="/tmp"))
    processes = Processes()
    try:
        live_port, echo_port = free_port(), free_port()
        processes.start([sys.executable, "server.py", "--port", str(live_port), "--data-dir", str(workdir / "data")],
                        workdir / "server.log")
        processes.start([sys.executable, "-m", "bench.autobahn", "--echo-server", str(echo_port)], workdir / "echo.log")
        wait_http(f"http://127.0.0.1:{live_port}/healthz")
        reports = TOOLS / "reports"
        shutil.rmtree(reports, ignore_errors=True)
        spec = {"outdir": str(reports), "options": {"version": 18},
                "servers": [{"agent": "parlor-live", "url": f"ws://127.0.0.1:{live_port}/live"},
                            {"agent": "parlor-echo", "url": f"ws://127.0.0.1:{echo_port}/live"}],
                "cases": cases.split(","), "exclude-cases": EXCLUDED, "exclude-agent-cases": {}}
        (workdir / "spec.json").write_text(json.dumps(spec))
        subprocess.run([str(tool), "--mode", "fuzzingclient", "--spec", str(workdir / "spec.json")],
                       cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    finally:
        processes.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
