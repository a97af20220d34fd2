"""The Python API: validate, run, trace, summarise.

::

    result = dispatch({"tasks": [...], "config": {...}})          # blocking
    result = await adispatch(tasks, {"max_workers": 8})            # in async code
    result = await ParallelDispatcher(config).dispatch(tasks)       # the quick start's form

``tasks_or_input`` may be a ``DispatchInput``, its dict or JSON text, or a list of tasks (``Task``
models or dicts) with ``config`` given separately. Bad input raises ``InvalidInput`` before anything
runs; task failures are results. ``DispatchRun`` is the same thing in steps, for callers (the CLI)
that need to stop a run from a signal handler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from parallel_execution.agents.base import Services
from parallel_execution.executors import make_executor
from parallel_execution.graph.checks import critical_path
from parallel_execution.inputs.schema import (
    DispatchConfig,
    DispatchInput,
    DispatchResult,
    DispatchStatus,
    Summary,
    Task,
)
from parallel_execution.inputs.validate import ValidatedPlan, build_plan, parse_input
from parallel_execution.isolation.config import IsolationConfig
from parallel_execution.run.gcpause import paused_gc
from parallel_execution.run.observers import ObserverLike
from parallel_execution.run.outcomes import PriorResult, TaskOutcome
from parallel_execution.run.scheduler import Scheduler
from parallel_execution.traces.redact import RedactingObserver, Redactor
from parallel_execution.traces.writer import TraceWriter

if TYPE_CHECKING:
    from parallel_execution.isolation.runner import Isolation

__all__ = ["DispatchRun", "ParallelDispatcher", "adispatch", "coerce_input", "dispatch", "new_dispatch_id", "run_sync"]

T = TypeVar("T")


def run_sync(awaitable: Awaitable[T]) -> T:
    """``asyncio.run`` for a coroutine with a large result, on a fresh thread if a loop runs here.

    The main task returns nothing: on Python 3.11 ``asyncio.run`` ends with a ``signal.getsignal``
    whose error message formats ``repr(main_task)`` - result included, seconds for a big dispatch.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await awaitable)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(main())
    else:  # a loop runs in this thread (Jupyter): run ours on a fresh thread instead of deadlocking it
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, main()).result()
    return box[0]


def new_dispatch_id() -> str:
    """``<UTC timestamp>-<random>``: sortable by time, unique across concurrent runs."""
    return f"{datetime.now(UTC):%Y%m%d_%H%M%S}-{secrets.token_hex(4)}"


def coerce_input(tasks_or_input: Any, config: DispatchConfig | Mapping[str, Any] | None = None) -> DispatchInput:
    """Accept every form the API documents and return a ``DispatchInput`` (or raise InvalidInput)."""
    if isinstance(tasks_or_input, Sequence) and not isinstance(tasks_or_input, (str, bytes)):
        tasks = [t.model_dump() if isinstance(t, Task) else t for t in tasks_or_input]
        config_dict = config.model_dump() if isinstance(config, DispatchConfig) else dict(config or {})
        return parse_input({"tasks": tasks, "config": config_dict})
    data = parse_input(tasks_or_input)
    if config is not None:
        conf = config if isinstance(config, DispatchConfig) else DispatchConfig.model_validate(config)
        data = data.model_copy(update={"config": conf})
    return data


