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

import math
import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parallel_execution.agents.registry import UnknownAgent, load_agent
from parallel_execution.errors import CycleError, InputIssue, InvalidInput
from parallel_execution.graph.checks import GraphFacts, bottom_levels, check_graph
from parallel_execution.inputs.issues import pydantic_issues
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePolicy, resolve_in_workspace
from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.reach import Reach, ordered_conflicts
from parallel_execution.inputs.refs import Ref, RefError, compile_filter, find_refs
from parallel_execution.inputs.schema import DispatchInput, Task
from parallel_execution.isolation.config import isolation_issues, task_isolated

# PlannedTask, ValidatedPlan (inputs.plan) and pydantic_issues (inputs.issues) are re-exported for 0.1 callers.
__all__ = ["PlannedTask", "ValidatedPlan", "build_plan", "parse_input", "pydantic_issues"]

DEFAULT_ESTIMATE_SECONDS = 1.0


def parse_input(raw: bytes | str | Mapping[str, Any] | DispatchInput) -> DispatchInput:
    """Parse the input document; raise ``InvalidInput`` naming each bad field."""
    if isinstance(raw, DispatchInput):
        return raw
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
    for i, task in enumerate(data.tasks):
        agent_cls, refs, task_issues = _check_task(task, policy, allow_commands)
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
        issues.extend(_check_refs(planned, facts))
        issues.extend(_check_conflicts(planned, facts, policy))
    if issues:
        cycles = [i.cycle for i in issues if i.cycle is not None]
        raise CycleError(cycles[0], issues) if cycles else InvalidInput(issues)

    priorities = bottom_levels(facts, [t.estimate_seconds for t in planned])
    for i in facts.order:
        planned[i].priority = priorities[i]
        planned[i].level = max((planned[d].level + 1 for d in planned[i].deps), default=0)
    return ValidatedPlan(planned, config, policy, data.user_prompt, facts, allow_commands)


def _check_task(task: Task, policy: WorkspacePolicy, allow_commands: bool) -> tuple[Any, list[Ref], list[InputIssue]]:
    issues: list[InputIssue] = []
    try:
        agent_cls = load_agent(task.agent)
    except UnknownAgent as exc:
        return None, [], [InputIssue(str(exc), task.task_id, "agent")]
    if not allow_commands and (why := agent_cls.task_runs_commands(task.input_data, policy.root)):
        issues.append(InputIssue(f"{why}; start the runner with --allow-commands to allow it (ask the user first)",
                                 task.task_id, "agent"))
    numbers = _unstorable_number(task.input_data)
    if numbers is not None:
        return agent_cls, [], [*issues, InputIssue(numbers[1], task.task_id, numbers[0])]
    try:
        refs = list(find_refs(task.input_data, ()))
    except RefError as exc:
        return agent_cls, [], [*issues, InputIssue(str(exc), task.task_id, "input_data")]
    # Fields holding references are validated after resolution; everything else now.
    ref_keys = {r.path[0] for r in refs if r.path}
    if () in {r.path for r in refs}:
        issues.append(InputIssue("input_data itself cannot be a $from reference; put it in a field",
                                 task.task_id, "input_data"))
    literal = {k: v for k, v in task.input_data.items() if k not in ref_keys}
    try:
        agent_cls.Input.model_validate(literal, context=policy.as_context())
    except ValidationError as exc:
        issues.extend(i for i in pydantic_issues(exc, None, task.task_id, "input_data.", agent_cls.Input)
                      if not _under_ref(i.field, ref_keys))
    return agent_cls, refs, issues


def _unstorable_number(value: Any) -> tuple[str, str] | None:
    """(field, message) for the first number JSON output cannot hold: an integer beyond 64 bits
    (traces and results would refuse it) or an infinity (1e999; it would come back as null)."""
    stack: list[tuple[str, Any]] = [("input_data", value)]
    while stack:
        where, item = stack.pop()
        if type(item) is dict:
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif type(item) is list:
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
        elif type(item) is int and not -(2**63) <= item < 2**64:
            return where, (f"an integer of {item.bit_length()} bits does not fit in 64 bits; pass it as a "
                           "string, or as a float (e.g. 1e20)")
        elif type(item) is float and not math.isfinite(item):
            return where, "the number is too large for JSON (it parses as infinity); pass it as a string"
    return None


def _under_ref(field_path: str | None, ref_keys: set[Any]) -> bool:
    if not field_path:
        return False
    head = field_path.removeprefix("input_data.").split(".")[0].split("[")[0]
    return head in ref_keys


def _check_refs(planned: list[PlannedTask], facts: GraphFacts) -> list[InputIssue]:
    issues = []
    ids = {t.task_id: t.index for t in planned}
    reach = Reach(facts.order, facts.deps, facts.dependents,
                  sources=(ids[r.source] for t in planned for r in t.refs if r.source in ids))
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


def _declared_paths(t: PlannedTask, kind: str) -> list[tuple[str, str]]:
    """(field, raw path) pairs: the task's own ``writes``/``reads`` plus the agent's path fields."""
    own: list[str] = t.task.writes if kind == "writes" else t.task.reads
    agent = t.agent_cls
    fields = () if agent is None else agent.write_fields if kind == "writes" else agent.read_fields
    found = [(f"{kind}[{n}]", p) for n, p in enumerate(own)]
    for name in fields:
        value = t.task.input_data.get(name)
        values = value if isinstance(value, list) else [value]
        found.extend((f"input_data.{name}", v) for v in values if isinstance(v, str))
    if kind == "writes" and agent is not None:
        found.extend(("input_data", p) for p in agent.extra_writes(t.task.input_data))
    return found


def _check_conflicts(planned: list[PlannedTask], facts: GraphFacts, policy: WorkspacePolicy) -> list[InputIssue]:
    """Two tasks that may run at once must not touch the same path (or a folder and a path in it)
    when at least one of them writes."""
    issues: list[InputIssue] = []
    touching: dict[str, dict[int, str]] = defaultdict(dict)  # path -> task index -> "writes" | "reads"
    resolved: dict[str, str] = {}  # many tasks name the same path: resolve it once
    for t in planned:
        if t.isolated:  # its own worktree: overlaps with others surface as merge conflicts instead
            continue
        for kind in ("reads", "writes"):  # writes last: a task that reads and writes a path writes it
            for field_name, raw in _declared_paths(t, kind):
                try:
                    path = resolved.get(raw) or resolved.setdefault(raw, os.fspath(resolve_in_workspace(raw, policy)))
                except PathOutsideWorkspace as exc:
                    if field_name.startswith(kind):  # agent fields were already checked by their model
                        issues.append(InputIssue(str(exc), t.task_id, field_name))
                    continue
                touching[path][t.index] = kind

    reach = Reach(facts.order, facts.deps, facts.dependents)
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
