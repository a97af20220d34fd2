"""Reading dispatches back from their trace files (reports, trace queries, resume).

A dispatch is found by a *ref*: the path of its index file, its ``dispatch_id`` (or a unique prefix
of one), or ``latest`` (the most recently started dispatch in the trace folder)::

    record = load_dispatch("latest", "./traces")
    record.status, record.summary              # from the index
    for task in record.tasks:                 # index entries, completed from task traces
        trace = record.task_trace(task["task_id"])   # the full task trace, read on first use

The layout is ``traces.layout``'s. Paths are derived from where the index *is*, not from the paths
recorded in it (those are relative to the directory the run started in), so a trace folder can be
moved or read from anywhere. An index still saying ``running`` (a live or crashed run) is completed
from the task traces already written (a task whose trace exists reports that trace's status), else
from the journal. A damaged task trace (not JSON, truncated) is skipped and named in ``damaged``
and in its entry's ``trace_error``; it does not stop reports, queries or resume of the rest.

Every problem a caller can cause (unknown id, missing folder, a file that is not an index) raises
``InvalidInput`` with a message saying what was looked for and where, so the CLI exits 2.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.schema import SCHEMA_VERSION
from parallel_execution.traces.layout import (
    INDEX_PREFIX,
    INDEX_SUFFIX,
    INPUT_NAME,
    JOURNAL_NAME,
    dispatch_dir,
    dispatch_id_of,
    index_path,
    is_index_name,
    legacy_trace_name,
    trace_name,
)

__all__ = ["DispatchRecord", "find_index", "list_dispatches", "load_dispatch", "read_json"]

_STAMP = re.compile(r"\d{8}_\d{6}")
# Index fields copied from a task trace when the index has not recorded the task's end yet.
_FROM_TRACE = ("status", "error", "execution_time_ms", "started_ms", "finished_ms", "cost_usd")


def _invalid(message: str, field_name: str | None = "ref") -> InvalidInput:
    return InvalidInput([InputIssue(message, None, field_name)])


def read_json(path: Path) -> Any:
    """Parse a JSON file; ``InvalidInput`` naming the file when it is missing or not JSON."""
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise _invalid(f"no such file: {str(path)!r}") from None
    except OSError as exc:
        raise _invalid(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"{str(path)!r} is not valid JSON: {exc}") from None


def _index_files(trace_dir: Path) -> list[Path]:
    try:
        return [p for p in trace_dir.iterdir() if is_index_name(p.name) and p.is_file()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _invalid(f"cannot list trace folder {str(trace_dir)!r}: {exc.strerror or exc}", "trace_dir") from None


def _newest_first(paths: list[Path]) -> list[Path]:
    # Dispatch ids start with a UTC timestamp (second resolution); mtime breaks ties within a second.
    # Ids not made by new_dispatch_id() are placed by the index's modification time instead.
    def key(p: Path) -> tuple[str, float]:
        try:
            mtime = p.stat().st_mtime
        except OSError:
            mtime = 0.0
        stamp = dispatch_id_of(p)[:15]
        if not _STAMP.fullmatch(stamp):
            stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(mtime))
        return stamp, mtime

    return sorted(paths, key=key, reverse=True)


def find_index(ref: str, trace_dir: str | os.PathLike[str] = "./traces") -> Path:
    """The index file ``ref`` names: a path, a dispatch id (or unique prefix), or ``latest``."""
    folder = Path(trace_dir)
    if not ref:
        raise _invalid("empty dispatch reference: give an index file, a dispatch id or 'latest'")
    as_path = Path(ref)
    if as_path.suffix == INDEX_SUFFIX or os.sep in ref:
        if as_path.is_file():
            return as_path
        if as_path.is_dir():
            raise _invalid(f"{ref!r} is a folder; give the index file (dispatch-<id>.json) or a dispatch id")
        raise _invalid(f"no such index file: {ref!r}")
    if not folder.is_dir():
        raise _invalid(f"trace folder {str(folder)!r} does not exist (use --trace-dir)", "trace_dir")
    files = _index_files(folder)
    if ref == "latest":
        if not files:
            raise _invalid(f"no dispatches in {str(folder)!r} yet")
        return _newest_first(files)[0]
    exact = index_path(folder, ref.removeprefix(INDEX_PREFIX))
    if exact.is_file():
        return exact
    matches = sorted(p for p in files if dispatch_id_of(p).startswith(ref.removeprefix(INDEX_PREFIX)))
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(dispatch_id_of(p) for p in matches[:5])
        raise _invalid(f"{ref!r} matches {len(matches)} dispatches in {str(folder)!r} ({shown}); give more of the id")
    raise _invalid(f"no dispatch {ref!r} in {str(folder)!r} ({len(files)} dispatches there; "
                   "see `dispatch-runner traces list`)")


@dataclass(slots=True)
class DispatchRecord:
    """One dispatch as its trace files describe it; task traces are read lazily and cached."""

    index_path: Path
    index: dict[str, Any]
    _traces: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)
    _tasks: list[dict[str, Any]] | None = field(default=None, repr=False)
    _journal: dict[str, dict[str, Any]] | None = field(default=None, repr=False)
    # task id -> why its trace file could not be used (not JSON, not a task trace, unreadable)
    damaged: dict[str, str] = field(default_factory=dict)

    @property
    def dispatch_id(self) -> str:
        return str(self.index["dispatch_id"])

    @property
    def status(self) -> str:
        return str(self.index.get("status") or "unknown")

    @property
    def summary(self) -> dict[str, Any] | None:
        summary = self.index.get("summary")
        return summary if isinstance(summary, dict) else None

    @property
    def config(self) -> dict[str, Any]:
        config = self.index.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def task_dir(self) -> Path:
        """The dispatch's folder (task traces, journal, logs), next to the index."""
        return dispatch_dir(self.index_path)

    @property
    def journal_path(self) -> Path:
        return self.task_dir / JOURNAL_NAME

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """The index's task entries in input order; unfinished ones completed from their traces."""
        if self._tasks is None:
            entries = []
            for raw in self.index.get("tasks") or []:
                entry = dict(raw)
                task_id = str(entry.get("task_id"))
                if entry.get("status") in (None, "pending"):
                    trace = self.task_trace(task_id)
                    if trace is not None:
                        entry.update({k: trace.get(k) for k in _FROM_TRACE})
                        entry["attempts"] = len(trace.get("attempts") or [])
                    elif task_id in self.journal():  # no usable trace: the journal still knows the end
                        line = self.journal()[task_id]
                        entry.update(status=line.get("status"), finished_ms=line.get("finished_ms"),
                                     attempts=line.get("attempts") or 0)
                path = self.trace_path(task_id)
                entry["trace_file"] = str(path) if path.is_file() and task_id not in self.damaged else None
                if task_id in self.damaged:
                    entry["trace_error"] = self.damaged[task_id]
                entries.append(entry)
            self._tasks = entries
        return self._tasks

    def task(self, task_id: str) -> dict[str, Any]:
        for entry in self.tasks:
            if entry.get("task_id") == task_id:
                return entry
        raise _invalid(f"dispatch {self.dispatch_id!r} has no task {task_id!r}", "task_id")

    def trace_path(self, task_id: str) -> Path:
        """The task's trace file (under its 0.1 name when an old dispatch wrote it so)."""
        path = self.task_dir / trace_name(task_id)
        legacy = self.task_dir / legacy_trace_name(task_id)
        if path != legacy and not path.exists() and legacy.name != INPUT_NAME and legacy.is_file():
            return legacy
        return path

    def task_trace(self, task_id: str) -> dict[str, Any] | None:
        """The task's full trace, or ``None`` when it was never written (skipped before the run
        ended, still running, or the run crashed first)."""
        if task_id not in self._traces:
            path = self.trace_path(task_id)
            document: Any = None
            if path.is_file():
                try:
                    document = read_json(path)
                except InvalidInput as exc:  # one damaged trace must not block the whole dispatch
                    self.damaged[task_id] = exc.issues[0].message
                    document = None
                if document is not None and not isinstance(document, dict):
                    self.damaged[task_id] = f"{str(path)!r} is not a task trace"
                    document = None
            self._traces[task_id] = document
        return self._traces[task_id]

    def journal(self) -> dict[str, dict[str, Any]]:
        """The last journal line of each task (the durable record); torn lines are left out."""
        if self._journal is None:
            last: dict[str, dict[str, Any]] = {}
            try:
                raw = self.journal_path.read_bytes()
            except OSError:
                raw = b""
            for line in raw.splitlines():
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # torn by a crash: that task did not finish durably
                if isinstance(entry, dict) and isinstance(entry.get("task_id"), str):
                    last[entry["task_id"]] = entry
            self._journal = last
        return self._journal

    def task_traces(self) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """(index entry, trace or None) for every task, in input order."""
        for entry in self.tasks:
            yield entry, self.task_trace(str(entry.get("task_id")))

    def counts(self) -> dict[str, int]:
        """How many tasks ended in each status (``pending``: no end recorded)."""
        out: dict[str, int] = {}
        for entry in self.tasks:
            status = str(entry.get("status") or "pending")
            out[status] = out.get(status, 0) + 1
        return out

    def full_document(self) -> dict[str, Any]:
        """The index with each task entry merged with its full trace (for jq queries)."""
        tasks = []
        for entry, trace in self.task_traces():
            merged = {**(trace or {}), **{k: v for k, v in entry.items() if k not in (trace or {})},
                      "trace_file": entry["trace_file"]}
            damage = self.damaged.get(str(entry.get("task_id")))
            if damage:
                merged.update(trace_file=None, trace_error=damage)
            tasks.append(merged)
        return {**self.index, "index_file": str(self.index_path), "tasks": tasks}


