"""What an earlier dispatch finished, for resume: rerun only what did not succeed (or whose inputs changed).

The command (``dispatch-runner resume``, ``run --resume``) is ``commands.resume``; this module only
reads the earlier dispatch back.

The earlier dispatch's journal says which tasks finished and how; a task that succeeded is reused
(its output, read back from its trace file, feeds ``$from`` as before) while its ``input_data``,
dependencies and the outputs of its dependencies are unchanged. Everything else runs: failed,
timed-out, skipped, cancelled and never-finished tasks, and tasks whose input (or whose dependencies'
outputs) changed. The result's ``resume`` section says which tasks were reused and why each other
one ran. A resume is a new dispatch (new id, ``resumed_from`` in its index), so nothing is
overwritten and a resume can itself be resumed.

Without FILE the input is the one stored with the earlier dispatch. Secrets were redacted from that
copy, so a dispatch whose input held secrets must be resumed with its original input file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.run.outcomes import PriorResult
from parallel_execution.traces.store import load_dispatch

__all__ = ["PriorDispatch", "load_prior"]


@dataclass(slots=True)
class PriorDispatch:
    dispatch_id: str
    task_dir: Path
    reuse: dict[str, PriorResult]
    rerun_reasons: dict[str, str]  # task id -> why it cannot be reused (no earlier success)


def load_prior(ref: str, trace_dir: str | Path) -> PriorDispatch:
    """What an earlier dispatch finished, from its journal; successes keep their output."""
    record = load_dispatch(ref, trace_dir)
    last: dict[str, dict[str, Any]] = {}
    try:
        for line in record.journal_path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line torn by a crash: that task did not finish durably
            last[entry["task_id"]] = entry
    except FileNotFoundError:
        pass
    reuse: dict[str, PriorResult] = {}
    reasons: dict[str, str] = {}
    for task_id, entry in last.items():
        trace = record.task_trace(task_id) if entry.get("status") == "success" else None
        if entry.get("status") != "success":
            reasons[task_id] = f"previously {entry.get('status')}"
        elif trace is None or "output" not in trace:
            reasons[task_id] = "earlier trace file unreadable"
        else:
            reuse[task_id] = PriorResult(entry["input_digest"], entry.get("deps_digest") or "", trace["output"])
    return PriorDispatch(record.dispatch_id, record.task_dir, reuse, reasons)
