"""From input to a ``ValidatedPlan``: every check that can be made before anything runs.

``parse_input`` turns JSON (bytes, str or a dict) into a ``DispatchInput``; ``build_plan`` then
checks, in order, and collects every problem it can find in one pass:

1. each task's agent exists and its ``input_data`` fits the agent's own input model (fields holding
   ``$from`` references are checked once resolved, just before the task runs); path fields resolve
   inside the workspace; command-running agents need ``allow_commands``;
2. the graph (``graph.check_graph``): duplicates, unknown/self dependencies, cycles;
3. ``$from`` references name a (transitive) dependency and compile as jq;
4. no two tasks that may run at the same time write the same path (or one writes what the other reads).

Any problem raises ``InvalidInput`` carrying all of them (``CycleError``, a kind of it, when the
graph has a cycle); nothing has been run or written then.
The plan it returns is ``inputs.plan`` (what the scheduler reads; it never imports this module).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parallel_execution.agents.base import Agent
from parallel_execution.agents.registry import UnknownAgent, load_agent
from parallel_execution.errors import CycleError, InputIssue, InvalidInput
from parallel_execution.graph.checks import bottom_levels, check_graph
from parallel_execution.inputs.issues import pydantic_issues
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePolicy, resolve_in_workspace
from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.reach import Reach, ordered_conflicts
from parallel_execution.inputs.refs import Ref, RefError, compile_filter, find_refs
from parallel_execution.inputs.scan import quick_refs, unstorable_number
from parallel_execution.inputs.schema import DispatchInput, Task
from parallel_execution.isolation.config import isolation_issues, task_isolated
from parallel_execution.run.gcpause import paused_gc

# PlannedTask, ValidatedPlan (inputs.plan) and pydantic_issues (inputs.issues) are re-exported for 0.1 callers.
__all__ = ["PlannedTask", "ValidatedPlan", "build_plan", "parse_input", "pydantic_issues"]

DEFAULT_ESTIMATE_SECONDS = 1.0
_NO_EXTRA = Agent.extra_writes.__func__  # type: ignore[attr-defined]  # the base class's: no extra paths


def parse_input(raw: bytes | str | Mapping[str, Any] | DispatchInput) -> DispatchInput:
    """Parse the input document; raise ``InvalidInput`` naming each bad field."""
    if isinstance(raw, DispatchInput):
        return raw
    with paused_gc(promote=True):  # see build_plan
        return _parse_input(raw)


def _parse_input(raw: bytes | str | Mapping[str, Any]) -> DispatchInput:
    try:
        if isinstance(raw, (bytes, str)):
            if not raw.strip():
                raise InvalidInput([InputIssue("empty input: expected a JSON object with \"tasks\"")])
            if isinstance(raw, bytes):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInput([InputIssue(f"input is not UTF-8 text (byte {exc.start}); save the task "
                                                   f"file as UTF-8 JSON")]) from None
            return DispatchInput.model_validate_json(raw)
        return DispatchInput.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(pydantic_issues(exc, raw, model=DispatchInput)) from None


def build_plan(data: DispatchInput, *, allow_commands: bool = False) -> ValidatedPlan:
    """Check everything about ``data``; return the plan or raise ``InvalidInput``."""
    # Validation allocates a few objects per task that all stay alive (models, the plan) and no
    # cyclic garbage: the collector's passes over them found nothing and were ~half the time at 100k.
    with paused_gc(promote=True):
        return _build_plan(data, allow_commands)


def _build_plan(data: DispatchInput, allow_commands: bool) -> ValidatedPlan:
    config = data.config
    issues: list[InputIssue] = []
    try:
        policy = WorkspacePolicy.create(config.workspace, config.allow_outside_workspace)
        if not policy.root.is_dir():
            issues.append(InputIssue(f"workspace {str(policy.root)!r} is not a directory (create it, or pass "
                                     "--workspace)", None, "config.workspace"))
    except (OSError, ValueError) as exc:
        raise InvalidInput([InputIssue(f"bad workspace: {exc}", None, "config.workspace")]) from None

    facts = check_graph(data.tasks)
    issues.extend(facts.issues)
    planned: list[PlannedTask] = []
    agents: dict[str, Any] = {}  # name -> agent class, or the UnknownAgent it raised
    context = policy.as_context()
    for i, task in enumerate(data.tasks):
        agent_cls = agents.get(task.agent) or agents.setdefault(task.agent, _agent(task.agent))
        if isinstance(agent_cls, UnknownAgent):
            refs: list[Ref] = []
            agent_cls, task_issues = None, [InputIssue(str(agent_cls), task.task_id, "agent")]
        else:
            refs, task_issues = _check_task(task, agent_cls, context, policy.root, allow_commands)
        issues.extend(task_issues)
        planned.append(PlannedTask(
            index=i, task=task, agent_cls=agent_cls, deps=facts.deps[i], dependents=facts.dependents[i],
            refs=refs, timeout_seconds=task.timeout_seconds or config.timeout_seconds,
            retries=config.retries if task.retries is None else task.retries,
            estimate_seconds=task.estimated_seconds or DEFAULT_ESTIMATE_SECONDS,
            isolated=task_isolated(task.agent, task.isolation, config.isolation),
        ))
    issues.extend(isolation_issues(config.isolation, [p.isolated for p in planned], allow_commands))
    if not facts.issues:  # reference and conflict checks need a sound graph
        ids = {task_id: i for i, task_id in enumerate(facts.ids)}  # no duplicates in a sound graph
        reach = Reach(facts.order, facts.deps, facts.dependents,
                      sources=(ids[r.source] for t in planned for r in t.refs if r.source in ids))
        issues.extend(_check_refs(planned, ids, reach))
        issues.extend(_check_conflicts(planned, reach, policy))
    if issues:
        cycles = [i.cycle for i in issues if i.cycle is not None]
        raise CycleError(cycles[0], issues) if cycles else InvalidInput(issues)

    priorities = bottom_levels(facts, [t.estimate_seconds for t in planned])
    levels = [0] * len(planned)
    for i in facts.order:
        level = 0
        for d in facts.deps[i]:
            if levels[d] >= level:
                level = levels[d] + 1
        levels[i] = level
        planned[i].priority, planned[i].level = priorities[i], level
    return ValidatedPlan(planned, config, policy, data.user_prompt, facts, allow_commands)


def _agent(name: str) -> Any:
    try:
        return load_agent(name)
    except UnknownAgent as exc:
        return exc


def _check_task(task: Task, agent_cls: Any, context: dict[str, Any], root: Path,
                allow_commands: bool) -> tuple[list[Ref], list[InputIssue]]:
    issues: list[InputIssue] = []
    if not allow_commands and (why := agent_cls.task_runs_commands(task.input_data, root)):
        issues.append(InputIssue(f"{why}; start the runner with --allow-commands to allow it (ask the user first)",
                                 task.task_id, "agent"))
    refs = quick_refs(task.input_data)  # inputs.scan: None when the exact checks below might object
    if refs is None:
        numbers = unstorable_number(task.input_data)
        if numbers is not None:
            return [], [*issues, InputIssue(numbers[1], task.task_id, numbers[0])]
        try:
            refs = list(find_refs(task.input_data, ()))
        except RefError as exc:
            return [], [*issues, InputIssue(str(exc), task.task_id, "input_data")]
    # Fields holding references are validated after resolution; everything else now.
    ref_keys = {r.path[0] for r in refs if r.path}
    if refs and () in {r.path for r in refs}:
        issues.append(InputIssue("input_data itself cannot be a $from reference; put it in a field",
                                 task.task_id, "input_data"))
    literal = {k: v for k, v in task.input_data.items() if k not in ref_keys} if ref_keys else task.input_data
    try:
        agent_cls.Input.model_validate(literal, context=context)
    except ValidationError as exc:
        issues.extend(i for i in pydantic_issues(exc, None, task.task_id, "input_data.", agent_cls.Input)
                      if not _under_ref(i.field, ref_keys))
    return refs, issues


def _under_ref(field_path: str | None, ref_keys: set[Any]) -> bool:
    if not field_path:
        return False
    head = field_path.removeprefix("input_data.").split(".")[0].split("[")[0]
    return head in ref_keys


def _check_refs(planned: list[PlannedTask], ids: dict[str, int], reach: Reach) -> list[InputIssue]:
    issues = []
    for t in planned:
        for ref in t.refs:
            try:
                compile_filter(ref.select)
            except RefError as exc:
                issues.append(InputIssue(str(exc), t.task_id, ref.field))
            source = ids.get(ref.source)
            if source is None or not reach.reaches(source, t.index):
                what = "unknown task" if source is None else "task that is not one of its (transitive) dependencies"
                issues.append(InputIssue(
                    f"$from {ref.source!r} refers to a {what}; add it to dependencies", t.task_id, ref.field))
    return issues


@cache
def _names_paths(agent: type[Agent] | None) -> bool:
    """Whether tasks of ``agent`` can declare paths through its input (path fields, ``extra_writes``)."""
    return agent is not None and bool(agent.write_fields or agent.read_fields
                                      or getattr(agent.extra_writes, "__func__", None) is not _NO_EXTRA)


def _agent_paths(t: PlannedTask, kind: str) -> list[str]:
    """The raw paths a task names through its agent's input: path fields (and ``extra_writes``)."""
    agent = t.agent_cls
    if agent is None:
        return []
    found: list[str] = []
    for name in agent.write_fields if kind == "writes" else agent.read_fields:
        value = t.task.input_data.get(name)
        values = value if isinstance(value, list) else [value]
        found.extend(v for v in values if isinstance(v, str))
    if kind == "writes":
        found.extend(agent.extra_writes(t.task.input_data))
    return found