def _check_index(document: Any, path: Path) -> dict[str, Any]:
    if not isinstance(document, dict) or "dispatch_id" not in document or not isinstance(document.get("tasks"), list):
        raise _invalid(f"{str(path)!r} is not a dispatch index (no dispatch_id / tasks)")
    version = document.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise _invalid(f"{str(path)!r} has schema_version {version}; this version reads up to {SCHEMA_VERSION}")
    return document


def load_dispatch(ref: str, trace_dir: str | os.PathLike[str] = "./traces") -> DispatchRecord:
    """Find and read a dispatch's index (``find_index`` rules); task traces load on demand."""
    path = find_index(ref, trace_dir)
    return DispatchRecord(path, _check_index(read_json(path), path))


def list_dispatches(trace_dir: str | os.PathLike[str] = "./traces", limit: int | None = None) -> list[dict[str, Any]]:
    """Newest first: id, status, start/end, task counts and wall time of each dispatch.

    Only indexes are read (no task traces), so this stays fast on a large trace folder. An index
    that cannot be read is listed with ``status: "unreadable"`` and the reason, not skipped.
    """
    rows: list[dict[str, Any]] = []
    for path in _newest_first(_index_files(Path(trace_dir)))[:limit]:
        try:
            index = _check_index(read_json(path), path)
        except InvalidInput as exc:
            rows.append({"dispatch_id": dispatch_id_of(path), "status": "unreadable", "error": exc.issues[0].message,
                         "index_file": str(path)})
            continue
        counts: dict[str, int] = {}
        for task in index["tasks"]:
            status = str(task.get("status") or "pending")
            counts[status] = counts.get(status, 0) + 1
        summary = index.get("summary") or {}
        prompt = index.get("user_prompt")
        rows.append({
            "dispatch_id": index["dispatch_id"],
            "status": index.get("status"),
            "started_at": index.get("started_at"),
            "finished_at": index.get("finished_at"),
            "total_tasks": len(index["tasks"]),
            "counts": counts,
            "total_time_ms": summary.get("total_time_ms"),
            "speedup": summary.get("speedup"),
            "total_cost_usd": summary.get("total_cost_usd"),
            "user_prompt": prompt if not isinstance(prompt, str) or len(prompt) <= 120 else prompt[:117] + "...",
            "index_file": str(path),
        })
    return rows
