"""The local executor: an attempt runs in this process, on the dispatch's event loop.

This is the default and what every dispatch did before executors existed: a fresh agent instance
per attempt, awaited directly, so cancellation (timeout, fail_fast, Ctrl-C) arrives in the agent as
``asyncio.CancelledError`` and the agent's own ``finally`` kills the processes it started.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the input schema imports this package: no import of the planner at run time
    from parallel_execution.agents.base import TaskContext
    from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Run each attempt in-process."""

    kind = "local"

    async def start(self, plan: ValidatedPlan, artifacts_dir: Path) -> None:
        """Nothing to prepare."""

    async def run(self, planned: PlannedTask, data: Any, ctx: TaskContext) -> dict[str, Any]:
        return await planned.agent_cls().run(data, ctx)

    async def close(self) -> None:
        """Nothing to release."""
