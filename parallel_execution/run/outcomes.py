"""The values the scheduler produces: attempts, outcomes, earlier results reused on resume.

A ``TaskOutcome`` is everything known about a task when it ends (the trace file and the result are
built from it). Kept apart from the scheduler so traces, progress displays and plan write-back
depend on these small types, not on the scheduling loop; the hooks they are handed to are
``run.observers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parallel_execution.inputs.plan import PlannedTask
from parallel_execution.inputs.schema import TaskStatus
from parallel_execution.run.observers import Observer, ObserverLike  # re-exported: their home until 0.2

__all__ = ["Attempt", "Observer", "ObserverLike", "PriorResult", "TaskOutcome"]


@dataclass(frozen=True, slots=True)
class PriorResult:
    """A success from an earlier run of this dispatch (resume): reused while both digests match."""

    input_digest: str
    deps_digest: str
    output: Any


@dataclass(slots=True)
class Attempt:
    number: int
    started_ms: float
    finished_ms: float = 0.0
    status: TaskStatus = "error"
    error: str | None = None
    traceback: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {"attempt": self.number, "started_ms": self.started_ms, "finished_ms": self.finished_ms,
               "duration_ms": round(self.finished_ms - self.started_ms, 3), "status": self.status,
               "error": self.error, "events": self.events}
        if self.traceback:
            out["traceback"] = self.traceback
        return out


@dataclass(slots=True)
class TaskOutcome:
    """Everything known about one task at its end; the trace and result are built from it."""

    planned: PlannedTask
    status: TaskStatus
    output: Any = None
    error: str | None = None
    resolved_input: Any = None
    attempts: list[Attempt] = field(default_factory=list)
    started_ms: float | None = None
    finished_ms: float | None = None
    cost_usd: float | None = None
    resumed: bool = False  # succeeded in an earlier run of the same dispatch; not run again
    deps_digest: str | None = None  # the dependency outputs this task saw (for resume)
    output_digest: str | None = None
    isolation: dict[str, Any] | None = None  # its worktree, branch and merge (parallel_execution.isolation)
    # The redactor that checked everything above (its whole trace document) and found nothing to
    # hide (traces.writer): the result and the progress displays need not scan it again.
    verified_by: object | None = None

    @property
    def task_id(self) -> str:
        return self.planned.task_id

    @property
    def execution_time_ms(self) -> float:
        if self.started_ms is None or self.finished_ms is None:
            return 0.0
        return round(self.finished_ms - self.started_ms, 3)
