"""The agent contract: one class per agent, one ``async run(data, ctx) -> dict`` per task.

An agent declares its input model (pydantic, ``extra="forbid"``), which the dispatcher validates
at validation time, so a misspelt field is an input error and not a task failure. The scheduler
creates a fresh agent instance for every attempt, so concurrent tasks never share agent state.

To fail a task with a clear message raise :class:`~parallel_execution.errors.TaskFailure`; any
other exception also ends the task as ``error`` (its traceback goes to the trace, never to stdout).
Cancellation (timeout, fail_fast, Ctrl-C) arrives as ``asyncio.CancelledError``: agents that own
processes or files must clean up in ``finally`` and let it propagate.

Example::

    class EchoInput(AgentInput):
        message: Any = None

    class EchoAgent(Agent[EchoInput]):
        name = "echo"
        Input = EchoInput

        async def run(self, data: EchoInput, ctx: TaskContext) -> dict[str, Any]:
            return {"message": data.message}
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict

from parallel_execution.inputs.paths import WorkspacePolicy

__all__ = ["Agent", "AgentInput", "Services", "TaskContext"]

T = TypeVar("T")


class AgentInput(BaseModel):
    """Base of every agent's ``input_data`` model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


InputT = TypeVar("InputT", bound=AgentInput)


class Services:
    """Dispatch-wide shared resources (a rate limiter, the budget), created on first use.

    One instance per dispatch; every task of the dispatch sees the same one. All tasks run on one
    event loop, so ``get_or_create`` needs no lock.
    """

    def __init__(self, **initial: Any) -> None:
        self._items: dict[str, Any] = dict(initial)
        self._closers: list[Callable[[], object]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def get_or_create(self, key: str, factory: Callable[[], T], close: Callable[[T], object] | None = None) -> T:
        """The item under ``key``, made by ``factory`` on first use; ``close(item)`` runs at ``close()``."""
        if key not in self._items:
            item = self._items[key] = factory()
            if close is not None:
                self._closers.append(lambda: close(item))
        return self._items[key]

    def close(self) -> None:
        """Release what the items hold (open files); the owner calls this when the dispatch ends."""
        while self._closers:
            self._closers.pop()()


@dataclass(slots=True)
class TaskContext:
    """What a running task may know and use. Owned by the scheduler; one per attempt."""

    task_id: str
    dispatch_id: str
    description: str
    attempt: int
    workspace: WorkspacePolicy
    artifacts_dir: Path  # the dispatch's trace folder; name extra files "<task_id>.<what>"
    timeout_seconds: float | None = None
    user_prompt: str | None = None
    # Dispatch-wide shared resources (rate limiters, budget), keyed by name.
    services: Services = field(default_factory=Services)
    events: list[dict[str, Any]] = field(default_factory=list)
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    cost_usd: float = 0.0  # model spend of this attempt, reported through record_cost
    _t0: float = field(default_factory=time.monotonic)

    def event(self, kind: str, **data: Any) -> None:
        """Record a trace event (time in ms since the attempt started)."""
        record = {"t_ms": round((time.monotonic() - self._t0) * 1000, 3), "event": kind, **data}
        self.events.append(record)
        if self.on_event is not None:
            self.on_event(kind, record)

    def record_cost(self, usd: float | None) -> None:
        """Report model spend: counted for this task and against the dispatch's budget."""
        if usd:
            self.cost_usd += float(usd)
            budget = self.services.get("budget")
            if budget is not None:
                budget.add(usd)

    def artifact_path(self, suffix: str) -> Path:
        """A per-task, per-attempt file in the trace folder, e.g. ``build.stdout.log``."""
        from parallel_execution.traces.layout import artifact_name

        return self.artifacts_dir / artifact_name(self.task_id, self.attempt, suffix)


class Agent(ABC, Generic[InputT]):
    """One kind of work. Subclasses set ``name`` and ``Input`` and implement ``run``."""

    name: ClassVar[str]
    Input: ClassVar[type[AgentInput]]
    # Input fields holding paths this agent writes / reads (for conflict checks between tasks).
    write_fields: ClassVar[tuple[str, ...]] = ()
    read_fields: ClassVar[tuple[str, ...]] = ()
    # True: refused unless the runner was started with --allow-commands.
    requires_commands: ClassVar[bool] = False
    # True: the task spends model money, so it counts against config.budget_usd.
    uses_model: ClassVar[bool] = False

    @classmethod
    def task_runs_commands(cls, data: Mapping[str, Any], workspace_root: Path) -> str | None:
        """Why a task with this raw ``input_data`` can run programs (so needs --allow-commands), or None."""
        return f"the {cls.name!r} agent runs programs" if cls.requires_commands else None

    @classmethod
    def task_uses_model(cls, data: Mapping[str, Any]) -> bool:
        """Whether a task with this raw ``input_data`` calls a model (override for backends)."""
        return cls.uses_model

    @classmethod
    def summarise(cls, output: dict[str, Any]) -> list[str] | None:
        """The few phrases that matter in one of this agent's outputs, for reports (``None``: no
        opinion, the report shows the first fields). Parts are joined with ", " and cut to fit."""
        return None

    @classmethod
    def extra_writes(cls, data: Mapping[str, Any]) -> list[str]:
        """Paths a task with this raw ``input_data`` writes besides its ``write_fields`` (conflict checks)."""
        return []

    @abstractmethod
    async def run(self, data: InputT, ctx: TaskContext) -> dict[str, Any]:
        """Do the work and return a JSON-serialisable output."""


def brief(value: Any, limit: int) -> str:
    """``value`` on one line (JSON unless it is a string), cut to ``limit`` characters with "…"."""
    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
