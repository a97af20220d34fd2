"""Human progress on stderr: one plain line per task start and end (no control codes).

An ``Observer`` of the scheduler; stdout is never touched.
"""

from __future__ import annotations

from typing import Any, TextIO

from parallel_execution.planner import PlannedTask
from parallel_execution.scheduler import TaskOutcome

__all__ = ["PlainProgress"]

_MARK = {"success": "ok", "error": "FAILED", "timeout": "TIMEOUT", "skipped": "skipped", "cancelled": "cancelled"}


class PlainProgress:
    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done = 0

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._line(f"[{at_ms / 1000:8.2f}s] start    {planned.task_id} ({planned.task.agent}){again}")

    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None:
        self._line(f"           retry    {planned.task_id} in {delay:.1f}s: {error}")

    def task_finished(self, outcome: TaskOutcome) -> None:
        self.done += 1
        at = (outcome.finished_ms or 0) / 1000
        detail = f" - {outcome.error}" if outcome.error and outcome.status != "success" else ""
        self._line(f"[{at:8.2f}s] {_MARK[outcome.status]:<8} {outcome.task_id} "
                   f"({outcome.execution_time_ms:.0f} ms) [{self.done}/{self.total}]{detail}")

    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        pass

    def commit(self) -> None:
        pass
