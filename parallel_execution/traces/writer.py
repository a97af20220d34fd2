"""Trace files: one per task, an index per dispatch, and an append-only journal.

Layout under ``trace_dir`` (never shared between runs: the dispatch folder is created exclusively)::

    <trace_dir>/dispatch-<dispatch_id>.json      index: config, user_prompt, every task's status,
                                                 timings and trace path, summary
    <trace_dir>/<dispatch_id>/<task_id>.json     written once when the task ends
    <trace_dir>/<dispatch_id>/journal.jsonl      one line per finished task (digests), fsynced
    <trace_dir>/<dispatch_id>/input.json         the input as run (for resume)
    <trace_dir>/<dispatch_id>/private/<task_id>.json   (0700 folder, 0600 files) the real output
                                                 of a task whose trace had secrets redacted (resume)

Every document carries ``schema_version`` and ``dispatch_id``. All files are written atomically;
the index is written when the dispatch starts (status ``running``) and replaced at its end, so a
crashed run still leaves an index and a journal behind to resume from. A trace that cannot be written
(full disk, no permission) is recorded in ``errors``; the run and its stdout result go on.

Durability without stalling the event loop: the loop only serialises documents; a writer thread
writes the task files, appends the journal lines and fsyncs the journal once per batch it drains
(group commit: every line written while one fsync runs is covered by the next). ``commit`` returns a
future that resolves when everything handed over before it is on disk; the scheduler releases a
task's dependents only then, so a task counts as done once its trace and journal line are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parallel_execution.inputs.schema import SCHEMA_VERSION, DispatchResult
from parallel_execution.inputs.validate import ValidatedPlan
from parallel_execution.run.digests import input_digest
from parallel_execution.run.outcomes import Observer, TaskOutcome
from parallel_execution.traces.fsio import atomic_write_bytes, atomic_write_json, dumps_json
from parallel_execution.traces.redact import Redactor

__all__ = ["INPUT_NAME", "JOURNAL_NAME", "PRIVATE_DIR", "TraceWriter", "index_path"]

JOURNAL_NAME = "journal.jsonl"
INPUT_NAME = "input.json"  # the dispatch input as run, so a dispatch can be resumed by id
PRIVATE_DIR = "private"  # mode 0700: real outputs of tasks whose traces had secrets redacted (resume)


def index_path(trace_dir: str | os.PathLike[str], dispatch_id: str) -> Path:
    return Path(trace_dir) / f"dispatch-{dispatch_id}.json"


class TraceWriter(Observer):
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
        self._writer: _DurableWriter | None = None
        self._written: dict[str, str] = {}  # task_id -> trace file, filled by the writer thread
        self.index_written = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> bool:
        """Create the dispatch folder (exclusively), the journal and the initial index."""
        step = self.task_dir  # what is being created, for the message if it fails (a full disk)
        try:
            self.trace_dir.mkdir(parents=True, exist_ok=True)
            self.task_dir.mkdir(mode=0o755)
            step = self.task_dir / JOURNAL_NAME
            self._writer = _DurableWriter(step, self._fail)
            step = self.task_dir / INPUT_NAME
            atomic_write_json(step, self.redactor.scrub({
                "tasks": [t.task.model_dump(mode="json", exclude_defaults=True) for t in self.plan.tasks],
                "config": self.plan.config.model_dump(mode="json"), "user_prompt": self.plan.user_prompt,
            }))
            self._write_index(status="running", result=None)
            return True
        except OSError as exc:
            what = "trace folder " if step == self.task_dir else ""
            self._fail(f"cannot create {what}{str(step)!r}: {exc.strerror or exc}")
            return False

    def task_file(self, task_id: str) -> str | None:
        return self._written.get(task_id)

    def finish(self, result: DispatchResult) -> None:
        self.close()
        self._write_index(status=result.status, result=result)

    def close(self) -> None:
        """Wait for every queued write; idempotent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- observer hooks ----------------------------------------------------------------------------

    def task_finished(self, outcome: TaskOutcome) -> None:
        if self._writer is None:
            return
        path = self.task_dir / f"{outcome.task_id}.json"
        task = outcome.planned.task
        scrub = self.redactor.scrub  # user-supplied parts; the rest has only our own keys
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
            "input_data": scrub(task.input_data),
            "resolved_input": scrub(outcome.resolved_input),
            "output": (output := scrub(outcome.output)),
            "attempts": [a.to_json() for a in outcome.attempts],
            "started_ms": outcome.started_ms,
            "finished_ms": outcome.finished_ms,
            "execution_time_ms": outcome.execution_time_ms,
            "cost_usd": outcome.cost_usd,
            "isolation": scrub(outcome.isolation),
            "timeout_seconds": outcome.planned.timeout_seconds,
            "trace_index": str(self.index_file),
        }
        journal_line = dumps_json({
            "v": SCHEMA_VERSION, "task_id": task.task_id, "status": outcome.status,
            "input_digest": input_digest(task), "deps_digest": outcome.deps_digest,
            "output_digest": outcome.output_digest, "attempts": len(outcome.attempts),
            "finished_ms": outcome.finished_ms,
        }) + b"\n"
        # Known secret values can still hide in errors and events: one byte-level pass catches them.
        data = self.redactor.scrub_bytes(dumps_json(document, indent=True)) + b"\n"
        # Redaction changed the output of a task others read: keep the real one where only its owner
        # can read it, so a resume passes it on (never the placeholder). Written before the trace
        # and journal line. Without dependents nobody reads it, so no secret goes to disk.
        private = None
        if output is not outcome.output and outcome.status == "success" and outcome.planned.dependents:
            private = (self.task_dir / PRIVATE_DIR / f"{task.task_id}.json", dumps_json(outcome.output))
        self._writer.submit(path, data, journal_line, lambda: self._written.__setitem__(task.task_id, str(path)),
                            private)

    def commit(self) -> asyncio.Future[None] | None:
        """A future that resolves once everything submitted so far is durable (None: nothing to wait for)."""
        return self._writer.barrier() if self._writer is not None else None

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
            # Index keys are all ours; user text (errors, prompt, config) is scrubbed for secret values.
            atomic_write_json(self.index_file, self.redactor.scrub(document, keys=False))
            self.index_written = True
        except OSError as exc:
            self._fail(f"cannot write the trace index {str(self.index_file)!r}: {exc.strerror or exc}")


