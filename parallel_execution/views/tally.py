"""What every progress display counts: the clock, the counts, the running tasks, the cost so far.

Shared by ``progress`` (plain and quiet lines), ``live`` (the rich view) and ``events`` (the JSON
lines log). The clock is the scheduler's: anchored by the first timestamp a hook brings.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.run.outcomes import TaskOutcome

__all__ = ["FAILED", "MARK", "Clock", "Running", "Tally", "stamp"]

MARK = {"success": "ok", "error": "FAILED", "timeout": "TIMEOUT", "skipped": "skipped", "cancelled": "cancelled"}
FAILED = ("error", "timeout")
_COST_KEYS = ("total_cost_usd", "cost_usd")  # agent event fields that report spend


class Clock:
    """Milliseconds on the scheduler's clock, anchored by the first timestamp a hook brings."""

    def __init__(self) -> None:
        self.base: float | None = None

    def anchor(self, at_ms: float | None = None) -> bool:
        """Set the time base once; True the first time (the run has just started)."""
        if self.base is not None:
            return False
        self.base = time.monotonic() - (at_ms or 0.0) / 1000
        return True

    def now_ms(self) -> float:
        """Time since the anchor; 0 before it (rich renders once while the view is built)."""
        if self.base is None:
            return 0.0
        return round((time.monotonic() - self.base) * 1000, 3)


@dataclass(slots=True)
class Running:
    agent: str
    attempt: int
    started_ms: float
    last_event: str = "started"


class Tally:
    """What every display needs: the clock, the counts, the running tasks, the cost so far."""

    def __init__(self, plan: ValidatedPlan) -> None:
        self.plan = plan
        self.total = len(plan.tasks)
        self.clock = Clock()
        self.counts = {status: 0 for status in MARK}
        self.running: dict[str, Running] = {}
        self.finished = 0
        self.cost_usd = 0.0
        self.live_cost: dict[str, float] = {}  # running tasks' spend reported in their events
        self.uses_model = any(t.uses_model for t in plan.tasks)
        self.lock = threading.Lock()  # the live view renders from rich's refresh thread

    @property
    def queued(self) -> int:
        return self.total - self.finished - len(self.running)

    def started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        with self.lock:
            self.running[planned.task_id] = Running(planned.task.agent, attempt, at_ms)

    def event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        with self.lock:
            running = self.running.get(planned.task_id)
            if running is not None:
                running.last_event = kind
            for key in _COST_KEYS:  # each event reports one session's spend (claude_session)
                if isinstance(record.get(key), (int, float)):
                    self.live_cost[planned.task_id] = self.live_cost.get(planned.task_id, 0.0) + float(record[key])
                    break

    def retrying(self, planned: PlannedTask, attempt: int, delay: float) -> None:
        with self.lock:
            running = self.running.get(planned.task_id)
            if running is not None:
                running.last_event = f"retry {attempt} in {delay:.1f}s"

    def finished_task(self, outcome: TaskOutcome) -> None:
        with self.lock:
            self.running.pop(outcome.task_id, None)
            self.live_cost.pop(outcome.task_id, None)
            self.counts[outcome.status] += 1
            self.finished += 1
            self.cost_usd += outcome.cost_usd or 0.0

    def spent(self) -> float:
        return self.cost_usd + sum(self.live_cost.values())

    def running_line(self, limit: int = 6) -> str:
        """What runs now and for how long, longest first (the plain display's heartbeat)."""
        now = self.clock.now_ms()
        with self.lock:
            running = sorted(self.running.items(), key=lambda item: item[1].started_ms)
        shown = ", ".join(f"{task_id} ({r.agent}, {(now - r.started_ms) / 1000:.0f}s, {r.last_event})"
                          for task_id, r in running[:limit])
        more = f" (+{len(running) - limit} more)" if len(running) > limit else ""
        return (f"{stamp(now)} running  {len(running)}: {shown}{more} "
                f"[{self.finished}/{self.total} done, {self.queued} queued]")

    def summary_line(self) -> str:
        c = self.counts
        cost = f", ${self.spent():.4f}" if self.uses_model or self.spent() else ""
        return (f"done: {c['success']} ok, {c['error'] + c['timeout']} failed, {c['skipped']} skipped, "
                f"{c['cancelled']} cancelled of {self.total} in {self.clock.now_ms() / 1000:.2f} s{cost}")


def stamp(ms: float | None) -> str:
    """``[    1.40s]``: a time on the run's clock, for the start of a line."""
    return f"[{(ms or 0.0) / 1000:8.2f}s]"