def _check_conflicts(planned: list[PlannedTask], reach: Reach, policy: WorkspacePolicy) -> list[InputIssue]:
    """Two tasks that may run at once must not touch the same path (or a folder and a path in it)
    when at least one of them writes."""
    issues: list[InputIssue] = []
    touching: dict[str, dict[int, str]] = defaultdict(dict)  # path -> task index -> "writes" | "reads"
    resolved: dict[str, str] = {}  # many tasks name the same path: resolve it once
    for t in planned:
        if t.isolated:  # its own worktree: overlaps with others surface as merge conflicts instead
            continue
        task, agent_named = t.task, _names_paths(t.agent_cls)
        if not (task.writes or task.reads or agent_named):
            continue  # nothing declared: the common case
        for kind in ("reads", "writes"):  # writes last: a task that reads and writes a path writes it
            own = task.writes if kind == "writes" else task.reads
            # Its own writes/reads, then the agent's path fields (already checked by the agent's model).
            for n, raw in enumerate([*own, *(_agent_paths(t, kind) if agent_named else ())]):
                path = resolved.get(raw)
                if path is None:
                    try:
                        path = resolved[raw] = os.fspath(resolve_in_workspace(raw, policy))
                    except PathOutsideWorkspace as exc:
                        if n < len(own):
                            issues.append(InputIssue(str(exc), t.task_id, f"{kind}[{n}]"))
                        continue
                touching[path][t.index] = kind

    reported: set[tuple[int, int]] = set()
    for path, tasks in touching.items():
        # The same path, and every folder above it that some task touches (a folder covers its files).
        related = [path, *(str(folder) for folder in Path(path).parents if str(folder) in touching)]
        for other_path in related:
            where_of = {b: other_path for b in touching[other_path]} | {a: path for a in tasks}
            kinds = dict(touching[other_path])
            for a, kind in tasks.items():
                kinds[a] = "writes" if "writes" in (kind, kinds.get(a)) else kind
            for a, b in ordered_conflicts(reach, kinds):
                if (min(a, b), max(a, b)) in reported or (other_path != path and where_of[a] == where_of[b]):
                    continue  # pairs within one path are that path's own check
                reported.add((min(a, b), max(a, b)))
                first, second = sorted(((a, touching[where_of[a]][a], where_of[a]),
                                        (b, touching[where_of[b]][b], where_of[b])))
                same = first[2] == second[2]
                where = repr(first[2]) if same else f"{first[2]!r} and {second[2]!r}"
                issues.append(InputIssue(
                    f"conflict on {where}: task {planned[second[0]].task_id!r} also {second[1]} "
                    f"{'it' if same else repr(second[2])} and may run at the same time; "
                    f"make one depend on the other", planned[first[0]].task_id, first[1]))
    position = {t.task_id: t.index for t in planned}
    return sorted(issues, key=lambda i: position.get(i.task_id or "", -1))
