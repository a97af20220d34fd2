"""``EventLog``: ``--events FILE``, one JSON object per line, flushed per line.

``queued`` for every task (dependencies attached) when the run starts, ``ready`` when a task's last
dependency succeeds, ``started`` / ``retried`` / ``finished`` per attempt, ``agent_event`` for
events an agent records, and a closing ``dispatch_finished`` with the counts. Each line has
``t_ms`` (ms since the dispatch began, on the scheduler's clock), ``task_id`` and ``event``.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.graph.ready import ReadyQueue
from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.schema import DispatchResult
from parallel_execution.run.observers import Observer
from parallel_execution.run.outcomes import TaskOutcome
from parallel_execution.traces.fsio import dumps_json
from parallel_execution.views.tally import Tally

__all__ = ["EventLog"]


class EventLog(Observer):
    """``--events FILE``: one JSON object per line, flushed per line, closed by ``dispatch_finished``."""

    def __init__(self, stream: IO[bytes], plan: ValidatedPlan) -> None:
        self.stream: IO[bytes] | None = stream
        self.plan = plan
        self.tally = Tally(plan)
        # The same ready queue the scheduler uses; here a task is "ready" when its last dependency's
        # task_finished arrives (the scheduler releases it only once that is durable).
        self.queue = ReadyQueue([t.deps for t in plan.tasks])
        self.queue.prepare()

    @classmethod
    def open(cls, path: str, plan: ValidatedPlan) -> EventLog:
        """Open (truncate) ``path`` now, so a bad path is an input error before anything runs."""
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            stream = open(path, "wb")  # noqa: SIM115 (closed by the last task_finished)
        except OSError as exc:
            raise InvalidInput([InputIssue(f"cannot write the events file {path!r}: {exc.strerror or exc}",
                                           None, "--events")]) from None
        return cls(stream, plan)

    def _write(self, t_ms: float | None, task_id: str | None, event: str, **fields: Any) -> None:
        if self.stream is None:
            return
        t = self.tally.clock.now_ms() if t_ms is None else t_ms
        self.stream.write(dumps_json({"t_ms": t, "task_id": task_id, "event": event, **fields}) + b"\n")
        self.stream.flush()

    def _begin(self, at_ms: float | None) -> None:
        if self.tally.clock.anchor(at_ms):
            for t in self.plan.tasks:
                self._write(0.0, t.task_id, "queued", agent=t.task.agent, dependencies=t.task.dependencies,
                            estimated_seconds=t.task.estimated_seconds)

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        self._begin(at_ms)
        self.tally.started(planned, attempt, at_ms)
        self._write(at_ms, planned.task_id, "started", agent=planned.task.agent, attempt=attempt)

    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        self._begin(None)
        data = {k: v for k, v in record.items() if k not in ("t_ms", "event")}
        self._write(None, planned.task_id, "agent_event", kind=kind, attempt_t_ms=record.get("t_ms"), data=data)

    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None:
        self._begin(None)
        self._write(None, planned.task_id, "retried", next_attempt=attempt, delay_seconds=round(delay, 3), error=error)

    def task_finished(self, outcome: TaskOutcome) -> None:
        self._begin(outcome.finished_ms)
        self.tally.finished_task(outcome)
        t_ms = outcome.finished_ms if outcome.finished_ms is not None else self.tally.clock.now_ms()
        self._write(t_ms, outcome.task_id, "finished", status=outcome.status, error=outcome.error,
                    started_ms=outcome.started_ms, execution_time_ms=outcome.execution_time_ms,
                    attempts=len(outcome.attempts), cost_usd=outcome.cost_usd, resumed=outcome.resumed)
        if outcome.status == "success":
            self.queue.get_ready()  # everything ready so far counts as taken: only finishes matter here
            for d in self.queue.done(outcome.planned.index):
                self._write(t_ms, self.plan.tasks[d].task_id, "ready")

    def dispatch_finished(self, result: DispatchResult) -> None:
        if self.stream is not None:
            self._write(None, None, "dispatch_finished", counts=self.tally.counts, total_tasks=self.tally.total,
                        cost_usd=round(self.tally.cost_usd, 6))
            self.stream.close()
            self.stream = None
