"""The plan file on disk: statuses written back in place, and claims between runners.

Write-back (off the event loop: ``StatusWriter`` hands each write to its own thread). An observer
sets ``in_progress`` when a subtask starts, ``completed`` / ``failed`` when it ends, ``pending`` again
when it was interrupted (skipped subtasks keep theirs). A coder success that is a skeleton
(``skeleton: true``: contract lines still raise ``NotImplementedError``) is ``blocked``, never
``completed``: its logic is still to be written. Each write takes
``<plan>.lock`` (filelock), re-reads the file, edits only those ``status`` values in the text (every
other byte stays as found: key order, layout, fields we do not own) and replaces the file atomically;
the finished tasks of one scheduler step are one write. Two runners' updates therefore merge.

Plan-level status. Each write also keeps the plan's own ``status`` and ``planStatus`` in step with its
subtasks, by Auto-Claude's rule (their UI reads them): all completed -> ``ai_review``/``review``
(``human_review`` once ``qa_signoff`` approved); any failed, in progress or completed ->
``in_progress``; none started -> ``backlog``/``pending`` (a plan awaiting approval keeps
``human_review``/``review``). Subtasks may sit under ``chunks`` and be named by ``subtask_id``.

Concurrent runners. At start a runner claims what it will run in ``<plan>.claims.json`` (pid, host,
dispatch id; under the same lock) and releases each claim as the subtask ends. Other runners leave
alone subtasks with a live claim and ``in_progress`` ones with no claim (another tool or host). A
claim whose process is gone (same host) is stale and its subtask runs again; ``--reclaim`` also takes
unclaimed ``in_progress`` subtasks and other hosts' claims, never a live process's on this host.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.plan import PlannedTask
from parallel_execution.run.observers import Observer
from parallel_execution.run.outcomes import TaskOutcome
from parallel_execution.traces.fsio import atomic_write_json, atomic_write_text

__all__ = ["LOCK_TIMEOUT_SECONDS", "PLAN_FIELDS", "Claim", "PlanStore", "StatusWriter", "plan_status", "subtask_key",
           "subtasks_of"]

LOCK_TIMEOUT_SECONDS = 60.0
LOCK_POLL_SECONDS = 0.002  # filelock polls a contended lock; its 50 ms default would pace every write
_FINAL = {"success": "completed", "error": "failed", "timeout": "failed"}
_SUBTASK_LISTS = ("subtasks", "chunks")
_PLAN = "\x00plan."  # span keys of the plan's own fields, never a subtask id
PLAN_FIELDS = ("status", "planStatus")


def subtasks_of(phase: Any) -> list[Any]:
    """A phase's subtask list in a raw plan document (``subtasks``, else Auto-Claude's ``chunks``)."""
    if not isinstance(phase, dict):
        return []
    items = phase.get("subtasks") if "subtasks" in phase else phase.get("chunks")
    return items if isinstance(items, list) else []


def subtask_key(sub: Any) -> str | None:
    if not isinstance(sub, dict):
        return None
    value = sub["id"] if "id" in sub else sub.get("subtask_id")
    return None if value is None else str(value)


def plan_status(document: Mapping[str, Any]) -> dict[str, str]:
    """The plan's ``status`` and ``planStatus`` for its subtasks' statuses (Auto-Claude's rule)."""
    subs = [sub for phase in document.get("phases") or [] for sub in subtasks_of(phase) if isinstance(sub, dict)]
    current = {k: document.get(k) for k in PLAN_FIELDS}
    states = [sub.get("status", "pending") for sub in subs]
    if not subs:
        return {"status": current["status"] or "backlog", "planStatus": current["planStatus"] or "pending"}
    if all(state == "completed" for state in states):
        signoff = document.get("qa_signoff")
        approved = isinstance(signoff, dict) and signoff.get("status") == "approved"
        return {"status": "human_review" if approved else "ai_review", "planStatus": "review"}
    if any(state in ("failed", "in_progress", "completed") for state in states):
        return {"status": "in_progress", "planStatus": "in_progress"}
    if current == {"status": "human_review", "planStatus": "review"}:
        return {"status": "human_review", "planStatus": "review"}  # awaiting plan approval: kept
    return {"status": "backlog", "planStatus": "pending"}


@dataclass(frozen=True, slots=True)
class Claim:
    owner: str  # "pid 123 on host, dispatch ..."
    alive: bool  # its process may still run
    verified: bool  # liveness was checked (same host), not assumed



_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def _locate_statuses(text: str) -> dict[str, tuple[int, int, str | None]]:
    """Subtask id -> ``(start, end, None)``, the span of its ``status`` value in ``text``; or, with no
    status member, ``(at, at, separator)``: where ``separator + '"status": ...'`` goes."""
    found: dict[str, tuple[int, int, str | None]] = {}
    scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

    def skip(pos: int) -> int:
        return _WS.match(text, pos).end()  # type: ignore[union-attr]

    def value(pos: int, path: tuple[Any, ...]) -> int:
        char = text[pos]
        if char == '"':
            return int(scanstring(text, pos + 1)[1])
        if char not in "{[":
            return _SCALAR.match(text, pos).end()  # type: ignore[union-attr]
        close, members, n = "}" if char == "{" else "]", {}, 0
        opened, pos = pos + 1, skip(pos + 1)
        gap, last = text[opened:pos], pos  # the layout between "{" and the first member
        while text[pos] != close:
            key: Any = n
            if char == "{":
                key, pos = scanstring(text, pos + 1)
                pos = skip(skip(pos) + 1)  # past the colon
            end = value(pos, (*path, key))
            members[key], last, n = (pos, end), end, n + 1
            pos = skip(end)
            if text[pos] == ",":
                pos = skip(pos + 1)
        id_key = "id" if "id" in members else "subtask_id"
        if len(path) == 4 and path[0] == "phases" and path[2] in _SUBTASK_LISTS and id_key in members:
            sid = str(json.loads(text[slice(*members[id_key])]))
            found[sid] = (*members["status"], None) if "status" in members else (last, last, "," + (gap or " "))
        if not path and char == "{":
            for name in PLAN_FIELDS:
                found[_PLAN + name] = (*members[name], None) if name in members else (last, last, "," + (gap or " "))
        return pos + 1

    value(skip(0), ())
    return found


def _rewrite(original: str, document: Any, statuses: Mapping[str, str]) -> str:
    """``original`` with only these statuses changed; should the in-place edit ever not reproduce
    ``document``, the document re-serialised in the file's indent and trailing whitespace instead."""
    try:
        spans, text = _locate_statuses(original), original
        order = {sid: n for n, sid in enumerate(statuses)}  # insertions at one spot keep this order
        for sid in sorted(statuses, key=lambda s: (spans[s][0], order[s]), reverse=True):
            start, end, separator = spans[sid]
            literal = json.dumps(statuses[sid], ensure_ascii=False)
            name = sid.removeprefix(_PLAN) if sid.startswith(_PLAN) else "status"
            text = text[:start] + (literal if separator is None else f'{separator}"{name}": {literal}') + text[end:]
        if json.loads(text) == document:
            return text
    except (ValueError, LookupError, AttributeError, RecursionError):
        pass
    indent = re.search(r"\n([ \t]+)\S", original)
    return json.dumps(document, ensure_ascii=False, indent=indent and indent.group(1)) + original[len(original.rstrip()):]


class PlanStore:
    """The plan file on disk: locked read-modify-write of statuses, and this process's claims."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from filelock import FileLock  # a dependency; imported here as only `plan` needs it

        self.path = Path(path)
        self.claims_path = self.path.with_name(self.path.name + ".claims.json")
        self.lock = FileLock(str(self.path.with_name(self.path.name + ".lock")), timeout=LOCK_TIMEOUT_SECONDS)
        self.host = socket.gethostname()
        self.claimed: set[str] = set()

    def locked(self) -> Any:
        """The plan's lock as a context manager (``filelock.Timeout`` after LOCK_TIMEOUT_SECONDS)."""
        return self.lock.acquire(poll_interval=LOCK_POLL_SECONDS)

    def read_text(self) -> str:
        try:
            return self.path.read_bytes().decode("utf-8")  # as is: no newline translation
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput([InputIssue(f"cannot read plan {str(self.path)!r}: {exc}")]) from None

    def _records(self) -> dict[str, dict[str, Any]]:
        try:
            claims = json.loads(self.claims_path.read_text(encoding="utf-8"))["claims"]
            return {k: v for k, v in claims.items() if isinstance(v, dict)}
        except (OSError, ValueError, LookupError, TypeError, AttributeError):
            return {}

    def _claim(self, record: Mapping[str, Any]) -> Claim:
        owner, pid = f"pid {record.get('pid')} on {record.get('host')}, dispatch {record.get('dispatch_id')}", record.get("pid")
        if record.get("host") != self.host:
            return Claim(owner, alive=True, verified=False)  # another host's processes cannot be checked
        if not (isinstance(pid, int) and pid > 0):
            return Claim(owner, alive=False, verified=True)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return Claim(owner, alive=False, verified=True)
        except PermissionError:
            pass  # it exists, owned by another user
        return Claim(owner, alive=True, verified=True)

    def claims(self) -> dict[str, Claim]:
        """Every recorded claim, with its liveness (call under the lock)."""
        return {sid: self._claim(rec) for sid, rec in self._records().items()}

    def claim(self, subtask_ids: Iterable[str], dispatch_id: str) -> None:
        """Record ``subtask_ids`` as this run's (call under the lock); dead claims are dropped."""
        records = {sid: rec for sid, rec in self._records().items() if self._claim(rec).alive}
        stamp = {"pid": os.getpid(), "host": self.host, "dispatch_id": dispatch_id,
                 "claimed_at": datetime.now(UTC).isoformat(timespec="seconds")}
        ids = list(subtask_ids)
        records.update((sid, stamp) for sid in ids)
        self.claimed.update(ids)
        self._write_claims(records)

    def _write_claims(self, records: dict[str, Any]) -> None:
        if records:
            atomic_write_json(self.claims_path, {"schema_version": 1, "plan": self.path.name, "claims": records})
        else:
            self.claims_path.unlink(missing_ok=True)

    def update(self, statuses: Mapping[str, str], release: Collection[str] = ()) -> None:
        """Set the ``status`` of these subtasks and drop this run's claims on ``release``."""
        with self.locked():
            original = self.read_text()
            document, found = json.loads(original), set()
            for phase in document.get("phases") or []:
                for sub in subtasks_of(phase):
                    if (key := subtask_key(sub)) in statuses:
                        found.add(key)
                        sub["status"] = statuses[key]  # type: ignore[index]
            edits = {k: v for k, v in statuses.items() if k in found}
            if isinstance(document, dict) and found:
                for name, value in plan_status(document).items():
                    if document.get(name) != value:
                        document[name] = edits[_PLAN + name] = value
            text = _rewrite(original, document, edits)
            if text != original:
                atomic_write_text(self.path, text)
            if mine := self.claimed & set(release):
                records = self._records()
                for sid in mine:
                    if records.get(sid, {}).get("pid") == os.getpid():
                        del records[sid]
                self.claimed -= mine
                self._write_claims(records)
        if missing := sorted(set(statuses) - found):
            raise LookupError(f"subtasks no longer in {self.path.name}, status not written: {', '.join(missing)}")


class StatusWriter(Observer):
    """Scheduler observer writing statuses back: one write per start, one per batch of finished tasks.

    The hooks only queue the writes; one thread applies them in order (each takes the plan's file
    lock, which another runner may hold for a while), so the event loop never waits for the lock.
    ``dispatch_finished`` waits until every queued write is done and raises what failed (the run
    records it in ``trace_errors``); ``close`` writes what is left and releases this run's claims.
    """

    def __init__(self, store: PlanStore, subtask_of: dict[str, str], was_in_progress: set[str] | None = None) -> None:
        self.store = store
        self.subtask_of = subtask_of  # task id -> subtask id
        self.was_in_progress = set(was_in_progress or ())  # reclaimed: back to pending unless it ran
        self.started: set[str] = set()
        self.errors: list[str] = []
        self._statuses: dict[str, str] = {}
        self._release: set[str] = set()
        self._queue: queue.SimpleQueue[tuple[dict[str, str], set[str]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reported = 0

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        sid = self.subtask_of[planned.task_id]
        if sid not in self.started:
            self.started.add(sid)
            self._submit({sid: "in_progress"}, set())

    def task_finished(self, outcome: TaskOutcome) -> None:
        sid = self.subtask_of[outcome.task_id]
        status = _FINAL.get(outcome.status)
        if status == "completed" and isinstance(outcome.output, dict) and outcome.output.get(
                "skeleton", outcome.output.get("implementation") == "scaffold"):
            status = "blocked"  # a skeleton is not done: its logic (the todo) is still to write
        if status is None and (sid in self.started or sid in self.was_in_progress):
            status = "pending"  # interrupted, or reclaimed and not run: free to run again
        if status is not None:
            self._statuses[sid] = status
        self._release.add(sid)

    def commit(self) -> None:
        if self._statuses or self._release:
            self._submit(dict(self._statuses), set(self._release))
            self._statuses.clear()
            self._release.clear()

    def dispatch_finished(self, result: Any) -> None:
        self.commit()
        self.flush()
        if len(self.errors) > self._reported:
            new, self._reported = self.errors[self._reported:], len(self.errors)
            raise RuntimeError("; ".join(new))

    def flush(self) -> None:
        """Wait until every queued write has been applied."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Write what is left and release every claim of this run."""
        self._release |= self.store.claimed
        self.commit()
        self.flush()

    def late_errors(self) -> list[str]:
        """Write-back failures not yet raised from ``dispatch_finished`` (e.g. from ``close``)."""
        return self.errors[self._reported:]

    def _submit(self, statuses: dict[str, str], release: set[str]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="plan-status-writer", daemon=True)
            self._thread.start()
        self._queue.put((statuses, release))

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.store.update(*item)
            except Exception as exc:  # a lock timeout, a subtask gone from the file: reported, never fatal
                self.errors.append(f"plan write-back: {exc}")
