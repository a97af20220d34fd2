"""Observers: what the run tells the traces, the progress displays and the plan write-back.

The lifecycle, in order (every hook optional; ``Observer`` is a base with no-op hooks, and any object
with some of them fits ``RunObserver`` - a missing hook is skipped)::

    dispatch_started(dispatch_id, trace_index)      once, before any task
      task_started(planned, attempt, at_ms)         per attempt (1, 2, ...)
      task_event(planned, kind, record)             an agent's ctx.event(...)
      task_retrying(planned, attempt, delay, error) attempt ``attempt`` starts after ``delay`` s
      task_finished(outcome)                        per task, any status (skipped and reused too)
      tasks_finished(outcomes)                      instead of task_finished, for an observer that
                                                    works on batches: the ones that ended together
      commit() -> Future | None                     after each batch of task_finished; dependents
                                                    are released once the returned futures resolve
    dispatch_finished(result)                       once, with the DispatchResult, after every task

Hooks run on the event loop and must not block it (hand slow work to a thread, as the trace writer
and the plan-file status writer do). ``ObserverGroup.notify`` calls one hook on every observer;
an observer that raises is recorded in ``errors`` (surfaced as the result's ``trace_errors``) and
never stops the run or the other observers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from parallel_execution.inputs.plan import PlannedTask
    from parallel_execution.inputs.schema import DispatchResult
    from parallel_execution.run.outcomes import TaskOutcome

__all__ = ["HOOKS", "Observer", "ObserverGroup", "ObserverLike", "RunObserver"]

HOOKS = ("dispatch_started", "task_started", "task_event", "task_retrying", "task_finished", "tasks_finished",
         "commit", "dispatch_finished")


@runtime_checkable
class RunObserver(Protocol):
    """The full set of hooks (an observer may implement any subset; see the module docstring)."""

    def dispatch_started(self, dispatch_id: str, trace_index: str | None) -> None: ...
    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None: ...
    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None: ...
    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None: ...
    def task_finished(self, outcome: TaskOutcome) -> None: ...
    def tasks_finished(self, outcomes: Sequence[TaskOutcome]) -> None: ...
    def commit(self) -> asyncio.Future[None] | None: ...
    def dispatch_finished(self, result: DispatchResult) -> None: ...


class Observer:
    """A ``RunObserver`` whose hooks do nothing; override the ones you need."""

    def dispatch_started(self, dispatch_id: str, trace_index: str | None) -> None:
        """The trace folder exists (``trace_index`` is None if it could not be created)."""

    def task_started(self, planned: PlannedTask, attempt: int, at_ms: float) -> None:
        """An attempt starts (attempt 1, 2, ...)."""

    def task_event(self, planned: PlannedTask, kind: str, record: dict[str, Any]) -> None:
        """An agent recorded an event with ``ctx.event``."""

    def task_retrying(self, planned: PlannedTask, attempt: int, delay: float, error: str | None) -> None:
        """Attempt ``attempt`` will start after ``delay`` seconds."""

    def task_finished(self, outcome: TaskOutcome) -> None:
        """A task ended (any status, including skipped and reused)."""

    def tasks_finished(self, outcomes: Sequence[TaskOutcome]) -> None:
        """Tasks that ended together; by default ``task_finished`` for each."""
        for outcome in outcomes:
            self.task_finished(outcome)

    def commit(self) -> asyncio.Future[None] | None:
        """A batch of task_finished calls is complete; return a future to hold dependents until it resolves."""
        return None

    def dispatch_finished(self, result: DispatchResult) -> None:
        """Every task has ended and the result is built: the last hook of a run."""


# Any object with some of RunObserver's methods (hooks are looked up by name; missing ones are skipped).
ObserverLike = RunObserver | Observer | object


class ObserverGroup:
    """The run's observers; ``notify`` calls a hook on each, recording (not raising) their errors."""

    def __init__(self, observers: Sequence[ObserverLike]) -> None:
        self.observers = list(observers)
        self.errors: list[str] = []
        # hook -> (observer, bound method) for each observer that does something on it, looked up once:
        # several hooks run per task, and most observers leave most of them to Observer's no-ops.
        self._methods: dict[str, list[tuple[ObserverLike, Any]]] = {}

    def finished(self, outcomes: Sequence[TaskOutcome]) -> None:
        """Tell every observer about tasks that ended together: ``tasks_finished`` once where an
        observer has its own, else ``task_finished`` for each."""
        for observer, method in self._hooked("tasks_finished"):
            self._call(observer, "tasks_finished", method, outcomes)
        for observer, method in self._hooked("task_finished"):
            for outcome in outcomes:
                self._call(observer, "task_finished", method, outcome)

    def notify(self, hook: str, *args: Any) -> list[Any]:
        """Call ``hook`` on every observer that has it; return what they returned."""
        return [self._call(observer, hook, method, *args) for observer, method in self._hooked(hook)]

    def _hooked(self, hook: str) -> list[tuple[ObserverLike, Any]]:
        """The observers that act on ``hook``, with the method to call (an observer with its own
        ``tasks_finished`` is left out of ``task_finished``: it gets the batch)."""
        found = self._methods.get(hook)
        if found is None:
            if hook not in HOOKS:
                raise ValueError(f"unknown observer hook {hook!r}")
            found = [(o, getattr(o, hook)) for o in self.observers if acts_on(o, hook)
                     and not (hook == "task_finished" and acts_on(o, "tasks_finished"))]
            self._methods[hook] = found
        return found

    def _call(self, observer: ObserverLike, hook: str, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except Exception as exc:  # an observer (e.g. a full disk) must not stop the run
            self.errors.append(f"{observer_name(observer)}.{hook}: {exc}")
            return None


def acts_on(observer: object, hook: str) -> bool:
    """Whether ``observer`` has ``hook`` and it is not ``Observer``'s own (a no-op, or for
    ``tasks_finished`` a loop over ``task_finished``)."""
    own = getattr(Observer, hook)
    found = getattr(type(observer), hook, None)
    if found is None:  # not on the class: an instance attribute or a wrapper's __getattr__
        return getattr(observer, hook, None) is not None
    return found is not own


def observer_name(observer: object) -> str:
    """The observer's class name, seen through a wrapper (``traces.redact.RedactingObserver``)."""
    return type(getattr(observer, "wrapped", observer)).__name__
