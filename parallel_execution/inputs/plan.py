"""The validated plan: what ``inputs.validate.build_plan`` returns and the scheduler runs.

Plain data (one ``PlannedTask`` per task, in input order, with graph indexes, resolved timeouts,
retries and priorities) kept apart from the checks that build it, so the run layer depends on this
small module and never on validation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from parallel_execution.agents.base import Agent
from parallel_execution.graph.checks import GraphFacts, critical_path, simulate_makespan
from parallel_execution.inputs.paths import WorkspacePolicy
from parallel_execution.inputs.refs import Ref
from parallel_execution.inputs.schema import DispatchConfig, Task

__all__ = ["PlannedTask", "ValidatedPlan"]


@dataclass(slots=True)
class PlannedTask:
    index: int
    task: Task
    agent_cls: type[Agent]
    deps: list[int]
    dependents: list[int]
    refs: list[Ref]
    timeout_seconds: float | None
    retries: int
    estimate_seconds: float
    priority: float = 0.0  # longest remaining path, from estimates
    level: int = 0  # 0 = no dependencies
    isolated: bool = False  # runs in its own git worktree (parallel_execution.isolation)

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def uses_model(self) -> bool:
        return self.agent_cls.task_uses_model(self.task.input_data)


@dataclass(slots=True)
class ValidatedPlan:
    tasks: list[PlannedTask]
    config: DispatchConfig
    policy: WorkspacePolicy
    user_prompt: str | None
    facts: GraphFacts = field(repr=False)
    allow_commands: bool = False

    def describe(self) -> dict[str, Any]:
        """The plan for people and for the dispatcher agent: levels, critical path, expectations."""
        estimates = [t.estimate_seconds for t in self.tasks]
        length, path = critical_path(self.facts, estimates)
        workers = self.config.max_workers
        makespan = simulate_makespan(self.facts, estimates, workers)
        levels: dict[int, list[str]] = defaultdict(list)
        for t in self.tasks:
            levels[t.level].append(t.task_id)
        total = sum(estimates)
        return {
            "total_tasks": len(self.tasks),
            "max_workers": workers,
            "levels": [levels[k] for k in sorted(levels)],
            "critical_path": [self.tasks[i].task_id for i in path],
            "critical_path_seconds": round(length, 3),
            "total_work_seconds": round(total, 3),
            "expected_makespan_seconds": round(makespan, 3),
            "expected_speedup": round(total / makespan, 3) if makespan else 1.0,
            "ideal_speedup": round(total / max(length, total / workers), 3) if total else 1.0,
            "estimates": "from estimated_seconds" if any(t.task.estimated_seconds for t in self.tasks)
            else "equal (no estimated_seconds given)",
            "workspace": str(self.policy.root),
            "trace_dir": self.config.trace_dir,
        }