class DispatchRun:
    """One dispatch of a validated plan: ``await run()`` once; ``stop(reason)`` from anywhere on the loop."""

    def __init__(
        self,
        plan: ValidatedPlan,
        *,
        dispatch_id: str | None = None,
        observers: Sequence[ObserverLike] = (),
        services: Services | None = None,
        reuse: dict[str, PriorResult] | None = None,
        resumed_from: str | None = None,
        rerun_reasons: dict[str, str] | None = None,
    ) -> None:
        self.plan = plan
        self.dispatch_id = dispatch_id or new_dispatch_id()
        self.redactor = Redactor.for_dispatch(t.task.input_data for t in plan.tasks)
        self.writer = TraceWriter(plan, self.dispatch_id, self.redactor, resumed_from)
        # max_workers: the ceiling for the adaptive limit on model sessions (claude.limiter).
        services = services or Services(max_workers=plan.config.max_workers)
        services.get_or_create("redactor", lambda: self.redactor)
        self.services = services
        self.isolation: Isolation | None = None
        if any(t.isolated for t in plan.tasks):  # git and the repo lock are loaded only when asked for
            from parallel_execution.isolation.runner import Isolation

            self.isolation = Isolation(plan.config.isolation or IsolationConfig(), plan.policy, self.dispatch_id,
                                       resumed_from)
        self.executor = make_executor(plan.config.executor)
        self.scheduler = Scheduler(
            plan, dispatch_id=self.dispatch_id, artifacts_dir=self.writer.task_dir,
            observers=[self.writer, *(RedactingObserver(o, self.redactor) for o in observers)],  # --events, stderr
            services=services, reuse=reuse, isolation=self.isolation, executor=self.executor,
        )
        self.resumed_from = resumed_from
        # Why tasks without a reusable earlier success run again (filled by the resume command).
        self.rerun_reasons = dict(rerun_reasons or {})
        self.interrupted: str | None = None

    def stop(self, reason: str, *, interrupted: bool = True) -> None:
        if interrupted and self.interrupted is None:
            self.interrupted = reason
        self.scheduler.stop(reason)

    async def run(self) -> DispatchResult:
        # The collector stays paused (run.gcpause) through the result and the index, not only the
        # scheduling loop: building 10k result models would otherwise pay several full passes.
        with paused_gc(promote=True):  # what the run built ends in the oldest generation (as validation's)
            return await self._run()

    async def _run(self) -> DispatchResult:
        await self.executor.start(self.plan, self.writer.task_dir)  # InvalidInput if unusable: nothing written
        try:
            opened = self.writer.open()
            self.scheduler.notify("dispatch_started", self.dispatch_id, str(self.writer.index_file) if opened else None)
            if self.isolation is not None:
                await self.isolation.start()
            outcomes = await self.scheduler.run()
            await self.writer.drain()  # trace files are written behind the journal: complete before the result
        finally:
            self.services.close()  # every task has ended: the files its agents kept open are done with
            await self.executor.close()
        result = self._result(outcomes)
        if self.isolation is not None:
            result.isolation = self.redactor.scrub(await self.isolation.finish(result.status == "success"))
        self.writer.finish(result)
        self.scheduler.notify("dispatch_finished", result)
        result.trace_errors = self.writer.errors + self.scheduler.observer_errors
        return result

    def _result(self, outcomes: list[TaskOutcome]) -> DispatchResult:
        wall_ms = self.scheduler.now_ms()
        redactor = self.redactor

        def scrub(value: Any, clean: bool) -> Any:
            return value if clean else redactor.scrub(value)

        # Plain dicts, validated once with the whole result: one call into pydantic instead of one per task.
        results = []
        for o in outcomes:
            clean = o.verified_by is redactor or redactor.unchanged(o.output, o.error, o.isolation)
            results.append({
                "task_id": o.task_id, "agent": o.planned.task.agent, "status": o.status,
                "output": scrub(o.output, clean), "error": scrub(o.error, clean),
                "execution_time_ms": o.execution_time_ms, "attempts": len(o.attempts),
                "trace_file": self.writer.task_file(o.task_id), "started_ms": o.started_ms,
                "finished_ms": o.finished_ms, "cost_usd": o.cost_usd, "isolation": scrub(o.isolation, clean),
            })
        durations = [r["execution_time_ms"] for r in results]
        length, path = critical_path(self.plan.facts, durations)
        count = dict.fromkeys(("success", "error", "timeout", "skipped", "cancelled"), 0)
        for o in outcomes:
            count[o.status] += 1
        work = sum(durations)
        summary = Summary(
            total_tasks=len(results), successful=count["success"], failed=count["error"] + count["timeout"],
            skipped=count["skipped"], cancelled=count["cancelled"], total_time_ms=wall_ms,
            task_time_ms=round(work, 3), critical_path_ms=round(length, 3),
            critical_path=[outcomes[i].task_id for i in path],
            speedup=round(work / wall_ms, 3) if wall_ms > 0 and work > 0 else 1.0,
            max_workers=self.plan.config.max_workers,
            total_cost_usd=round(self.scheduler.budget.spent_usd, 6),
        )
        status: DispatchStatus = (
            "cancelled" if self.interrupted else "success" if count["success"] == len(results) else "failure")
        resume = None
        if self.resumed_from is not None:
            reused = [o.task_id for o in outcomes if o.resumed]
            reasons = {**self.rerun_reasons, **self.scheduler.rerun_reasons}
            resume = {"resumed_from": self.resumed_from, "reused": reused,
                      "rerun": {o.task_id: reasons.get(o.task_id, "no earlier success")
                                for o in outcomes if not o.resumed}}
        return DispatchResult.model_validate({
            "status": status, "dispatch_id": self.dispatch_id, "results": results, "summary": summary,
            "trace_index": str(self.writer.index_file) if self.writer.index_written else None, "resume": resume,
        })


async def adispatch(
    tasks_or_input: Any,
    config: DispatchConfig | Mapping[str, Any] | None = None,
    *,
    allow_commands: bool = False,
    observers: Sequence[ObserverLike] = (),
) -> DispatchResult:
    """Validate and run; raises ``InvalidInput`` (nothing run) or returns the result."""
    with paused_gc(promote=True):  # validation allocates the plan: long-lived objects, no cyclic garbage
        plan = build_plan(coerce_input(tasks_or_input, config), allow_commands=allow_commands)
        return await DispatchRun(plan, observers=observers).run()


def dispatch(
    tasks_or_input: Any,
    config: DispatchConfig | Mapping[str, Any] | None = None,
    *,
    allow_commands: bool = False,
    observers: Sequence[ObserverLike] = (),
) -> DispatchResult:
    """Blocking ``adispatch``; also safe from a thread that already runs an event loop (Jupyter)."""
    return run_sync(adispatch(tasks_or_input, config, allow_commands=allow_commands, observers=observers))


class ParallelDispatcher:
    """The quick start's interface: ``await ParallelDispatcher(config).dispatch(tasks)``."""

    def __init__(self, config: DispatchConfig | Mapping[str, Any] | None = None, *, allow_commands: bool = False) -> None:
        self.config = config if isinstance(config, DispatchConfig) else DispatchConfig.model_validate(config or {})
        self.allow_commands = allow_commands

    async def dispatch(self, tasks: Sequence[Task | Mapping[str, Any]]) -> DispatchResult:
        return await adispatch(list(tasks), self.config, allow_commands=self.allow_commands)
