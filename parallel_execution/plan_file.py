"""Run an implementation_plan.json (phases of subtasks) as one DAG, writing statuses back to it.

::

    dispatch-runner plan PLAN [--retry-failed] [--reclaim] [--phase ID]... [--dry-run] [run options]

Plan to DAG. A phase is named in ``depends_on`` by its ``id`` or ``phase`` number (a phase with
neither, by its 1-based position); one without ``depends_on`` waits for no other phase. Each runnable
subtask becomes a task (id = subtask id, characters unsafe in file names become ``_``); a subtask may
give ``agent``, ``input_data``, ``timeout_seconds``, ``retries`` as in task JSON, else it is a ``claude``
task prompted with its description. ``pending`` subtasks run, ``failed`` ones with ``--retry-failed``;
``completed`` ones are satisfied, so running a plan again resumes it. A ``parallel_safe`` phase runs
its subtasks concurrently (under ``max_workers``); any other phase chains them in order, and one
that cannot run holds back the rest. A phase's subtasks depend on the runnable subtasks of the phases
in its ``depends_on`` (looking through phases with nothing left to run); if such a phase will not be
complete after this run (a failed or taken subtask, or not selected by ``--phase``), the dependent
phase does not run at all: its subtasks wait, never skipped past their dependencies.

Write-back. An observer sets ``in_progress`` when a subtask starts, ``completed`` / ``failed`` when
it ends, ``pending`` again when it was interrupted (skipped subtasks keep theirs). Each write takes
``<plan>.lock`` (filelock), re-reads the file, edits only those ``status`` values in the text (every
other byte stays as found: key order, layout, fields we do not own) and replaces the file atomically;
the finished tasks of one scheduler step are one write. Two runners' updates therefore merge.

Concurrent runners. At start a runner claims what it will run in ``<plan>.claims.json`` (pid, host,
dispatch id; under the same lock) and releases each claim as the subtask ends. Other runners leave
alone subtasks with a live claim and ``in_progress`` ones with no claim (another tool or host). A
claim whose process is gone (same host) is stale and its subtask runs again; ``--reclaim`` also takes
unclaimed ``in_progress`` subtasks and other hosts' claims, never a live process's on this host.

Output and exit code as for ``run``; a plan left with ``failed`` subtasks exits 1 even if this run
ran nothing. ``$from`` references reach subtasks of the same run only (outputs are not in the plan).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parallel_execution import progress
from parallel_execution.cli import EXIT_FAILED, EXIT_OK, add_run_options, apply_overrides, emit, execute
from parallel_execution.dispatcher import DispatchRun, new_dispatch_id
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.fsio import atomic_write_json, atomic_write_text
from parallel_execution.planner import PlannedTask, build_plan, parse_input, pydantic_issues
from parallel_execution.scheduler import TaskOutcome

__all__ = ["Claim", "ImplementationPlan", "ParsedPlan", "PlanPhase", "PlanSelection", "PlanStore", "PlanSubtask",
           "StatusWriter", "SubtaskDecision", "configure_parser", "main", "parse_plan", "select_tasks"]

DEFAULT_AGENT = "claude"
LOCK_TIMEOUT_SECONDS = 60.0
LOCK_POLL_SECONDS = 0.002  # filelock polls a contended lock; its 50 ms default would pace every write
_FINAL = {"success": "completed", "error": "failed", "timeout": "failed"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # plan files carry fields we do not own


class PlanSubtask(_Open):
    id: str | int
    description: str = ""
    status: Literal["pending", "in_progress", "completed", "failed", "blocked"] = "pending"
    agent: str | None = Field(default=None, min_length=1)
    input_data: dict[str, Any] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=100)


class PlanPhase(_Open):
    phase: int | None = None
    id: str | None = None
    parallel_safe: bool | None = False
    depends_on: list[str | int] | None = None
    subtasks: list[PlanSubtask] = Field(default_factory=list)

    def keys(self, position: int) -> set[str]:
        return {k for k in (self.id, None if self.phase is None else str(self.phase)) if k} or {str(position + 1)}

    def label(self, position: int) -> str:
        return self.id or (f"phase {self.phase}" if self.phase is not None else f"phase #{position + 1}")


class ImplementationPlan(_Open):
    phases: list[PlanPhase]


@dataclass(slots=True)
class ParsedPlan:
    model: ImplementationPlan
    order: list[int]  # phase positions, dependencies first
    deps: list[list[int]]  # phase position -> positions of the phases it depends on
    task_ids: dict[str, str]  # subtask id -> task id
    user_prompt: str


def parse_plan(text: str | bytes, source: str = "plan") -> ParsedPlan:
    """Parse and check a plan; raise ``InvalidInput`` naming each bad phase or subtask."""
    try:
        model = ImplementationPlan.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput([InputIssue(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, "
                                       f"column {exc.colno})")]) from None
    except ValidationError as exc:
        raise InvalidInput(pydantic_issues(exc, None)) from None
    phases, issues, owner = model.phases, list[InputIssue](), dict[str, int]()
    for i, phase in enumerate(phases):
        for key in sorted(phase.keys(i)):
            if owner.setdefault(key, i) != i:
                issues.append(InputIssue(f"phase key {key!r} names both {phases[owner[key]].label(owner[key])!r} "
                                         f"and {phase.label(i)!r}", None, f"phases[{i}]"))
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(range(len(phases)))
    deps: list[list[int]] = [[] for _ in phases]
    for i, phase in enumerate(phases):
        for n, ref in enumerate(phase.depends_on or []):
            j, where = owner.get(str(ref)), f"phases[{i}].depends_on[{n}]"
            if j is None:
                issues.append(InputIssue(f"{phase.label(i)!r} depends on unknown phase {ref!r} "
                                         f"(known: {', '.join(sorted(owner))})", None, where))
            elif j == i:
                issues.append(InputIssue(f"{phase.label(i)!r} depends on itself", None, where))
            elif j not in deps[i]:
                deps[i].append(j)
                graph.add_edge(j, i)
    seen: dict[str, int] = {}
    for i, phase in enumerate(phases):
        for k, sub in enumerate(phase.subtasks):
            key, where = str(sub.id), f"phases[{i}].subtasks[{k}].id"
            if not key:
                issues.append(InputIssue(f"empty subtask id in {phase.label(i)!r}", None, where))
            elif key in seen:
                issues.append(InputIssue(f"duplicate subtask id {key!r} (in {phases[seen[key]].label(seen[key])!r} "
                                         f"and {phase.label(i)!r})", key, where))
            else:
                seen[key] = i
    order: list[int] = []
    try:
        order = list(nx.lexicographical_topological_sort(graph))
    except nx.NetworkXUnfeasible:
        ring = [u for u, _ in nx.find_cycle(graph)][::-1]  # edges run before -> after; report "depends on"
        names = " -> ".join(phases[n].label(n) for n in [*ring, ring[0]])
        issues.append(InputIssue(f"phase cycle: {names} (each phase depends on the next)", None,
                                 f"phases[{ring[0]}].depends_on"))
    if issues:
        raise InvalidInput(issues)
    extra = model.model_extra or {}
    title = next((extra[k] for k in ("feature", "title", "name") if isinstance(extra.get(k), str)), None)
    return ParsedPlan(model, order, deps, _task_ids(list(seen)), title or f"implementation plan {source}")


def _task_ids(keys: list[str]) -> dict[str, str]:
    """Subtask id -> a task id safe as a file name; ids that are safe already keep their name."""
    used = {k for k in keys if not _UNSAFE.search(k) and len(k) <= 128}
    out = {}
    for key in keys:
        tid, n = (key, 0) if key in used else (_UNSAFE.sub("_", key)[:120], 1)
        while n and tid in used:
            n += 1
            tid = f"{_UNSAFE.sub('_', key)[:120]}-{n}"
        used.add(tid)
        out[key] = tid
    return out


@dataclass(frozen=True, slots=True)
class Claim:
    owner: str  # "pid 123 on host, dispatch ..."
    alive: bool  # its process may still run
    verified: bool  # liveness was checked (same host), not assumed


@dataclass(slots=True)
class SubtaskDecision:
    subtask_id: str
    task_id: str
    phase: str
    status: str
    action: Literal["run", "done", "wait"]
    reason: str | None = None


@dataclass(slots=True)
class PlanSelection:
    tasks: list[dict[str, Any]]
    decisions: list[SubtaskDecision]

    def subtask_of(self) -> dict[str, str]:
        return {d.task_id: d.subtask_id for d in self.decisions if d.action == "run"}

    def count(self, action: str) -> int:
        return sum(d.action == action for d in self.decisions)


def _own_decision(sub: PlanSubtask, claim: Claim | None, retry_failed: bool, reclaim: bool) -> tuple[Any, str | None]:
    if sub.status == "completed":
        return "done", None
    if claim is not None and claim.alive and not (reclaim and not claim.verified):
        return "wait", f"claimed by another run ({claim.owner})"
    if sub.status == "pending" or (sub.status == "failed" and retry_failed):
        return "run", None
    if sub.status == "failed":
        return "wait", "failed earlier; rerun with --retry-failed"
    if sub.status == "in_progress":
        if claim is not None or reclaim:  # a stale claim (its process is gone), or reclaiming
            return "run", None
        return "wait", "in_progress and not claimed by a live runner here; rerun with --reclaim if nothing works on it"
    return "wait", f"status {sub.status!r} is not run by the plan runner"


def select_tasks(parsed: ParsedPlan, *, retry_failed: bool = False, reclaim: bool = False,
                 claims: Mapping[str, Claim] | None = None, phases: Collection[str] | None = None) -> PlanSelection:
    """Decide what runs now and build its tasks (rules in the module docstring)."""
    claims, plan_phases = claims or {}, parsed.model.phases
    if phases is not None:
        known = {key for i, p in enumerate(plan_phases) for key in p.keys(i)}
        if unknown := sorted(set(phases) - known):
            raise InvalidInput([InputIssue(f"--phase {u!r}: no such phase (known: {', '.join(sorted(known))})")
                                for u in unknown])
    complete: dict[int, bool] = {}
    exits: dict[int, list[str]] = {}  # what the dependents of a phase wait for
    tasks: list[dict[str, Any]] = []
    decisions: dict[str, SubtaskDecision] = {}
    for i in parsed.order:
        phase = plan_phases[i]
        blocked_by = [plan_phases[j].label(j) for j in parsed.deps[i] if not complete[j]]
        inherited = list(dict.fromkeys(t for j in parsed.deps[i] for t in exits[j]))
        selected = phases is None or bool(phase.keys(i) & set(phases))
        sequential, runnable, hold = not phase.parallel_safe, list[str](), None
        for sub in phase.subtasks:
            key = str(sub.id)
            action, reason = _own_decision(sub, claims.get(key), retry_failed, reclaim)
            if action == "run" and not selected:
                action, reason = "wait", "its phase is not selected (--phase)"
            elif action == "run" and blocked_by:
                action, reason = "wait", f"waits for {blocked_by[0]!r}, which will not be complete after this run"
            elif action == "run" and hold:
                action, reason = "wait", hold
            if action == "run":
                tasks.append(_task(sub, parsed.task_ids[key], runnable[-1:] if sequential and runnable else inherited))
                runnable.append(parsed.task_ids[key])
            elif action == "wait" and sequential and hold is None:
                hold = f"comes after {key!r} in a sequential phase"
            decisions[key] = SubtaskDecision(key, parsed.task_ids[key], phase.label(i), sub.status, action, reason)
        complete[i] = all(decisions[str(s.id)].action != "wait" for s in phase.subtasks)
        exits[i] = (runnable[-1:] if sequential else runnable) if runnable else inherited
    ordered = [decisions[str(s.id)] for p in plan_phases for s in p.subtasks]
    position = {d.task_id: n for n, d in enumerate(ordered)}
    return PlanSelection(sorted(tasks, key=lambda t: position[t["task_id"]]), ordered)


def _task(sub: PlanSubtask, task_id: str, dependencies: list[str]) -> dict[str, Any]:
    agent, input_data = sub.agent or DEFAULT_AGENT, dict(sub.input_data or {})
    if agent == DEFAULT_AGENT and "prompt" not in input_data and sub.description:
        input_data["prompt"] = sub.description
    task = {"task_id": task_id, "agent": agent, "description": sub.description, "input_data": input_data,
            "dependencies": dependencies, "timeout_seconds": sub.timeout_seconds, "retries": sub.retries}
    return {k: v for k, v in task.items() if v is not None}


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
        if len(path) == 4 and path[0] == "phases" and path[2] == "subtasks" and "id" in members:
            sid = str(json.loads(text[slice(*members["id"])]))
            found[sid] = (*members["status"], None) if "status" in members else (last, last, "," + (gap or " "))
        return pos + 1

    value(skip(0), ())
    return found


def _rewrite(original: str, document: Any, statuses: Mapping[str, str]) -> str:
    """``original`` with only these statuses changed; should the in-place edit ever not reproduce
    ``document``, the document re-serialised in the file's indent and trailing whitespace instead."""
    try:
        spans, text = _locate_statuses(original), original
        for sid in sorted(statuses, key=lambda s: spans[s][0], reverse=True):
            start, end, separator = spans[sid]
            literal = json.dumps(statuses[sid], ensure_ascii=False)
            text = text[:start] + (literal if separator is None else f'{separator}"status": {literal}') + text[end:]
        if json.loads(text) == document:
            return text
    except (ValueError, LookupError, AttributeError, RecursionError):
        pass
    indent = re.search(r"\n([ \t]+)\S", original)
    return json.dumps(document, ensure_ascii=False, indent=indent and indent.group(1)) + original[len(original.rstrip()):]


