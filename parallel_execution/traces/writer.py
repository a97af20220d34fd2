"""Trace files: one per task, an index per dispatch, and an append-only journal.

Layout under ``trace_dir``: ``traces.layout`` (the dispatch folder is created exclusively, never
shared between runs). The index holds config, user_prompt, every task's status, timings and trace
path, and the summary; a task's trace is written once when the task ends; the journal has one line
per finished task (digests), fsynced; ``input.json`` is the input as run (for resume);
``private/`` (mode 0700, files 0600) holds the real output of a task that others read and whose
trace had secrets redacted, so a resume passes the real value on, never the placeholder.

Every document carries ``schema_version`` and ``dispatch_id``. The index and ``input.json`` are
written atomically (temp + rename); task files are created under their final name in one write,
behind the journal (see below). The index is written when the dispatch starts (status ``running``) and replaced at its end, so a
crashed run still leaves an index and a journal behind to resume from. A trace that cannot be written
(full disk, no permission) is recorded in ``errors``; the run and its stdout result go on.

Durability without stalling the event loop: the loop only serialises documents; a writer thread
appends the journal lines and fsyncs the journal once per batch it drains (group commit: every line
written while one fsync runs is covered by the next). ``commit`` returns a future that resolves when
every journal line handed over before it is on disk; the scheduler releases a task's dependents only
then, so a task counts as done once its journal line is durable. **The journal is the durable
record**; the task files are written behind it by the same thread and are complete once ``drain``
(called before the result is built) or ``close`` returns, also on an interrupt. After a SIGKILL a
journal line may lack its trace file (or find it empty): resume then reruns that task ("earlier
trace file unreadable"), it never reuses a torn output. From ``FILES_IN_PROCESS_FROM`` tasks the
thread hands the trace files to a worker process instead of creating them itself
(``traces.file_sink``): file creation then runs on another core instead of taking turns with the
event loop for the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parallel_execution.inputs.plan import ValidatedPlan
from parallel_execution.inputs.schema import SCHEMA_VERSION, DispatchResult
from parallel_execution.run.digests import input_digest
from parallel_execution.run.observers import Observer
from parallel_execution.run.outcomes import TaskOutcome
from parallel_execution.traces.file_worker import write_all, write_file
from parallel_execution.traces.fsio import atomic_write_bytes, dumps_json
from parallel_execution.traces.layout import INPUT_NAME, JOURNAL_NAME, PRIVATE_DIR, index_path, trace_name
from parallel_execution.traces.redact import Redactor, serialise

if TYPE_CHECKING:
    from parallel_execution.traces.file_sink import ProcessFileSink

__all__ = ["INPUT_NAME", "JOURNAL_NAME", "TraceWriter", "index_path"]

# From this many tasks the trace files are written by a worker process (traces.file_sink): its ~15 ms
# start pays for itself once file creation would otherwise take turns with the loop for the GIL.
FILES_IN_PROCESS_FROM = 500

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
        self._pending: list[tuple[Any, ...]] = []  # trace files of this batch, handed over at commit
        self._task_prefix = os.path.join(self.task_dir, "")  # plain strings on the per-task path
        self._index_name = str(self.index_file)
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
            self._writer = _DurableWriter(step, self._fail, files_in_process=len(self.plan.tasks) >= FILES_IN_PROCESS_FROM)
            step = self.task_dir / INPUT_NAME
            document = {
                "tasks": [t.task.model_dump(mode="json", exclude_defaults=True) for t in self.plan.tasks],
                "config": self.plan.config.model_dump(mode="json"), "user_prompt": self.plan.user_prompt,
            }
            self._write_json(step, document, keys=True)
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
            self._hand_over()
            self._writer.close()
            self._writer = None

    # -- observer hooks ----------------------------------------------------------------------------

    def tasks_finished(self, outcomes: Sequence[TaskOutcome]) -> None:
        """A batch of ended tasks (the scheduler's hook for observers that take batches).

        Each document is serialised once; what in it came from outside the runner is scanned for
        secrets once for the whole batch: a scan costs nearly as much for one document as for ten,
        and nearly every batch holds nothing to hide. Only when it finds something is each
        document looked at on its own.
        """
        if self._writer is None:
            return
        redactor = self.redactor
        built = [b for b in map(self._build, outcomes) if b is not None]
        if len(built) > 1 and all(b[3] is not None for b in built) and redactor.clean_json(
                b"\n".join(b[3] for b in built), [p for b in built for p in b[2]]):  # type: ignore[misc]
            for outcome, data, _, _ in built:
                outcome.verified_by = redactor
                self._submit(outcome, data)
            return
        for outcome, data, key_parts, supplied in built:
            if supplied is not None and redactor.clean_json(supplied, key_parts):
                outcome.verified_by = redactor
                self._submit(outcome, data)
            else:
                self._submit(outcome, *self._redacted(outcome))

    def task_finished(self, outcome: TaskOutcome) -> None:
        self.tasks_finished([outcome])

    def _build(self, outcome: TaskOutcome) -> tuple[TaskOutcome, bytes, list[Any], bytes | None] | None:
        """(outcome, its trace document, the parts whose keys are the user's or an agent's, the
        outside-supplied bytes to scan, None for a value the fast scan cannot read); None when the
        document cannot be serialised at all (reported; the other tasks of the batch go on)."""
        parts = [outcome.planned.task.input_data, outcome.resolved_input, outcome.output, outcome.isolation]
        document = self._document(outcome, *parts)
        parts.extend(a.events for a in outcome.attempts)
        try:
            supplied = _supplied(document, outcome)
        except TypeError:
            supplied = None
        try:
            data = dumps_json(document, indent=True)
        except TypeError as exc:  # e.g. an agent's output with an integer wider than 64 bits
            self._fail(f"cannot write the trace of {outcome.task_id!r}: {exc}")
            return None
        return outcome, data, parts, supplied

    def _redacted(self, outcome: TaskOutcome) -> tuple[bytes, tuple[Path, bytes] | None]:
        """The careful path: each part cleaned (names and values), then the whole document; with the
        private copy of the real output to write beside it, if one is needed."""
        redactor = self.redactor
        clean = [redactor.scrub(part) for part in
                 (outcome.planned.task.input_data, outcome.resolved_input, outcome.output, outcome.isolation)]
        document = self._document(outcome, *clean)
        document["attempts"] = redactor.scrub(document["attempts"])  # events may name a secret
        private = None
        # Redaction changed the output of a task others read: keep the real one where only its owner
        # can read it, so a resume passes it on. Written just before the journal line; without
        # dependents nobody reads it, so no secret goes to disk.
        if clean[2] is not outcome.output and outcome.status == "success" and outcome.planned.dependents:
            private = (self.task_dir / PRIVATE_DIR / trace_name(outcome.task_id), dumps_json(outcome.output))
        return redactor.scrub_bytes(dumps_json(document, indent=True)), private

    def _submit(self, outcome: TaskOutcome, data: bytes, private: tuple[Path, bytes] | None = None) -> None:
        task = outcome.planned.task
        journal_line = dumps_json({
            "v": SCHEMA_VERSION, "task_id": task.task_id, "status": outcome.status,
            "input_digest": input_digest(task), "deps_digest": outcome.deps_digest,
            "output_digest": outcome.output_digest, "attempts": len(outcome.attempts),
            "finished_ms": outcome.finished_ms,
        }) + b"\n"
        path = self._task_prefix + trace_name(task.task_id)
        self._pending.append((path, data + b"\n", journal_line,
                              lambda: self._written.__setitem__(task.task_id, path), private))

    def _document(self, outcome: TaskOutcome, input_data: Any, resolved_input: Any, output: Any,
                  isolation: Any) -> dict[str, Any]:
        task = outcome.planned.task
        return {
            "schema_version": SCHEMA_VERSION,
            "dispatch_id": self.dispatch_id,
            "task_id": task.task_id,
            "agent": task.agent,
            "description": task.description,
            "dependencies": task.dependencies,
            "status": outcome.status,
            "error": outcome.error,
            "resumed": outcome.resumed,
            "input_data": input_data,
            "resolved_input": resolved_input,
            "output": output,
            "attempts": [a.to_json() for a in outcome.attempts],
            "started_ms": outcome.started_ms,
            "finished_ms": outcome.finished_ms,
            "execution_time_ms": outcome.execution_time_ms,
            "cost_usd": outcome.cost_usd,
            "isolation": isolation,
            "timeout_seconds": outcome.planned.timeout_seconds,
            "trace_index": self._index_name,
        }

    def commit(self) -> asyncio.Future[None] | None:
        """A future that resolves once every journal line submitted so far is durable (None: nothing to wait for)."""
        if self._writer is None:
            return None
        batch, self._pending = self._pending, []
        return self._writer.barrier(batch)  # one hand-over per batch: each may wake the writer thread

    async def drain(self) -> None:
        """Wait (without blocking the loop) until every trace file submitted so far is written."""
        if self._writer is not None:
            self._hand_over()
            await self._writer.drain()

    def _hand_over(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._writer.submit_batch(batch)  # type: ignore[union-attr]

    # -- helpers -----------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def _write_json(self, path: Path, document: Any, *, keys: bool, supplied: Any = None) -> None:
        """``document`` written atomically without secrets; serialised once unless something matches.
        ``supplied``: the parts of it that came from outside the runner, scanned instead of all of it."""
        data = dumps_json(document, indent=True)
        try:
            scanned = data if supplied is None else serialise(supplied)
        except TypeError:
            scanned = data
        if not self.redactor.clean_json(scanned, (document,) if keys else ()):
            data = dumps_json(self.redactor.scrub(document, keys=keys), indent=True)
        atomic_write_bytes(path, data + b"\n")

    def _write_index(self, status: str, result: DispatchResult | None) -> None:
        written = self._written
        tasks: list[dict[str, Any]] = []
        if result is None:  # before the run: every task pending
            for planned in self.plan.tasks:
                task = planned.task
                tasks.append({
                    "task_id": task.task_id, "agent": task.agent, "description": task.description,
                    "dependencies": task.dependencies, "status": "pending", "error": None, "execution_time_ms": None,
                    "started_ms": None, "finished_ms": None, "attempts": 0, "cost_usd": None,
                    "trace_file": written.get(task.task_id),
                })
        else:
            by_id = {r.task_id: r for r in result.results}
            for planned in self.plan.tasks:
                task, res = planned.task, by_id[planned.task.task_id]
                tasks.append({
                    "task_id": task.task_id, "agent": task.agent, "description": task.description,
                    "dependencies": task.dependencies, "status": res.status, "error": res.error,
                    "execution_time_ms": res.execution_time_ms, "started_ms": res.started_ms,
                    "finished_ms": res.finished_ms, "attempts": res.attempts, "cost_usd": res.cost_usd,
                    "trace_file": written.get(task.task_id),
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
        # Index keys are all ours; what came from outside (ids, text, errors, paths, config) is scanned
        # for secret values, without the per-task keys and numbers that make up most of its bytes.
        supplied = [document["user_prompt"], document["workspace"], document["config"], document["task_dir"],
                    [(t["task_id"], t["agent"], t["description"], t["dependencies"], t["error"], t["trace_file"])
                     for t in tasks]]
        try:
            self._write_json(self.index_file, document, keys=False, supplied=supplied)
            self.index_written = True
        except OSError as exc:
            self._fail(f"cannot write the trace index {str(self.index_file)!r}: {exc.strerror or exc}")


class _DurableWriter:
    """A thread that appends journal lines, fsyncs once per drained batch, and writes trace files behind.

    The journal is the durable record: a barrier resolves once every journal line handed over before
    it is fsynced, before the trace files of those tasks exist. Trace files follow in small slices,
    checked between slices for new journal lines so a commit never queues behind file creation (the
    costly part on a busy volume). Each file is created exclusively under its final name and written
    with one ``write``: a crash leaves it complete, empty or absent, never another file (the dispatch
    folder is new, nothing else writes there; a name that exists falls back to temp + rename). A
    drain resolves once every trace file handed over before it is written too.
    """

    _SLICE = 32  # trace files written between two looks at the queue

    def __init__(self, journal: Path, on_error: Callable[[str], None], *, files_in_process: bool = False) -> None:
        self._file = open(journal, "ab")  # noqa: SIM115 (owned by the thread until close)
        self._path = str(journal)
        self._on_error = on_error
        # Large dispatches: trace files go to a worker process (see traces.file_sink); None: written here.
        self._sink: ProcessFileSink | None = None
        if files_in_process:
            from parallel_execution.traces.file_sink import ProcessFileSink  # only large runs pay its import
            self._sink = ProcessFileSink.start(on_error)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="trace-writer", daemon=True)
        self._thread.start()

    def submit(self, path: Path | str, data: bytes, journal_line: bytes, written: Callable[[], None],
               private: tuple[Path, bytes] | None = None) -> None:
        self._queue.put((path, data, journal_line, written, private))

    def submit_batch(self, items: list[tuple[Any, ...]]) -> None:
        """Several ``submit`` argument tuples at once, in order."""
        self._queue.put(items)

    def barrier(self, items: list[tuple[Any, ...]] | None = None) -> asyncio.Future[None]:
        """Resolves once every journal line submitted so far (and ``items``, submitted with it) is durable."""
        return self._future(_BARRIER, items)

    def drain(self) -> asyncio.Future[None]:
        """Resolves once every journal line is durable and every trace file submitted so far is written."""
        return self._future(_DRAIN)

    def _future(self, kind: str, items: list[tuple[Any, ...]] | None = None) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put([*items, (kind, loop, future)] if items else (kind, loop, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._sink is not None:
            self._sink.close()
        try:
            self._file.close()  # flushes what a failed write left buffered: it may fail again
        except OSError as exc:
            self._on_error(f"cannot append to the journal {self._path!r}: {exc.strerror or exc}")

    def _work(self) -> None:
        files: deque[tuple[str, bytes, Callable[[], None]]] = deque()
        drains: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        running = True
        while running or files:
            items = [] if files or not running else [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            running = running and None not in items
            lines, barriers = [], []
            for item in _flatten(items):
                if item is None:
                    continue
                if len(item) == 5:
                    files.append((item[0], item[1], item[3]))
                    lines.append(item[2])
                    if item[4] is not None:  # rare: before its journal line, so a reuse finds it
                        private_path, private_data = item[4]
                        _write_private(private_path, private_data, self._on_error)
                elif item[0] == _BARRIER:
                    barriers.append(item[1:])
                else:
                    drains.append(item[1:])
            try:
                self._append(lines, sync=bool(barriers or drains))
            except Exception as exc:  # never leave the scheduler waiting on a barrier
                self._on_error(f"trace writer: {exc!r}")
            _wake(barriers)
            if self._sink is not None:  # the worker process writes them; it confirms at each drain
                if files:
                    self._sink.put(list(files))
                    files.clear()
                if drains:
                    self._sink.drain(functools.partial(_wake, drains))
                    drains = []
                continue
            for _ in range(min(self._SLICE, len(files))):
                path, data, written = files.popleft()
                try:
                    write_file(path, data)
                except OSError as exc:
                    self._on_error(f"cannot write trace {str(path)!r}: {exc.strerror or exc}")
                else:
                    written()
            if not files:
                _wake(drains)
                drains = []
        _wake(drains)

    def _append(self, lines: list[bytes], sync: bool) -> None:
        try:
            if lines:
                self._file.write(b"".join(lines))
                self._file.flush()
            if sync:  # lines without a barrier are covered by the next batch's fsync
                os.fsync(self._file.fileno())
        except OSError as exc:
            self._on_error(f"cannot append to the journal {self._path!r}: {exc.strerror or exc}")


def _flatten(items: list[Any]) -> list[Any]:
    if not any(type(item) is list for item in items):
        return items
    flat: list[Any] = []
    for item in items:
        flat.extend(item if type(item) is list else (item,))
    return flat


def _write_private(path: Path, data: bytes, on_error: Callable[[str], None]) -> None:
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask says
            write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:  # resume will run the task again rather than reuse a redacted output
        on_error(f"cannot write {str(path)!r}: {exc.strerror or exc}")


def _supplied(document: dict[str, Any], outcome: TaskOutcome) -> bytes:
    """What a trace document holds that came from outside the runner (the user's ids, text and
    inputs; agents' outputs, errors and events; the trace folder's path), serialised compactly in
    document order. Only this is scanned for credentials: the runner's own keys, numbers and flags
    cannot hold one, and every credential shape lies inside one JSON string (``secrets`` lets no
    PEM block span two), so leaving them and the indentation out finds the same, ~4x faster."""
    return serialise([document["task_id"], document["agent"], document["description"], document["dependencies"],
                       document["error"], document["input_data"], document["resolved_input"], document["output"],
                       [(a.error, a.events, a.traceback) for a in outcome.attempts], document["isolation"],
                       document["trace_index"]])


_BARRIER, _DRAIN = "barrier", "drain"
def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    for loop, future in waiters:
        with contextlib.suppress(RuntimeError):  # the loop is gone (interrupted at exit)
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
