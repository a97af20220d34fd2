"""Exceptions raised for caller mistakes; task outcomes are values, never these.

Hierarchy::

    DispatchError
    ├── InvalidInput          bad task JSON / config: exit code 2, nothing ran
    │   └── CycleError        the dependency graph has a cycle (carries it)
    └── TaskFailure           raised *inside* an agent to fail its task with a message
                              (the scheduler turns it into a result, it never escapes)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CycleError", "DispatchError", "InputIssue", "InvalidInput", "TaskFailure"]


@dataclass(frozen=True, slots=True)
class InputIssue:
    """One problem with the input, located by task id and field path."""

    message: str
    task_id: str | None = None
    field: str | None = None
    cycle: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task_id": self.task_id, "field": self.field, "message": self.message}
        if self.cycle is not None:
            out["cycle"] = self.cycle
        return out


class DispatchError(Exception):
    """Base class of every exception this package raises on purpose."""


class InvalidInput(DispatchError, ValueError):
    """The input cannot be run; ``issues`` says where and why."""

    def __init__(self, issues: list[InputIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(_describe(i) for i in issues[:5]) + (" ..." if len(issues) > 5 else ""))

    def to_json(self) -> dict[str, Any]:
        return {"status": "invalid", "errors": [i.to_json() for i in self.issues]}


class CycleError(InvalidInput):
    """The tasks' dependencies form a cycle; ``cycle`` is one, first node repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        message = "circular dependency: " + " -> ".join(cycle)
        super().__init__([InputIssue(message, task_id=cycle[0], field="dependencies", cycle=cycle)])


@dataclass(eq=False)
class TaskFailure(DispatchError):
    """Raised by an agent to end its task as ``error`` with ``message`` and optional ``output``.

    ``retryable=False`` tells the scheduler that trying again cannot help (e.g. a file exists and
    overwrite is off), so configured retries are not spent on it.
    """

    message: str
    output: dict[str, Any] | None = None
    retryable: bool = True

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _describe(issue: InputIssue) -> str:
    where = ".".join(p for p in (issue.task_id and f"task {issue.task_id!r}", issue.field) if p)
    return f"{where}: {issue.message}" if where else issue.message