class PlanStore:
    """The plan file on disk: locked read-modify-write of statuses, and this process's claims."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            from filelock import FileLock
        except ImportError:
            raise InvalidInput([InputIssue("running a plan file needs the filelock package: "
                                           "pip install 'parallel-dispatch[plans]'")]) from None
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
                for sub in phase.get("subtasks") or []:
                    if (key := str(sub.get("id"))) in statuses:
                        found.add(key)
                        sub["status"] = statuses[key]
            text = _rewrite(original, document, {k: v for k, v in statuses.items() if k in found})
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


@dataclass(slots=True)
class StatusWriter:
    """Scheduler observer writing statuses back: one write per start, one per batch of finished tasks."""

    store: PlanStore
    subtask_of: dict[str, str]  # task id -> subtask id
    was_in_progress: set[str] = field(default_factory=set)  # reclaimed: back to pending unless it ran
    started: set[str] = field(default_factory=set)
    _statuses: dict[str, str] = field(default_factory=dict)
    _release: set[str] = field(default_factory=set)

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        sid = self.subtask_of[planned.task_id]
        if sid not in self.started:
            self.started.add(sid)
            self.store.update({sid: "in_progress"})

    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        pass

    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None:
        pass

    def task_finished(self, outcome: TaskOutcome) -> None:
        sid = self.subtask_of[outcome.task_id]
        status = _FINAL.get(outcome.status)
        if status is None and (sid in self.started or sid in self.was_in_progress):
            status = "pending"  # interrupted, or reclaimed and not run: free to run again
        if status is not None:
            self._statuses[sid] = status
        self._release.add(sid)

    def commit(self) -> None:
        if self._statuses or self._release:
            statuses, release = dict(self._statuses), set(self._release)
            self._statuses.clear()
            self._release.clear()
            self.store.update(statuses, release)

    def close(self) -> None:
        """Write what is left and release every claim of this run."""
        self._release |= self.store.claimed
        self.commit()


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_file", metavar="PLAN", help="implementation_plan.json; statuses are written back to it")
    parser.add_argument("--retry-failed", action="store_true", help="run failed subtasks again")
    parser.add_argument("--reclaim", action="store_true",
                        help="also run in_progress subtasks no live runner here holds (after a crash)")
    parser.add_argument("--phase", action="append", metavar="ID",
                        help="run only this phase (id or number; repeatable); others are left alone")
    parser.add_argument("--dry-run", action="store_true", help="print what would run and why; change nothing")
    add_run_options(parser, with_file=False)
    progress.add_progress_options(parser)


def main(args: argparse.Namespace) -> int:
    store = PlanStore(args.plan_file)
    try:
        with store.locked():
            parsed = parse_plan(store.read_text(), args.plan_file)
            selection = select_tasks(parsed, retry_failed=args.retry_failed, reclaim=args.reclaim,
                                     claims=store.claims(), phases=args.phase)
            data = apply_overrides(parse_input({"tasks": selection.tasks, "user_prompt": parsed.user_prompt}), args)
            plan = build_plan(data, allow_commands=args.allow_commands)
            if args.dry_run:
                emit({"status": "valid", "plan": plan.describe(), "subtasks": [asdict(d) for d in selection.decisions]})
                return EXIT_OK
            dispatch_id, subtask_of = new_dispatch_id(), selection.subtask_of()
            store.claim(subtask_of.values(), dispatch_id)
    except TimeoutError:
        raise InvalidInput([InputIssue(f"{args.plan_file} stayed locked for {LOCK_TIMEOUT_SECONDS:g} s "
                                       f"({store.lock.lock_file})")]) from None
    if not args.quiet:
        _print_selection(selection, args.plan_file)
    reclaimed = {d.subtask_id for d in selection.decisions if d.action == "run" and d.status == "in_progress"}
    writer = StatusWriter(store, subtask_of, reclaimed)
    try:
        code = execute(DispatchRun(plan, dispatch_id=dispatch_id,
                                   observers=[writer, *progress.observers_from_args(args, plan)]))
    finally:
        writer.close()
    failed = [str(s.id) for p in parse_plan(store.read_text(), args.plan_file).model.phases
              for s in p.subtasks if s.status == "failed"]
    if failed:
        print(f"dispatch-runner: plan has failed subtasks: {', '.join(failed[:20])} "
              "(fix the cause, then rerun with --retry-failed)", file=sys.stderr)
        return max(code, EXIT_FAILED)
    return code


def _print_selection(selection: PlanSelection, source: str) -> None:
    print(f"plan {source}: {selection.count('run')} subtasks to run, {selection.count('done')} completed, "
          f"{selection.count('wait')} waiting", file=sys.stderr)
    waiting = [d for d in selection.decisions if d.action == "wait"]
    for d in waiting[:20]:
        print(f"  waits: {d.subtask_id} ({d.phase}): {d.reason}", file=sys.stderr)
    if len(waiting) > 20:
        print(f"  ... and {len(waiting) - 20} more", file=sys.stderr)
