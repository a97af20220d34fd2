"""``LiveProgress``: a rich live view on stderr (the ``live`` extra), when stderr is a terminal.

A progress bar with counts of done / failed / skipped / running / queued, total elapsed and model
cost, one line per running task (agent, attempt, elapsed, last agent event), and a permanent line
above the view for each finished task. Started by the first task hook, stopped by
``dispatch_finished``; rich is imported only when the view is built.
"""

from __future__ import annotations

import atexit
from typing import Any

from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.schema import DispatchResult
from parallel_execution.run.observers import Observer
from parallel_execution.run.outcomes import TaskOutcome
from parallel_execution.views.tally import Tally

__all__ = ["LiveProgress"]


class LiveProgress(Observer):
    """A rich live view on stderr; started by the first task hook, stopped by ``dispatch_finished``."""

    MAX_ROWS = 15  # running tasks shown; the rest are counted

    def __init__(self, plan: ValidatedPlan, console: Any = None, refresh_per_second: float = 4) -> None:
        from rich.console import Console
        from rich.live import Live

        self.tally = Tally(plan)
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
