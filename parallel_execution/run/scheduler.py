"""The scheduler: runs a ``ValidatedPlan`` on one event loop, event-driven, never in waves.

Policy
------
A task becomes *ready* the moment its last dependency succeeds. Ready tasks wait in the ready
queue (``graph.ready.ReadyQueue``) ordered by longest remaining path (``PlannedTask.priority``),
ties by input order, and start whenever fewer
than ``max_workers`` run. There are no barriers: one slow task delays only its own dependents. A
task whose dependencies are done but whose release waits on a commit (see below) is *imminent*:
while tasks typically outlast commits, free slots are held for imminent tasks that outrank the
next ready one, so a commit never lets a lower-priority task take the critical path's slot.

State
-----
One ``_State`` holds everything mutable (the ready queue, outcomes, running tasks), changed only by
the loop in ``Scheduler.run`` (with the commit bookkeeping beside it): each task coroutine reports
back through a queue and never touches it. All task coroutines live in one ``asyncio.TaskGroup``; none outlives the run.

Outcomes are values
-------------------
A task ends ``success``, ``error`` (its agent raised, its input could not be resolved), ``timeout``,
``skipped`` (a dependency did not succeed, fail_fast, interrupt, budget exhausted) or ``cancelled``
(stopped while running). Nothing a task does raises out of ``run``. Retries (error/timeout, not for
non-retryable failures) back off exponentially with jitter. Completions that arrive together are
recorded together: observers get them in one ``tasks_finished`` (or ``task_finished`` for each),
then one ``commit``, which may return a future (the trace writer's fsync); dependents are released
only once it resolves - a task counts as done once its record is durable. Other work goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from parallel_execution.agents.base import Services, TaskContext
from parallel_execution.errors import TaskFailure
from parallel_execution.executors import Executor, LocalExecutor
from parallel_execution.graph.ready import ReadyQueue
from parallel_execution.inputs.issues import pydantic_issues
from parallel_execution.inputs.paths import WorkspacePolicy
from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.inputs.refs import RefError, aresolve_refs
from parallel_execution.run.budget import BUDGET_SERVICE, Budget
from parallel_execution.run.deadlines import Deadlines
from parallel_execution.run.digests import deps_digest, digest, input_digest
from parallel_execution.run.gcpause import GcPause, paused_gc
from parallel_execution.run.observers import ObserverGroup, ObserverLike
from parallel_execution.run.outcomes import Attempt, PriorResult, TaskOutcome

if TYPE_CHECKING:
    from parallel_execution.isolation.runner import Isolation

__all__ = ["Scheduler"]

_DURABLE = object()  # inbox marker: some commit future resolved


@dataclass(slots=True)
class _Average:
    """Exponentially weighted moving average; starts at 0."""

    value: float = 0.0
    weight: float = 0.2

    def add(self, sample: float) -> None:
        self.value += self.weight * (sample - self.value)


@dataclass(slots=True)
class _State:
    queue: ReadyQueue  # waiting / ready / taken per task; "done" once the success is durable
    outcomes: dict[int, TaskOutcome] = field(default_factory=dict)
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    stop_reason: str | None = None


class Scheduler:
    """Run ``plan``; ``await run()`` returns one ``TaskOutcome`` per task, in input order."""

    def __init__(
        self,
        plan: ValidatedPlan,
        *,
        dispatch_id: str,
        artifacts_dir: Any,
        observers: Sequence[ObserverLike] = (),
        services: Services | None = None,
        reuse: dict[str, PriorResult] | None = None,
        rng: random.Random | None = None,
        isolation: Isolation | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.plan = plan
        self.isolation = isolation
        self.executor: Executor = executor or LocalExecutor()  # where an attempt runs (executors/)
        self.dispatch_id = dispatch_id
        self.artifacts_dir = artifacts_dir
        self.observers = ObserverGroup(observers)
        self.services = services or Services()
        self.budget: Budget = self.services.get_or_create(BUDGET_SERVICE, lambda: Budget(plan.config.budget_usd))
        # Successes of an earlier run (resume): not run again while input and dependency outputs match.
        self.reuse = dict(reuse or {})
        self.rerun_reasons: dict[str, str] = {}
        self.rng = rng or random.Random()
        self.outputs: dict[str, Any] = {}
        self.output_digests: dict[str, str] = {}
        self._t0 = time.monotonic()
        # Task coroutines report here; so do commit futures when they resolve (_DURABLE).
        self._inbox: asyncio.Queue[TaskOutcome | object] = asyncio.Queue()
        # Recorded batches waiting for their commit, oldest first (commits resolve in order).
        self._unreleased: deque[tuple[list[TaskOutcome], list[asyncio.Future[None]], float]] = deque()
        # Tasks that become ready as soon as a pending commit resolves ("imminent"). While a typical
        # task outlasts a typical commit, a free slot is kept for them rather than given to a
        # lower-priority task (no priority inversion); for tiny tasks waiting would cost more.
        self._unreleased_deps: dict[int, int] = {}
        self._imminent: set[int] = set()
        self._commit_ms = _Average()
        self._task_ms = _Average()
        self._state = _State(ReadyQueue([t.deps for t in plan.tasks], [t.priority for t in plan.tasks]))
        self.observer_errors = self.observers.errors  # observers that raised, commits that failed
        self._gc = GcPause()
        self._deadlines = Deadlines()  # every task's timeout on one timer

    def now_ms(self) -> float:
        return round((time.monotonic() - self._t0) * 1000, 3)

    def stop(self, reason: str) -> None:
        """Start nothing more and cancel running tasks (fail_fast, Ctrl-C, SIGTERM)."""
        state = self._state
        if state.stop_reason is None:
            state.stop_reason = reason
            for task in state.running.values():
                task.cancel()

    async def run(self) -> list[TaskOutcome]:
        try:
            with paused_gc() as self._gc:  # run.gcpause: the collector finds ~nothing here, at a high cost
                return await self._run()
        finally:
            self._deadlines.close()

    async def _run(self) -> list[TaskOutcome]:
        state, tasks = self._state, self.plan.tasks
        self._t0 = time.monotonic()
        state.queue.prepare()
        async with asyncio.TaskGroup() as group:
            while len(state.outcomes) < len(tasks) or self._unreleased:
                self._start_ready(group)
                if not state.running and not self._unreleased:
                    break  # nothing runs and nothing can start: the rest is skipped below
                items = [await self._inbox.get()]
                while not self._inbox.empty():
                    items.append(self._inbox.get_nowait())
                batch = [item for item in items if isinstance(item, TaskOutcome)]
                for outcome in batch:
                    state.running.pop(outcome.planned.index, None)
                if batch:
                    self._record(batch)
                self._release_durable()
                self._gc.tick()
        leftover = [t for t in tasks if t.index not in state.outcomes]
        if leftover:
            reason = state.stop_reason or "dependency did not succeed"
            self._record([TaskOutcome(t, "skipped", error=f"skipped: {reason}") for t in leftover])
        while self._unreleased:  # the last records must be durable before the result is
            await self._inbox.get()
            self._release_durable()
        return [state.outcomes[t.index] for t in tasks]

    # -- the loop's helpers: the only code that changes _State --------------------------------------

    def _start_ready(self, group: asyncio.TaskGroup) -> None:
        state = self._state
        while state.queue and state.stop_reason is None and len(state.running) < self.plan.config.max_workers:
            if self._imminent and self._task_ms.value > self._commit_ms.value \
                    and self._slots_held_for_imminent(state.queue.peek()):
                break
            i = state.queue.pop()
            planned = self.plan.tasks[i]
            seen = deps_digest(planned.task, self.output_digests)
            prior = self._reusable(planned, seen)
            if prior is not None:
                self._record([TaskOutcome(planned, "success", output=prior.output, resumed=True, deps_digest=seen)])
            elif planned.uses_model and self.budget.exhausted:
                self._record([TaskOutcome(planned, "skipped", error="skipped: budget_exhausted "
                                          f"(spent ${self.budget.spent_usd:.4f} of ${self.budget.limit_usd})")])
            else:
                task = group.create_task(self._run_task(planned, seen), name=planned.task_id)
                task.add_done_callback(functools.partial(self._cancelled_before_start, planned=planned))
                state.running[i] = task

    def _slots_held_for_imminent(self, candidate: tuple[float, int]) -> bool:
        """Whether imminent tasks that outrank ``candidate`` need every free slot."""
        state = self._state
        self._imminent -= state.outcomes.keys()  # skipped meanwhile (another dependency failed)
        higher = sum(1 for j in self._imminent if state.queue.key(j) < candidate)
        return higher >= self.plan.config.max_workers - len(state.running)

    def _reusable(self, planned: PlannedTask, seen_deps: str) -> PriorResult | None:
        prior = self.reuse.get(planned.task_id)
        if prior is None:
            return None
        if prior.input_digest != input_digest(planned.task):
            self.rerun_reasons[planned.task_id] = "input changed"
        elif prior.deps_digest != seen_deps:
            self.rerun_reasons[planned.task_id] = "dependency outputs changed"
        else:
            return prior
        return None

    def _cancelled_before_start(self, task: asyncio.Task[None], *, planned: PlannedTask) -> None:
        # A task cancelled before its first step never enters _run_task, so report it here.
        if task.cancelled():
            reason = f"cancelled: {self._state.stop_reason or 'dispatch cancelled'}"
            self._inbox.put_nowait(TaskOutcome(planned, "cancelled", error=reason))

    def _record(self, batch: list[TaskOutcome]) -> None:
        """Hand the batch to the observers and commit; skip dependents of failures at once; release
        dependents of successes when the commit is durable."""
        state = self._state
        skipped: list[TaskOutcome] = []
        for outcome in batch:
            state.outcomes[outcome.planned.index] = outcome
            if outcome.output_digest is None:  # a success's is taken when its attempt ends (_attempt)
                outcome.output_digest = digest(outcome.output)
            if outcome.status == "success":
                self.outputs[outcome.task_id] = outcome.output
                self.output_digests[outcome.task_id] = outcome.output_digest
        # Skip everything downstream of a task that did not succeed, naming the root cause.
        for outcome in batch:
            if outcome.status != "success":
                skipped.extend(self._skip_dependents(outcome))
        state.queue.drop(o.planned.index for o in batch + skipped if o.status != "success")
        self.observers.finished(batch + skipped)
        pending = [f for f in self._notify("commit") if isinstance(f, asyncio.Future) and not f.done()]
        for future in pending:
            future.add_done_callback(self._wake_on_durable)
        self._unreleased.append((batch, pending, time.monotonic()))
        for outcome in batch:
            if outcome.attempts:
                self._task_ms.add(outcome.execution_time_ms)
            if outcome.status == "success":
                for d in outcome.planned.dependents:
                    self._unreleased_deps[d] = self._unreleased_deps.get(d, 0) + 1
                    if state.queue.remaining(d) == self._unreleased_deps[d] and d not in state.outcomes:
                        self._imminent.add(d)
        self._release_durable()
        if self.plan.config.fail_fast:
            for outcome in batch:
                if outcome.status in ("error", "timeout"):
                    self.stop(f"fail_fast: task {outcome.task_id!r} ended {outcome.status}")

    def _wake_on_durable(self, _future: asyncio.Future[None]) -> None:
        self._inbox.put_nowait(_DURABLE)

    def _release_durable(self) -> None:
        """Release the dependents of the recorded batches whose commits have resolved."""
        state = self._state
        while self._unreleased and all(f.done() for f in self._unreleased[0][1]):
            batch, futures, committed_at = self._unreleased.popleft()
            self._commit_ms.add((time.monotonic() - committed_at) * 1000)
            for future in futures:
                if not future.cancelled() and future.exception() is not None:
                    self.observer_errors.append(f"commit: {future.exception()}")
            for outcome in batch:
                if outcome.status == "success":
                    state.queue.done(outcome.planned.index)  # dependents with nothing else left are ready
                    for d in outcome.planned.dependents:
                        self._unreleased_deps[d] -= 1
                        if state.queue.remaining(d) == 0:
                            self._imminent.discard(d)

    def _skip_dependents(self, failed: TaskOutcome) -> list[TaskOutcome]:
        state, tasks = self._state, self.plan.tasks
        queue = deque((d, failed.task_id) for d in failed.planned.dependents)
        skipped = []
        while queue:
            i, via = queue.popleft()
            if i in state.outcomes:
                continue
            if via == failed.task_id:
                reason = f"skipped: dependency {failed.task_id!r} ended {failed.status}"
            else:
                reason = f"skipped: dependency {via!r} was skipped because {failed.task_id!r} ended {failed.status}"
            outcome = TaskOutcome(tasks[i], "skipped", error=reason)
            state.outcomes[i] = outcome
            skipped.append(outcome)
            queue.extend((d, tasks[i].task_id) for d in tasks[i].dependents)
        return skipped

    def notify(self, hook: str, *args: Any) -> list[Any]:
        """Call ``hook`` on every observer that has it; an observer's exception is recorded, not raised."""
        return self.observers.notify(hook, *args)

    _notify = notify

    # -- one task: runs as its own asyncio task, reports through the queue -------------------------

    async def _run_task(self, planned: PlannedTask, seen_deps: str) -> None:
        outcome = TaskOutcome(planned, "error", started_ms=self.now_ms(), deps_digest=seen_deps)
        try:
            await self._attempts(planned, outcome)
        except asyncio.CancelledError:
            outcome.status = "cancelled"
            outcome.error = f"cancelled: {self._state.stop_reason or 'dispatch cancelled'}"
            if outcome.attempts and outcome.attempts[-1].finished_ms == 0.0:
                last = outcome.attempts[-1]
                last.finished_ms, last.status, last.error = self.now_ms(), "cancelled", outcome.error
        except Exception as exc:  # a bug in our own code: still a value, with the evidence
            outcome.status, outcome.error = "error", f"internal error: {exc!r}"
        outcome.finished_ms = self.now_ms()
        self._inbox.put_nowait(outcome)

    async def _attempts(self, planned: PlannedTask, outcome: TaskOutcome) -> None:
        if self.isolation is not None and planned.isolated:  # in its own git worktree, merged behind a gate
            await self.isolation.run_task(planned, outcome, self._attempts_in)
        else:
            await self._attempts_in(planned, outcome, self.plan.policy, None)

    async def _attempts_in(self, planned: PlannedTask, outcome: TaskOutcome, policy: WorkspacePolicy,
                           before_retry: Callable[[], Awaitable[None]] | None) -> None:
        task = planned.task
        try:
            raw = (await aresolve_refs(task.input_data, self.outputs, planned.timeout_seconds) if planned.refs
                   else task.input_data)  # filters: bounded, off the loop, under the task's timeout
            outcome.resolved_input = raw
            # Validated again, not reused from planning: references are filled in only now, and path
            # checks must see the workspace as it is now (an earlier task may have planted a symlink).
            data = planned.agent_cls.Input.model_validate(raw, context=policy.as_context())
        except RefError as exc:
            outcome.error = str(exc)
            return
        except ValidationError as exc:
            issues = pydantic_issues(exc, None, task.task_id, "input_data.")
            outcome.error = "resolved input is invalid: " + "; ".join(f"{i.field}: {i.message}" for i in issues)
            return
        outcome.resolved_input = data.model_dump(mode="json")
        # Checked again with references filled in and agent definitions as they are now: a $from or a
        # definition written by an earlier task must not turn a model session into a shell.
        if not self.plan.allow_commands and (why := planned.agent_cls.task_runs_commands(
                outcome.resolved_input, self.plan.policy.root)):
            outcome.error = f"{why}; start the runner with --allow-commands to allow it (ask the user first)"
            return
        for number in range(1, planned.retries + 2):
            attempt = Attempt(number, self.now_ms())
            outcome.attempts.append(attempt)
            self._notify("task_started", planned, number, attempt.started_ms)
            retryable = await self._attempt(planned, data, attempt, outcome, policy)
            attempt.finished_ms = self.now_ms()
            outcome.status, outcome.error = attempt.status, attempt.error
            if attempt.status == "success" or not retryable or number > planned.retries:
                return
            delay = self._backoff(number)
            self._notify("task_retrying", planned, number + 1, delay, attempt.error)
            await asyncio.sleep(delay)
            if before_retry is not None:
                await before_retry()

    async def _attempt(self, planned: PlannedTask, data: Any, attempt: Attempt, outcome: TaskOutcome,
                       policy: WorkspacePolicy) -> bool:
        """Run one attempt; fill ``attempt``/``outcome``; return whether a retry could help."""
        ctx = TaskContext(
            task_id=planned.task_id, dispatch_id=self.dispatch_id, description=planned.task.description,
            attempt=attempt.number, workspace=policy, artifacts_dir=self.artifacts_dir,
            timeout_seconds=planned.timeout_seconds,
            user_prompt=self.plan.user_prompt, services=self.services, events=attempt.events,
            on_event=lambda kind, record: self._on_event(planned, kind, record),
        )
        deadline, timed_out = self._deadlines.start(planned.timeout_seconds), False
        try:
            try:
                output = await self.executor.run(planned, data, ctx)
            finally:
                timed_out = self._deadlines.finish(deadline)
            try:  # what resume compares; it also proves the output can be stored and printed as JSON
                outcome.output_digest = digest(output)
            except TypeError as exc:  # e.g. an integer wider than 64 bits
                attempt.status, attempt.error = "error", f"the agent's output cannot be stored as JSON: {exc}"
                return False
            outcome.output, attempt.status, attempt.error = output, "success", None
            return False
        except (asyncio.CancelledError, TimeoutError) as exc:
            if not timed_out:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                attempt.status, attempt.error = "error", "TimeoutError raised inside the task"
                attempt.traceback = traceback.format_exc()
                return True
            attempt.status = "timeout"
            attempt.error = f"timeout: no result after {planned.timeout_seconds:g} s"
            return True
        except TaskFailure as failure:
            attempt.status, attempt.error = "error", failure.message
            if failure.output is not None:
                with contextlib.suppress(TypeError):  # an output JSON cannot hold is dropped, not raised
                    outcome.output_digest = digest(failure.output)
                    outcome.output = failure.output
            return failure.retryable
        except Exception as exc:
            attempt.status, attempt.error = "error", f"{type(exc).__name__}: {exc}"
            attempt.traceback = traceback.format_exc()
            return True
        finally:
            if ctx.cost_usd:
                outcome.cost_usd = round((outcome.cost_usd or 0.0) + ctx.cost_usd, 6)

    def _on_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        self._notify("task_event", planned, kind, record)

    def _backoff(self, failed_attempt: int) -> float:
        base = self.plan.config.retry_backoff_seconds * 2 ** (failed_attempt - 1)
        return base * self.rng.uniform(0.5, 1.5)

