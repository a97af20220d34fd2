"""Executors: where one attempt of a task runs. The scheduler decides *what* runs *when*; an executor
only runs an attempt and hands back its output (or raises, exactly as the agent would).

::

    executor = make_executor(plan.config.executor)
    await executor.start(plan, artifacts_dir)      # connect, probe; raises InvalidInput if unusable
    output = await executor.run(planned, data, ctx)  # one attempt; cancellable
    await executor.close()

``local`` (default) awaits the agent in this process; ``dask`` ships the attempt to a Dask worker
(see ``executors.dask``). Both honour cancellation the same way: cancelling ``run`` stops the
attempt and every process it started before ``run`` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from parallel_execution.executors.config import DaskExecutorConfig, ExecutorConfig, LocalExecutorConfig
from parallel_execution.executors.local import LocalExecutor

if TYPE_CHECKING:  # the input schema imports this package: no import of the planner at run time
    from parallel_execution.agents.base import TaskContext
    from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan

__all__ = [
    "DaskExecutorConfig",
    "Executor",
    "ExecutorConfig",
    "LocalExecutor",
    "LocalExecutorConfig",
    "executor_override",
    "make_executor",
]


class Executor(Protocol):
    kind: str

    async def start(self, plan: ValidatedPlan, artifacts_dir: Path) -> None: ...

    async def run(self, planned: PlannedTask, data: Any, ctx: TaskContext) -> dict[str, Any]: ...

    async def close(self) -> None: ...


def make_executor(config: LocalExecutorConfig | DaskExecutorConfig) -> Executor:
    """The executor ``config.executor`` names (Dask is imported only when asked for)."""
    if isinstance(config, DaskExecutorConfig):
        from parallel_execution.executors.dask import DaskExecutor

        return DaskExecutor(config)
    return LocalExecutor()


def executor_override(kind: str | None, address: str | None, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """``config.executor`` after the CLI's ``--executor``/``--scheduler`` (None: no flag given).

    ``--scheduler`` alone implies ``--executor dask``; other settings of the same kind are kept.
    """
    if kind is None and address is None:
        return None
    kind = kind or "dask"
    merged = dict(current or {}) if (current or {}).get("kind", "local") == kind else {}
    merged["kind"] = kind
    if address is not None:
        merged["address"] = address
    return merged
