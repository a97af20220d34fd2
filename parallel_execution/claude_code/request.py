"""The one Claude request: what to ask a Claude Code session and under which limits.

Every layer speaks it: the ``claude`` agent and the coder/debug ``claude`` backends build one from
their task input (``agents.claude.ClaudeInput`` is only the task JSON's schema, turned into a
request in one place), ``ClaudeWorker.run`` takes one for a task attempt and derives each
session's from it (``dataclasses.replace``: the budget left, a fresh ``session_id`` or ``resume``),
and ``session.build_argv`` / ``run_session`` put it on the command line (the prompt on stdin).
Fields the command line does not carry (stall timeout, rate-limit policy) are the worker's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_STALL_SECONDS", "ClaudeRequest"]

DEFAULT_STALL_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class ClaudeRequest:
    """What to ask and under which limits; ``resume`` continues an earlier session of this task."""

    prompt: str
    cwd: Path
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    model: str | None = None
    allowed_tools: Sequence[str] | None = None
    permission_mode: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None  # a task: all its sessions together; a session: what is left
    json_schema: Mapping[str, Any] | None = None
    # The worker's policy (not on the command line):
    stall_timeout_seconds: float | None = DEFAULT_STALL_SECONDS
    rate_limit_retries: int = 3
    rate_limit_backoff_seconds: float = 10.0
    rate_limit_max_wait_seconds: float = 900.0
    # One session:
    session_id: str | None = None  # start a new session with this id
    resume: str | None = None  # or continue this one
    env: Mapping[str, str] = field(default_factory=dict)
