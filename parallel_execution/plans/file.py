"""Run an implementation_plan.json (phases of subtasks) as one DAG, writing statuses back to it.

::

    dispatch-runner plan PLAN [--retry-failed] [--reclaim] [--phase ID]... [--dry-run] [run options]
                                                          (the command: ``commands.plan``)

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

Write-back and claims: ``plan_store.py``.

Output and exit code as for ``run``; a plan left with ``failed`` subtasks exits 1 even if this run
ran nothing. ``$from`` references reach subtasks of the same run only (outputs are not in the plan).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.issues import pydantic_issues
from parallel_execution.plans.store import Claim

__all__ = ["ImplementationPlan", "ParsedPlan", "PlanPhase", "PlanSelection", "PlanSubtask", "SubtaskDecision",
           "parse_plan", "select_tasks"]

DEFAULT_AGENT = "claude"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # plan files carry fields we do not own


class PlanSubtask(_Open):
    """A subtask; Auto-Claude planners' aliases are accepted: ``subtask_id`` for ``id``, ``title`` as the
    description when that is empty, status ``not_started`` for ``pending``."""

    id: str | int
    description: str = ""
    status: Literal["pending", "in_progress", "completed", "failed", "blocked"] = "pending"
    agent: str | None = Field(default=None, min_length=1)
    input_data: dict[str, Any] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=100)


    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "id" not in data and "subtask_id" in data:
            data["id"] = data["subtask_id"]
        if not data.get("description") and isinstance(data.get("title"), str):
            data["description"] = data["title"]
        if data.get("status") == "not_started":
            data["status"] = "pending"
        return data


_SUBTASK_FIELDS = ("id", "description", "status", "agent", "input_data", "timeout_seconds", "retries")


class PlanPhase(_Open):
    phase: int | None = None
    id: str | None = None
    parallel_safe: bool | None = False
    depends_on: list[str | int] | None = None
    subtasks: list[PlanSubtask] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _chunks(cls, data: Any) -> Any:
        """Auto-Claude's own fixtures list a phase's subtasks under ``chunks``."""
        if isinstance(data, dict) and "subtasks" not in data and "chunks" in data:
            return {**data, "subtasks": data["chunks"]}
        return data

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
    except RecursionError:
        raise InvalidInput([InputIssue(f"{source} is nested too deeply to be a plan")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput([InputIssue(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, "
                                       f"column {exc.colno})")]) from None
    except ValidationError as exc:
        raise InvalidInput(pydantic_issues(exc, None, model=ImplementationPlan)) from None
    phases, issues, owner = model.phases, list[InputIssue](), dict[str, int]()
    for i, phase in enumerate(phases):
        for key in sorted(phase.keys(i)):
            if owner.setdefault(key, i) != i:
                issues.append(InputIssue(f"phase key {key!r} names both {phases[owner[key]].label(owner[key])!r} "
                                         f"and {phase.label(i)!r}", None, f"phases[{i}]"))
    import networkx as nx  # only plan files pay its import (start-up: graph.checks)

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
            for unknown in sub.model_extra or {}:
                # Plan files carry fields we do not own, but a near-miss of one of ours is a typo
                # that would silently change what runs (a misspelt "agent" makes a claude task).
                close = difflib.get_close_matches(unknown, _SUBTASK_FIELDS, n=1, cutoff=0.75)
                if close:
                    issues.append(InputIssue(f"subtask {key!r} has unknown field {unknown!r}: did you mean "
                                             f"{close[0]!r}?", key, f"phases[{i}].subtasks[{k}].{unknown}"))
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
