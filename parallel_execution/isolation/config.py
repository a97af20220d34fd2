"""Settings of worktree isolation: ``config.isolation`` and the per-task ``isolation`` field.

    "config": {"isolation": {"mode": "worktree",
                             "merge_check": {"argv": ["python", "-m", "pytest", "-q"]},
                             "setup": {"argv": ["pip", "install", "-e", "."]},
                             "fast_forward": "main"}}

``mode`` is the default for tasks of the agents that change code (``command``, ``claude``,
``coder``); a task's own ``isolation: "worktree" | "none"`` overrides it. The merge check (the gate)
and the setup command run without a shell, like ``command`` tasks, and so need ``--allow-commands``.
"""

# No ``from __future__ import annotations``: pydantic would compile every field's annotation from
# its string (~50 µs a field, ~3 ms of each CLI start over the input and output models).

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parallel_execution.errors import InputIssue

__all__ = ["CODE_CHANGING_AGENTS", "IsolationConfig", "IsolationMode", "StepCommand", "isolation_issues",
           "task_isolated"]

IsolationMode = Literal["none", "worktree"]
CODE_CHANGING_AGENTS = frozenset({"command", "claude", "coder"})


class StepCommand(BaseModel):
    """A program run in a worktree: the setup step or the merge gate."""

    model_config = ConfigDict(extra="forbid")

    argv: list[str] = Field(min_length=1, description="Program and arguments; no shell.")
    timeout_seconds: float = Field(default=600, gt=0)
    env: dict[str, str] = Field(default_factory=dict)


class IsolationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: IsolationMode = Field(default="none", description="Default for command/claude/coder tasks.")
    repo: str | None = Field(default=None, description="The git repository; default: the workspace's.")
    base: str = Field(default="HEAD", description="Commit the integration branch starts from.")
    merge_check: StepCommand | None = Field(default=None, description="Gate run after each merge.")
    setup: StepCommand | None = Field(default=None, description="Run in each new task worktree.")
    fast_forward: str | None = Field(
        default=None, description="Branch to fast-forward to the integration tip when every task succeeded.")
    keep_failed_hours: float = Field(
        default=72, ge=0, description="Worktrees of failed tasks older than this are pruned by later runs.")


def isolation_issues(config: IsolationConfig | None, isolated: Sequence[bool], allow_commands: bool) -> list[InputIssue]:
    """Input errors of the isolation settings: its gate and setup are programs, gated like commands."""
    if config is None or not any(isolated):
        return []
    issues = []
    for name, step in (("merge_check", config.merge_check), ("setup", config.setup)):
        if step is not None and not allow_commands:
            issues.append(InputIssue(f"isolation.{name} runs {step.argv[0]!r}; start the runner with "
                                     "--allow-commands to allow it", None, f"config.isolation.{name}"))
    return issues


def task_isolated(agent: str, own: IsolationMode | None, config: IsolationConfig | None) -> bool:
    """Whether a task runs in its own worktree: its own setting, else the config's default for its agent."""
    if own is not None:
        return own == "worktree"
    return config is not None and config.mode == "worktree" and agent in CODE_CHANGING_AGENTS
