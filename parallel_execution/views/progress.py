"""Human progress on stderr and a machine-readable event log; stdout is never touched.

Every display here is a scheduler ``Observer`` (hooks run on the event loop, never block for long).
``observers_from_args`` picks them from the run command's flags:

* stderr is a terminal (and ``rich``, the ``live`` extra, is importable): ``LiveProgress``, a rich
  live view on stderr - a progress bar with counts of done / failed / skipped / running / queued,
  total elapsed and model cost, one line per running task (agent, attempt, elapsed, last agent
  event), and a permanent line above the view for each finished task;
* otherwise (CI, pipes, Claude's Bash tool): ``PlainProgress``, one plain line per task start and
  end, no control codes, and a closing summary line; while tasks run and nothing else was printed
  for ``HEARTBEAT_SECONDS``, a ``running`` line says which tasks run and for how long (a timer on
  the event loop, so a 40 s task is never silent between its start and end lines);
* ``--quiet``: ``QuietProgress``, only the failures (error / timeout) and nothing else;
* ``--events FILE`` (any mode): ``EventLog``, JSON lines flushed one by one - ``queued`` for every
  task (dependencies attached) when the run starts, ``ready`` when a task's last dependency
  succeeds, ``started`` / ``retried`` / ``finished`` per attempt, ``agent_event`` for events an
  agent records, and a closing ``dispatch_finished`` with the counts. Each line has ``t_ms`` (ms since
  the dispatch began, on the scheduler's clock), ``task_id`` and ``event``.

``tally`` holds what they all count, ``live`` the rich view, ``events`` the JSON lines log (both
re-exported here). The first task hook to fire starts the displays (the time base is taken from its
timestamp, on the scheduler's clock); ``dispatch_finished``, the run's last hook, ends them.
``describe_plan_text`` (re-exported from ``plan_text``) renders ``ValidatedPlan.describe()`` for ``dispatch-runner validate``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.schema import DispatchResult
from parallel_execution.run.observers import Observer, ObserverLike
from parallel_execution.run.outcomes import TaskOutcome
from parallel_execution.views.events import EventLog
from parallel_execution.views.live import LiveProgress
from parallel_execution.views.plan_text import describe_plan_text
from parallel_execution.views.tally import FAILED, MARK, Tally, stamp

__all__ = [
    "EventLog",
    "LiveProgress",
    "PlainProgress",
    "QuietProgress",
    "add_progress_options",
    "describe_plan_text",
    "live_view_available",
    "observers_from_args",
]

HEARTBEAT_SECONDS = 5.0  # PlainProgress: the longest silence while tasks run


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    """The run command's display flags."""
    parser.add_argument("--quiet", action="store_true", help="print nothing on stderr but failed tasks and errors")
    parser.add_argument("--events", metavar="FILE",
                        help="write task events (queued/started/retried/finished, with times) as JSON lines")


def live_view_available(stream: TextIO) -> bool:
    """A live view needs a real terminal (not TERM=dumb) and rich."""
    try:
        if not stream.isatty():
            return False
        from rich.console import Console
    except (ImportError, AttributeError, ValueError):
        return False
    return not Console(file=stream).is_dumb_terminal


def observers_from_args(args: argparse.Namespace, plan: ValidatedPlan) -> Sequence[ObserverLike]:
    """The progress observers the flags ask for (stderr only; stdout is the result's)."""
    observers: list[ObserverLike] = []
    if getattr(args, "events", None):
        observers.append(EventLog.open(args.events, plan))
    if args.quiet:
        observers.append(QuietProgress(sys.stderr, plan))
    elif live_view_available(sys.stderr):
        observers.append(LiveProgress(plan))
    else:
        observers.append(PlainProgress(sys.stderr, plan))
    return observers


class PlainProgress(Observer):
    """One line per task start and end, then a summary line: for logs, CI and Claude's Bash tool."""

    def __init__(self, stream: TextIO, plan: ValidatedPlan, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.stream = stream
        self.tally = Tally(plan)
        self.heartbeat_seconds = heartbeat_seconds
        self._last_line = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._finished = False

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_line = time.monotonic()

    def _arm(self) -> None:
        if self._timer is not None or self._finished:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop (a test driving the hooks by hand)
            return
        silent = time.monotonic() - self._last_line
        self._timer = loop.call_later(max(0.0, self.heartbeat_seconds - silent), self._beat)

    def _beat(self) -> None:
        self._timer = None
        if self._finished:
            return
        if self.tally.running and time.monotonic() - self._last_line >= self.heartbeat_seconds * 0.95:
            self._line(self.tally.running_line())
        self._arm()

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        self.tally.clock.anchor(at_ms)
        self.tally.started(planned, attempt, at_ms)
        self._arm()
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._line(f"{stamp(at_ms)} start    {planned.task_id} ({planned.task.agent}){again}")

    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None:
        self._line(f"           retry    {planned.task_id} in {delay:.1f}s: {error}")

    def task_finished(self, outcome: TaskOutcome) -> None:
        tally = self.tally
        tally.clock.anchor(outcome.finished_ms)
        tally.finished_task(outcome)
        at = outcome.finished_ms if outcome.finished_ms is not None else tally.clock.now_ms()
        detail = f" - {outcome.error}" if outcome.error and outcome.status != "success" else ""
        cost = f" ${outcome.cost_usd:.4f}" if outcome.cost_usd else ""
        resumed = " (resumed)" if outcome.resumed else ""
        self._line(f"{stamp(at)} {MARK[outcome.status]:<8} {outcome.task_id}{resumed} "
                   f"({outcome.execution_time_ms:.0f} ms{cost}) [{tally.finished}/{tally.total}]{detail}")

    def dispatch_finished(self, result: DispatchResult) -> None:
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._line(self.tally.summary_line())

    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        self.tally.event(planned, kind, record)


class QuietProgress(Observer):
    """``--quiet``: a line for each task that failed or timed out, nothing else."""

    def __init__(self, stream: TextIO, plan: ValidatedPlan) -> None:
        self.stream = stream

    def task_finished(self, outcome: TaskOutcome) -> None:
        if outcome.status in FAILED:
            self.stream.write(f"dispatch-runner: task {outcome.task_id} {MARK[outcome.status]}: {outcome.error}\n")
            self.stream.flush()
