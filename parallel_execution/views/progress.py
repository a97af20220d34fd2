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

The first task hook to fire starts the displays (the time base is taken from its timestamp, on the
scheduler's clock); ``dispatch_finished``, the run's last hook, ends them.
``describe_plan_text`` renders ``ValidatedPlan.describe()`` for ``dispatch-runner validate``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.graph.ready import ReadyQueue
from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.schema import DispatchResult
from parallel_execution.run.observers import Observer, ObserverLike
from parallel_execution.run.outcomes import TaskOutcome
from parallel_execution.traces.fsio import dumps_json

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

_MARK = {"success": "ok", "error": "FAILED", "timeout": "TIMEOUT", "skipped": "skipped", "cancelled": "cancelled"}
_FAILED = ("error", "timeout")
_COST_KEYS = ("total_cost_usd", "cost_usd")  # agent event fields that report spend
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


def _names(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


def describe_plan_text(plan: dict[str, Any]) -> str:
    """Readable lines about a validated plan (``ValidatedPlan.describe()``), for stderr."""
    levels = plan["levels"]
    lines = [f"valid: {plan['total_tasks']} tasks in {len(levels)} levels, up to {plan['max_workers']} at once"]
    lines += [f"  level {n}: {_names(ids)}" for n, ids in enumerate(levels[:12])]
    if len(levels) > 12:
        lines.append(f"  ... {len(levels) - 12} more levels")
    lines.append(f"critical path: {_names(plan['critical_path'], 12).replace(', ', ' -> ')} "
                 f"({plan['critical_path_seconds']:g} s est.)")
    lines.append(f"expected: {plan['expected_makespan_seconds']:g} s on {plan['max_workers']} workers for "
                 f"{plan['total_work_seconds']:g} s of work: speedup x{plan['expected_speedup']:g} "
                 f"(ideal x{plan['ideal_speedup']:g}); estimates {plan['estimates']}")
    return "\n".join(lines)


class _Clock:
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
class _Running:
    agent: str
    attempt: int
    started_ms: float
    last_event: str = "started"


class _Tally:
    """What every display needs: the clock, the counts, the running tasks, the cost so far."""

    def __init__(self, plan: ValidatedPlan) -> None:
        self.plan = plan
        self.total = len(plan.tasks)
        self.clock = _Clock()
        self.counts = {status: 0 for status in _MARK}
        self.running: dict[str, _Running] = {}
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
            self.running[planned.task_id] = _Running(planned.task.agent, attempt, at_ms)

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
        return (f"{_at(now)} running  {len(running)}: {shown}{more} "
                f"[{self.finished}/{self.total} done, {self.queued} queued]")

    def summary_line(self) -> str:
        c = self.counts
        cost = f", ${self.spent():.4f}" if self.uses_model or self.spent() else ""
        return (f"done: {c['success']} ok, {c['error'] + c['timeout']} failed, {c['skipped']} skipped, "
                f"{c['cancelled']} cancelled of {self.total} in {self.clock.now_ms() / 1000:.2f} s{cost}")


def _at(ms: float | None) -> str:
    return f"[{(ms or 0.0) / 1000:8.2f}s]"


class PlainProgress(Observer):
    """One line per task start and end, then a summary line: for logs, CI and Claude's Bash tool."""

    def __init__(self, stream: TextIO, plan: ValidatedPlan, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.stream = stream
        self.tally = _Tally(plan)
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
        self._line(f"{_at(at_ms)} start    {planned.task_id} ({planned.task.agent}){again}")

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
        self._line(f"{_at(at)} {_MARK[outcome.status]:<8} {outcome.task_id}{resumed} "
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
        if outcome.status in _FAILED:
            self.stream.write(f"dispatch-runner: task {outcome.task_id} {_MARK[outcome.status]}: {outcome.error}\n")
            self.stream.flush()


class LiveProgress(Observer):
    """A rich live view on stderr; started by the first task hook, stopped by ``dispatch_finished``."""

    MAX_ROWS = 15  # running tasks shown; the rest are counted

    def __init__(self, plan: ValidatedPlan, console: Any = None, refresh_per_second: float = 4) -> None:
        from rich.console import Console
        from rich.live import Live

        self.tally = _Tally(plan)
        self.console = console or Console(stderr=True)
        self.live = Live(console=self.console, get_renderable=self.render, refresh_per_second=refresh_per_second,
                         transient=True, redirect_stdout=False, redirect_stderr=False)

    def _begin(self, at_ms: float | None) -> None:
        if self.tally.clock.anchor(at_ms):
            self.live.start()
            atexit.register(self._stop)  # a run that dies early must not leave the cursor hidden

    def _stop(self) -> None:
        if self.live.is_started:
            self.live.stop()

    def dispatch_finished(self, result: DispatchResult) -> None:
        if self.live.is_started:
            self._stop()
            atexit.unregister(self._stop)
            self.console.print(self.tally.summary_line(), highlight=False)

    def render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        tally = self.tally
        with tally.lock:
            now = tally.clock.now_ms()
            running = sorted(tally.running.items(), key=lambda item: item[1].started_ms)
            c = dict(tally.counts)
            finished, queued, spent = tally.finished, tally.queued, tally.spent()
        header = Table.grid(padding=(0, 1))
        header.add_row(
            ProgressBar(total=tally.total or 1, completed=finished, width=30),
            Text(f"{finished}/{tally.total} done", style="bold"),
            Text(f"ok {c['success']}", style="green"),
            Text(f"failed {c['error'] + c['timeout']}", style="red" if c["error"] + c["timeout"] else "dim"),
            Text(f"skipped {c['skipped'] + c['cancelled']}", style="yellow" if c["skipped"] + c["cancelled"] else "dim"),
            Text(f"running {len(running)}", style="cyan"),
            Text(f"queued {queued}", style="dim"),
            Text(f"{now / 1000:.1f}s"),
            Text(f"${spent:.4f}" if tally.uses_model or spent else ""),
        )
        rows = Table(box=None, show_header=False, padding=(0, 1), expand=False)
        for task_id, run in running[:self.MAX_ROWS]:
            again = f"#{run.attempt}" if run.attempt > 1 else ""
            rows.add_row(Text("⟳", style="cyan"), Text(task_id, style="bold"), Text(run.agent, style="dim"),
                         Text(again, style="yellow"), Text(f"{(now - run.started_ms) / 1000:6.1f}s"),
                         Text(run.last_event, style="italic", overflow="ellipsis", no_wrap=True))
        parts: list[Any] = [header, rows]
        if len(running) > self.MAX_ROWS:
            parts.append(Text(f"  ... and {len(running) - self.MAX_ROWS} more running", style="dim"))
        return Group(*parts)

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        self._begin(at_ms)
        self.tally.started(planned, attempt, at_ms)

    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        self.tally.event(planned, kind, record)

    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None:
        self.tally.retrying(planned, attempt, delay)
        self.console.print(f"[yellow]↻ {planned.task_id}[/] retry in {delay:.1f}s: {error}", highlight=False)

    def task_finished(self, outcome: TaskOutcome) -> None:
        self._begin(outcome.finished_ms)
        self.tally.finished_task(outcome)
        style, mark = {"success": ("green", "✓"), "error": ("red", "✗"), "timeout": ("red", "⏱"),
                       "skipped": ("yellow", "-"), "cancelled": ("yellow", "-")}[outcome.status]
        cost = f" ${outcome.cost_usd:.4f}" if outcome.cost_usd else ""
        detail = f" {outcome.error}" if outcome.error and outcome.status != "success" else ""
        self.console.print(f"[{style}]{mark} {outcome.task_id}[/] [dim]{outcome.planned.task.agent}[/] "
                           f"{outcome.execution_time_ms / 1000:.2f}s{cost}[{style}]{detail}[/]",
                           highlight=False, markup=True, emoji=False, soft_wrap=False)


class EventLog(Observer):
    """``--events FILE``: one JSON object per line, flushed per line, closed by ``dispatch_finished``."""

    def __init__(self, stream: IO[bytes], plan: ValidatedPlan) -> None:
        self.stream: IO[bytes] | None = stream
        self.plan = plan
        self.tally = _Tally(plan)
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
