"""Human progress on stderr: one plain line per task start and end (no control codes).

An ``Observer`` of the scheduler; stdout is never touched.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from parallel_execution.planner import PlannedTask, ValidatedPlan
from parallel_execution.scheduler import Observer, TaskOutcome

__all__ = ["PlainProgress", "add_progress_options", "describe_plan_text", "observers_from_args"]


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    """The run command's display flags."""
    parser.add_argument("--quiet", action="store_true", help="print nothing on stderr but errors")


def observers_from_args(args: argparse.Namespace, plan: ValidatedPlan) -> Sequence[Observer]:
    """The progress observers the flags ask for (stderr only; stdout is the result's)."""
    if args.quiet:
        return []
    return [PlainProgress(sys.stderr, len(plan.tasks))]


def describe_plan_text(plan: dict[str, Any]) -> str:
    """A few readable lines about a validated plan (``ValidatedPlan.describe()``), for stderr."""
    levels = " | ".join(", ".join(level) for level in plan["levels"])
    return (f"valid: {plan['total_tasks']} tasks on {plan['max_workers']} workers; levels: {levels}\n"
            f"critical path: {' -> '.join(plan['critical_path'])} ({plan['critical_path_seconds']} s est.); "
            f"expected makespan {plan['expected_makespan_seconds']} s, speedup x{plan['expected_speedup']} "
            f"(estimates: {plan['estimates']})")

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
