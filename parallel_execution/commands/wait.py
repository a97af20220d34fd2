"""``dispatch-runner wait [DISPATCH] --timeout S``: follow a run started with ``run --detach``.

It only reads the background run's folder (``commands/detach.py``), so stopping it (a Bash call that ends
early) loses nothing and starts nothing. It waits up to ``--timeout`` seconds (default 60: inside
the Bash tool's 2-minute default), then prints one JSON document:

- finished: the run's own result document (as ``run`` prints it) and exits with the run's code;
- still running: ``status: "running"`` with a digest (tasks done / failed / running / queued, the
  running task ids and for how long, the failures so far, the last log lines) and the ``wait``
  command to call again; exit 75 (``EX_TEMPFAIL``: try again);
- gone without a result (killed outright): ``status: "lost"`` with the ``resume`` command; exit 1.

Example::

    dispatch-runner wait latest --timeout 100
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.commands.detach import Detached, find_detached
from parallel_execution.traces.fsio import dumps_json

__all__ = ["EXIT_RUNNING", "configure_parser", "digest", "main"]

EXIT_RUNNING = 75
_POLL_SECONDS = 0.25


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dispatch", nargs="?", default="latest",
                        help="the dispatch id --detach printed (or a unique prefix, or 'latest', the default)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="wait at most this long, then print progress (default 60; stay under the Bash limit)")
    parser.add_argument("--trace-dir", default="./traces", metavar="DIR", help="where the traces are (default ./traces)")


def _events(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:  # the line being written right now
            continue
    return events


def _tail(path: Path, lines: int = 5) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def digest(run: Detached, trace_dir: str, timeout: float) -> dict[str, Any]:
    """What a background run has done so far, from its event log and its log file."""
    events = _events(Path(run.record["events"]))
    queued = [e["task_id"] for e in events if e.get("event") == "queued"]
    finished = {e["task_id"]: e for e in events if e.get("event") == "finished"}
    started = {e["task_id"]: e for e in events if e.get("event") == "started" and e["task_id"] not in finished}
    elapsed = max(0.0, time.time() - float(run.record.get("started_epoch") or time.time()))
    now_ms = max([elapsed * 1000] + [float(e["t_ms"]) for e in events if isinstance(e.get("t_ms"), (int, float))])
    counts = Counter(e.get("status") for e in finished.values())
    again = ["dispatch-runner", "wait", run.dispatch_id, "--timeout", f"{timeout:g}"]
    if trace_dir != "./traces":
        again += ["--trace-dir", trace_dir]
    return {
        "status": "running",
        "dispatch_id": run.dispatch_id,
        "pid": run.record.get("pid"),
        "elapsed_seconds": round(elapsed, 1),
        "tasks": {"total": len(queued), "done": counts.get("success", 0),
                  "failed": counts.get("error", 0) + counts.get("timeout", 0),
                  "skipped": counts.get("skipped", 0) + counts.get("cancelled", 0),
                  "running": len(started), "queued": len(queued) - len(finished) - len(started)},
        "running": [{"task_id": tid, "attempt": e.get("attempt"),
                     "seconds": round(max(0.0, now_ms - float(e.get("t_ms") or 0)) / 1000, 1)}
                    for tid, e in started.items()],
        "failures": [{"task_id": tid, "status": e.get("status"), "error": e.get("error")}
                     for tid, e in finished.items() if e.get("status") in ("error", "timeout")],
        "log": run.record["log"],
        "log_tail": _tail(Path(run.record["log"])),
        "wait": shlex.join(again),
    }


def _lost(run: Detached) -> dict[str, Any]:
    argv, flags = list(run.record.get("argv") or [])[2:], []  # after "run FILE"
    while argv:
        word = argv.pop(0)
        if word in ("--dispatch-id", "--events", "--resume"):  # the resume command brings its own
            argv = argv[1:]
        else:
            flags.append(word)
    command = shlex.join(["dispatch-runner", "resume", run.dispatch_id, run.record["input_file"], *flags])
    return {"status": "lost", "dispatch_id": run.dispatch_id,
            "error": "the background run ended without a result (killed?); its finished tasks are in the traces",
            "log_tail": _tail(Path(run.record["log"])), "resume": {"command": command}}


def main(args: argparse.Namespace) -> int:
    run = find_detached(args.dispatch, args.trace_dir)
    deadline = time.monotonic() + max(0.0, args.timeout)
    while True:
        if run.finished:
            sys.stdout.buffer.write(Path(run.record["result"]).read_bytes())
            sys.stdout.flush()
            return run.exit_code()
        if not run.alive:
            if run.finished:  # it finished between the two checks
                continue
            _emit(_lost(run))
            return 1
        if time.monotonic() >= deadline:
            _emit(digest(run, args.trace_dir, args.timeout))
            return EXIT_RUNNING
        time.sleep(_POLL_SECONDS)


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.buffer.write(dumps_json(document, indent=True) + b"\n")
    sys.stdout.flush()
