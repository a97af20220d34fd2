"""Every exception this package raises, in one tree; task outcomes are values, never these.

Hierarchy (where each is defined, when it is not here)::

    DispatchError                     base of everything raised on purpose
    ├── InvalidInput (ValueError)     bad task JSON / config / usage: exit code 2, nothing ran;
    │   │                             ``issues`` says where and why
    │   ├── CycleError                the dependency graph has a cycle; carries it (``cycle``)
    │   └── UsageError                commands.cli: a command-line mistake
    ├── TaskFailure                   raised *inside* an agent to fail its task with a message (the
    │   │                             scheduler turns it into a result, it never escapes a run)
    │   └── ClaudeNotInstalled        claude_code.binary: no Claude Code CLI to run
    ├── AgentCallsFailed              inprocess: call_agents_parallel(..., raise_on_error=True)
    ├── UnknownAgent (LookupError)    agents.registry: no agent of that name
    ├── RefError (ValueError)         inputs.refs: a ``$from`` reference or jq filter is wrong
    ├── JqFailure (ValueError)        inputs.jqrun: a jq filter failed, timed out or ran out of memory
    ├── PathOutsideWorkspace (ValueError)   inputs.paths: a path escapes the workspace
    ├── AgentDefinitionError (ValueError)   claude_code.agentdefs: an agent .md file is unusable
    ├── InstallError                  commands.install: the agents cannot be installed
    ├── SettingsError                 claude_code.permissions: a Claude Code settings file is unusable
    ├── InterpreterNotFound           analysis.interpreter: no usable project interpreter
    ├── NotRegularFile (OSError)      analysis.files: a FIFO, device or folder where a source file was expected
    ├── GitError                      isolation.git: a git command failed
    ├── IsolationError                isolation.worktrees: worktree isolation cannot work here
    ├── ContextFileError              agents.coder.context: a context file cannot be read
    ├── UnsafePath (OSError)          agents.coder.safe_write: a folder on the way was swapped
    ├── NoReadableFiles               agents.debug.agent: nothing to analyse
    ├── AnalysisCancelled             agents.debug.agent: the task was cancelled mid-analysis
    └── StopSession                   claude_code.session: a session is ended on purpose

Most of these are turned into input errors or task results before they reach a caller; the ones a
caller of the Python API may see are ``InvalidInput`` (and ``CycleError``), ``AgentCallsFailed``
and ``UnknownAgent``. ``tests/test_errors.py`` keeps this tree and the package in step.
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
    """The tasks' dependencies form a cycle; ``cycle`` is one, first node repeated at the end.

    ``issues`` holds every problem validation found (other cycles and problems too), so a caller
    catching ``InvalidInput`` loses nothing; ``cycles`` lists every cycle found.
    """

    def __init__(self, cycle: list[str], issues: list[InputIssue] | None = None) -> None:
        self.cycle = cycle
        if issues is None:
            message = "circular dependency: " + " -> ".join(cycle)
            issues = [InputIssue(message, task_id=cycle[0], field="dependencies", cycle=cycle)]
        self.cycles = [i.cycle for i in issues if i.cycle is not None] or [cycle]
        super().__init__(issues)


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
