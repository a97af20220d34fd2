"""The input and output documents, as pydantic models.

Input: ``DispatchInput`` = ``{"tasks": [Task, ...], "config": DispatchConfig, "user_prompt": str}``,
exactly the quick start's schema plus optional fields. Our own models forbid unknown fields, so a
misspelt key is an input error; a task's ``input_data`` is a free-form object here and is checked
against its agent's own model by the planner.

Output: ``DispatchResult`` with one ``TaskResult`` per task in input order, a ``Summary`` and the
trace index path. ``SCHEMA_VERSION`` is stamped on every persisted document.
"""

# No ``from __future__ import annotations``: pydantic would compile every field's annotation from
# its string (~50 µs a field, ~3 ms of each CLI start over the input and output models).

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from parallel_execution.executors.config import ExecutorConfig, LocalExecutorConfig
from parallel_execution.isolation.config import IsolationConfig, IsolationMode

__all__ = [
    "SCHEMA_VERSION",
    "DispatchConfig",
    "DispatchInput",
    "DispatchResult",
    "DispatchStatus",
    "Summary",
    "Task",
    "TaskId",
    "TaskResult",
    "TaskStatus",
]

SCHEMA_VERSION = 1

# Task ids become file names, so only characters that are safe everywhere.
TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,128}$")]
TaskStatus = Literal["success", "error", "timeout", "skipped", "cancelled"]
DispatchStatus = Literal["success", "failure", "cancelled"]


class _Strict(BaseModel):
    # No infinities or NaN: JSON cannot hold them (1e999 would be stored as null).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("a path cannot contain a NUL character")
    return value


PathText = Annotated[str, AfterValidator(_no_nul)]


def empty_list() -> list[Any]:
    """``default_factory=empty_list``, not ``list``: pydantic reads a factory's signature, and for the
    builtin that first parses its text signature with ``tokenize`` (~4 ms of every CLI start)."""
    return []


class Task(_Strict):
    """One unit of work: ``agent`` runs with ``input_data`` after all ``dependencies`` succeed."""

    task_id: TaskId
    agent: str = Field(min_length=1)
    description: str = ""
    input_data: dict[str, Any] = Field(default_factory=dict)
    dependencies: list[TaskId] = Field(default_factory=empty_list)
    timeout_seconds: float | None = Field(default=None, gt=0, description="Overrides config.timeout_seconds.")
    retries: int | None = Field(default=None, ge=0, le=100, description="Overrides config.retries.")
    writes: list[str] = Field(default_factory=empty_list, description="Workspace paths this task writes.")
    reads: list[str] = Field(default_factory=empty_list, description="Workspace paths this task reads.")
    estimated_seconds: float | None = Field(
        default=None, gt=0, description="Duration hint for priorities and the plan's expected makespan."
    )
    resources: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="Dask executor: worker resources one attempt holds, e.g. {\"gpu\": 1}.")
    isolation: IsolationMode | None = Field(
        default=None, description="'worktree': run in its own git worktree, merged behind config.isolation's gate.")


class DispatchConfig(_Strict):
    """Run settings; every field is honoured. CLI flags override the values given here."""

    max_workers: int = Field(default=5, ge=1, le=10_000)
    timeout_seconds: float | None = Field(default=300, gt=0, description="Per-task timeout; null = none.")
    trace_dir: PathText = Field(default="./traces", min_length=1, description="Relative to the current directory.")
    fail_fast: bool = False
    retries: int = Field(default=0, ge=0, le=100, description="Extra attempts after an error or timeout.")
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=86_400,
                                         description="First retry delay; doubles, with jitter (at most a day).")
    workspace: PathText | None = Field(default=None, description="Root for task paths; default: current directory.")
    allow_outside_workspace: bool = Field(default=False, description="Let task paths leave the workspace.")
    budget_usd: float | None = Field(default=None, gt=0, description="Cap on model spend for the dispatch.")
    executor: ExecutorConfig = Field(default_factory=LocalExecutorConfig, description="Where tasks run: local or dask.")
    isolation: IsolationConfig | None = Field(
        default=None, description="Git worktrees for tasks that change code, merged in DAG order behind a gate.")


class DispatchInput(_Strict):
    tasks: list[Task]
    config: DispatchConfig = Field(default_factory=DispatchConfig)
    user_prompt: str | None = None


class TaskResult(_Strict):
    task_id: str
    agent: str
    status: TaskStatus
    output: Any = None
    error: str | None = None
    execution_time_ms: float = 0.0
    attempts: int = 0
    trace_file: str | None = None
    started_ms: float | None = Field(default=None, description="Start, ms after the dispatch began.")
    finished_ms: float | None = None
    cost_usd: float | None = None
    isolation: dict[str, Any] | None = Field(
        default=None, description="Worktree isolation: branch, worktree, merge outcome, gate result.")


class Summary(_Strict):
    total_tasks: int
    successful: int
    failed: int
    skipped: int
    cancelled: int = 0
    total_time_ms: float
    task_time_ms: float = Field(description="Sum of task execution times.")
    critical_path_ms: float = Field(description="Longest dependency chain of measured task times.")
    critical_path: list[str]
    speedup: float = Field(description="task_time_ms / total_time_ms: achieved parallel speedup.")
    max_workers: int
    total_cost_usd: float = 0.0


class DispatchResult(_Strict):
    schema_version: int = SCHEMA_VERSION
    status: DispatchStatus
    dispatch_id: str
    results: list[TaskResult]
    summary: Summary
    trace_index: str | None = None
    trace_errors: list[str] = Field(default_factory=empty_list, description="Trace files that could not be written.")
    resume: dict[str, Any] | None = Field(
        default=None, description="On resume: resumed_from, reused task ids, and why each other task ran again.")
    isolation: dict[str, Any] | None = Field(
        default=None, description="Worktree isolation: the integration branch, its tip, what merged, fast-forward.")

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "success" else 1