class _DurableWriter:
    """A thread that writes trace files, appends journal lines and fsyncs once per drained batch.

    A task's journal line is appended only after its trace file is in place, so a journal line
    always points at a complete trace.
    """

    def __init__(self, journal: Path, on_error: Callable[[str], None]) -> None:
        self._file = open(journal, "ab")  # noqa: SIM115 (owned by the thread until close)
        self._path = str(journal)
        self._on_error = on_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="trace-writer", daemon=True)
        self._thread.start()

    def submit(self, path: Path, data: bytes, journal_line: bytes, written: Callable[[], None],
               private: tuple[Path, bytes] | None = None) -> None:
        self._queue.put((path, data, journal_line, written, private))

    def barrier(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put((loop, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        try:
            self._file.close()  # flushes what a failed write left buffered: it may fail again
        except OSError as exc:
            self._on_error(f"cannot append to the journal {self._path!r}: {exc.strerror or exc}")

    def _work(self) -> None:
        running = True
        while running:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            running = None not in items
            barriers = [item for item in items if item is not None and len(item) == 2]
            try:
                self._write_batch([item for item in items if item is not None and len(item) == 5], bool(barriers))
            except Exception as exc:  # never leave the scheduler waiting on a barrier
                self._on_error(f"trace writer: {exc!r}")
            for loop, future in barriers:
                with contextlib.suppress(RuntimeError):  # the loop is gone (interrupted at exit)
                    loop.call_soon_threadsafe(_resolve, future)

    def _write_batch(self, files: list[tuple[Any, ...]], sync: bool) -> None:
        lines = []
        for path, data, journal_line, written, private in files:
            if private is not None:
                _write_private(*private, self._on_error)
            try:
                atomic_write_bytes(path, data)
            except OSError as exc:
                self._on_error(f"cannot write trace {str(path)!r}: {exc.strerror or exc}")
                continue
            written()
            lines.append(journal_line)
        try:
            if lines:
                self._file.write(b"".join(lines))
                self._file.flush()
            if sync:  # lines without a barrier are covered by the next batch's fsync
                os.fsync(self._file.fileno())
        except OSError as exc:
            self._on_error(f"cannot append to the journal {self._path!r}: {exc.strerror or exc}")


def _write_private(path: Path, data: bytes, on_error: Callable[[str], None]) -> None:
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        atomic_write_bytes(path, data)
        os.chmod(path, 0o600)
    except OSError as exc:  # resume will run the task again rather than reuse a redacted output
        on_error(f"cannot write {str(path)!r}: {exc.strerror or exc}")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
