"""What an earlier dispatch finished, for resume: rerun only what did not succeed (or whose inputs changed).

The command (``dispatch-runner resume``, ``run --resume``) is ``commands.resume``; this module only
reads the earlier dispatch back.

The earlier dispatch's journal says which tasks finished and how (and, for a resume, the journals of
the dispatches it resumed, back along ``resumed_from``); a task that succeeded is reused (its output,
read back from its trace file, feeds ``$from`` as before; if redaction changed that copy, from the
private copy the trace writer kept, checked against the journal's digest) while its ``input_data``,
dependencies and the outputs of its dependencies are unchanged. Everything else runs: failed,
timed-out, skipped, cancelled and never-finished tasks, and tasks whose input (or whose dependencies'
outputs) changed. A redacted output with no private copy is reusable only by a task nobody reads
from (``redacted``; ``commands.resume`` reruns the others): the placeholder is never passed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.errors import InvalidInput
from parallel_execution.run.digests import digest
from parallel_execution.run.outcomes import PriorResult
from parallel_execution.traces.layout import PRIVATE_DIR, trace_name
from parallel_execution.traces.redact import REDACTED
from parallel_execution.traces.store import DispatchRecord, load_dispatch

__all__ = ["REDACTED_ONLY", "PriorDispatch", "load_prior"]

_MAX_CHAIN = 1000  # resumes of resumes followed back at most this far
_MISSING = object()
REDACTED_ONLY = "its output held secrets (redacted in the trace) and no private copy is left"


@dataclass(slots=True)
class PriorDispatch:
    dispatch_id: str
    task_dir: Path
    reuse: dict[str, PriorResult]
    rerun_reasons: dict[str, str]  # task id -> why it cannot be reused (no earlier success)
    redacted: set[str] = field(default_factory=set)  # reusable output has secrets redacted


def load_prior(ref: str, trace_dir: str | Path) -> PriorDispatch:
    """What an earlier dispatch finished, from its journal; successes keep their output.

    A resume that was itself interrupted (or killed right after it started) recorded only what it
    got to, so the chain of ``resumed_from`` dispatches is followed back: a task's newest durable
    success anywhere in the chain is offered for reuse (the scheduler still checks its digests).
    """
    record = load_dispatch(ref, trace_dir)
    reuse: dict[str, PriorResult] = {}
    reasons: dict[str, str] = {}
    redacted: set[str] = set()
    seen: set[str] = set()
    current: DispatchRecord | None = record
    while current is not None and current.dispatch_id not in seen and len(seen) < _MAX_CHAIN:
        seen.add(current.dispatch_id)
        for task_id, entry in current.journal().items():
            if task_id in reuse:
                continue
            prior, why = _reusable(current, task_id, entry)
            if prior is not None:
                reuse[task_id] = prior
                reasons.pop(task_id, None)
                if why:
                    redacted.add(task_id)
            else:
                reasons.setdefault(task_id, why)
        current = _earlier(current)
    return PriorDispatch(record.dispatch_id, record.task_dir, reuse, reasons, redacted)


def _reusable(record: DispatchRecord, task_id: str, entry: dict[str, Any]) -> tuple[PriorResult | None, str]:
    """The task's success as a ``PriorResult``, or None and why it cannot be reused."""
    if entry.get("status") != "success":
        return None, f"previously {entry.get('status')}"
    trace = record.task_trace(task_id)
    output: Any = _MISSING
    if trace is not None and "output" in trace:
        output = trace["output"]
    expected = entry.get("output_digest")
    if output is _MISSING or (expected and digest(output) != expected) or (not expected and _redacted(output)):
        # The trace's copy is not the real output (secrets redacted, or the trace is damaged):
        # only the private copy the writer kept will do; never the placeholder.
        private = _private_output(record, task_id, expected)
        if private is not _MISSING:
            output = private
        elif output is _MISSING:
            return None, "earlier trace file unreadable"
        else:  # redacted: reusable only by a task nobody reads from (checked in resume_run)
            return PriorResult(entry["input_digest"], entry.get("deps_digest") or "", output), REDACTED_ONLY
    return PriorResult(entry["input_digest"], entry.get("deps_digest") or "", output), ""


def _private_output(record: DispatchRecord, task_id: str, expected: str | None) -> Any:
    try:
        value = orjson.loads((record.task_dir / PRIVATE_DIR / trace_name(task_id)).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return _MISSING
    return value if expected and digest(value) == expected else _MISSING


def _redacted(value: Any) -> bool:
    return REDACTED.encode() in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _earlier(record: DispatchRecord) -> DispatchRecord | None:
    earlier = record.index.get("resumed_from")
    if not isinstance(earlier, str) or not earlier:
        return None
    try:
        return load_dispatch(earlier, record.index_path.parent)
    except InvalidInput:  # deleted or unreadable: the chain ends here
        return None
