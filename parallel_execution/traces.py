"""Trace files: one per task, an index per dispatch, and an append-only journal.

Layout under ``trace_dir`` (never shared between runs: the dispatch folder is created exclusively)::

    <trace_dir>/dispatch-<dispatch_id>.json      index: config, user_prompt, every task's status,
                                                 timings and trace path, summary
    <trace_dir>/<dispatch_id>/<task_id>.json     written once when the task ends
    <trace_dir>/<dispatch_id>/journal.jsonl      one line per finished task (digests), fsynced
    <trace_dir>/<dispatch_id>/input.json         the input as run (for resume)

Every document carries ``schema_version`` and ``dispatch_id``. All files are written atomically;
the index is written when the dispatch starts (status ``running``) and replaced at its end, so a
crashed run still leaves an index and a journal behind to resume from. A trace that cannot be written
(full disk, no permission) is recorded in ``errors``; the run and its stdout result go on.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from parallel_execution.digests import input_digest
from parallel_execution.fsio import atomic_write_json, dumps_json
from parallel_execution.planner import ValidatedPlan
from parallel_execution.redact import Redactor
from parallel_execution.scheduler import TaskOutcome
from parallel_execution.schema import SCHEMA_VERSION, DispatchResult

__all__ = ["INPUT_NAME", "JOURNAL_NAME", "TraceWriter", "index_path"]

JOURNAL_NAME = "journal.jsonl"
INPUT_NAME = "input.json"  # the dispatch input as run, so a dispatch can be resumed by id


def index_path(trace_dir: str | os.PathLike[str], dispatch_id: str) -> Path:
    return Path(trace_dir) / f"dispatch-{dispatch_id}.json"


class TraceWriter:
    """The scheduler observer that persists traces; ``open`` before the run, ``finish`` after."""

    def __init__(self, plan: ValidatedPlan, dispatch_id: str, redactor: Redactor | None = None,
                 resumed_from: str | None = None) -> None:
        self.plan = plan
        self.redactor = redactor or Redactor()
        self.resumed_from = resumed_from
        self.dispatch_id = dispatch_id
        self.trace_dir = Path(plan.config.trace_dir)
        self.task_dir = self.trace_dir / dispatch_id
        self.index_file = index_path(self.trace_dir, dispatch_id)
        self.started_at = datetime.now(UTC)
        self.errors: list[str] = []
        self._journal: BinaryIO | None = None
        self._pending_journal: list[bytes] = []
        self._written: dict[str, str] = {}  # task_id -> trace file
        self.index_written = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> bool:
        """Create the dispatch folder (exclusively), the journal and the initial index."""
        try:
            self.trace_dir.mkdir(parents=True, exist_ok=True)
            self.task_dir.mkdir(mode=0o755)
            self._journal = open(self.task_dir / JOURNAL_NAME, "ab")  # noqa: SIM115 (kept open)
            atomic_write_json(self.task_dir / INPUT_NAME, self.redactor.scrub({
                "tasks": [t.task.model_dump(mode="json", exclude_defaults=True) for t in self.plan.tasks],
                "config": self.plan.config.model_dump(mode="json"), "user_prompt": self.plan.user_prompt,
            }))
            self._write_index(status="running", result=None)
            return True
        except OSError as exc:
            self._fail(f"cannot create trace folder {str(self.task_dir)!r}: {exc.strerror or exc}")
            return False

    def task_file(self, task_id: str) -> str | None:
        return self._written.get(task_id)

    def finish(self, result: DispatchResult) -> None:
        self._write_index(status=result.status, result=result)
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # -- observer hooks ----------------------------------------------------------------------------

    def task_finished(self, outcome: TaskOutcome) -> None:
        if self._journal is None:
            return
        path = self.task_dir / f"{outcome.task_id}.json"
        task = outcome.planned.task
        document = {
            "schema_version": SCHEMA_VERSION,
            "dispatch_id": self.dispatch_id,
            "task_id": task.task_id,
            "agent": task.agent,
            "description": task.description,
            "dependencies": task.dependencies,
            "status": outcome.status,
            "error": outcome.error,
            "resumed": outcome.resumed,
            "input_data": task.input_data,
            "resolved_input": outcome.resolved_input,
            "output": outcome.output,
            "attempts": [a.to_json() for a in outcome.attempts],
            "started_ms": outcome.started_ms,
            "finished_ms": outcome.finished_ms,
            "execution_time_ms": outcome.execution_time_ms,
            "cost_usd": outcome.cost_usd,
            "timeout_seconds": outcome.planned.timeout_seconds,
            "trace_index": str(self.index_file),
        }
        try:
            atomic_write_json(path, self.redactor.scrub(document))
        except OSError as exc:
            self._fail(f"cannot write trace {str(path)!r}: {exc.strerror or exc}")
            return
        self._written[task.task_id] = str(path)
        self._pending_journal.append(dumps_json({
            "v": SCHEMA_VERSION, "task_id": task.task_id, "status": outcome.status,
            "input_digest": input_digest(task), "deps_digest": outcome.deps_digest,
            "output_digest": outcome.output_digest, "attempts": len(outcome.attempts),
            "finished_ms": outcome.finished_ms,
        }) + b"\n")

    def commit(self) -> None:
        """Append the batch's journal lines and fsync once (group commit)."""
        if not self._pending_journal or self._journal is None:
            return
        lines, self._pending_journal = b"".join(self._pending_journal), []
        try:
            self._journal.write(lines)
            self._journal.flush()
            os.fsync(self._journal.fileno())
        except OSError as exc:
            self._fail(f"cannot append to the journal: {exc.strerror or exc}")

    # -- helpers -----------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def _write_index(self, status: str, result: DispatchResult | None) -> None:
        by_id = {r.task_id: r for r in result.results} if result else {}
        tasks = []
        for planned in self.plan.tasks:
            task, res = planned.task, by_id.get(planned.task_id)
            tasks.append({
                "task_id": task.task_id, "agent": task.agent, "description": task.description,
                "dependencies": task.dependencies, "status": res.status if res else "pending",
                "error": res.error if res else None,
                "execution_time_ms": res.execution_time_ms if res else None,
                "started_ms": res.started_ms if res else None, "finished_ms": res.finished_ms if res else None,
                "attempts": res.attempts if res else 0, "cost_usd": res.cost_usd if res else None,
                "trace_file": self._written.get(task.task_id),
            })
        document = {
            "schema_version": SCHEMA_VERSION,
            "dispatch_id": self.dispatch_id,
            "resumed_from": self.resumed_from,
            "status": status,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat() if result else None,
            "user_prompt": self.plan.user_prompt,
            "workspace": str(self.plan.policy.root),
            "config": self.plan.config.model_dump(mode="json"),
            "task_dir": str(self.task_dir),
            "journal": str(self.task_dir / JOURNAL_NAME),
            "summary": result.summary.model_dump(mode="json") if result else None,
            "tasks": tasks,
        }
        try:
            atomic_write_json(self.index_file, self.redactor.scrub(document))
            self.index_written = True
        except OSError as exc:
            self._fail(f"cannot write the trace index {str(self.index_file)!r}: {exc.strerror or exc}")
