"""Locate the Claude Code program the way users have it.

Order: the ``PARALLEL_DISPATCH_CLAUDE_BIN`` environment variable (tests point it at a stand-in;
users at a pinned install), then ``claude`` on ``PATH`` (npm ``@anthropic-ai/claude-code`` or the
native installer: what a Claude Code user runs), then the copy bundled inside the
``claude-agent-sdk`` package (the ``claude`` extra; it is not put on ``PATH``). Nothing found is a
task failure that no retry can fix, so it says how to install the program.
``dispatch-runner claude`` prints which program is used and runs it (``-- auth login``).

Example::

    path = find_claude_binary()          # "/usr/local/bin/claude"
    path, source = locate_claude()       # (..., "path" | "bundled" | "env")
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from parallel_execution.errors import TaskFailure

__all__ = [
    "BINARY_ENV",
    "INSTALL_HINT",
    "LOGIN_HINT",
    "ClaudeNotInstalled",
    "bundled_binary",
    "find_claude_binary",
    "locate_claude",
]

BINARY_ENV = "PARALLEL_DISPATCH_CLAUDE_BIN"
INSTALL_HINT = "pip install claude-agent-sdk (it bundles the program), or npm install -g @anthropic-ai/claude-code"
# What to run to log in with the program the runner uses (it may not be on PATH).
LOGIN_HINT = "dispatch-runner claude -- auth login"


class ClaudeNotInstalled(TaskFailure):
    """No usable Claude Code program; retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def bundled_binary() -> Path | None:
    """The CLI shipped inside ``claude_agent_sdk`` (found without importing the package)."""
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "_bundled" / "claude"
        if _is_executable(candidate):
            return candidate
    return None


def find_claude_binary() -> str:
    """Return the path of the program to run; raise ``ClaudeNotInstalled`` if there is none."""
    return locate_claude()[0]


def locate_claude() -> tuple[str, str]:
    """``(path, source)``: source is ``env`` ($PARALLEL_DISPATCH_CLAUDE_BIN), ``path`` or ``bundled``."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not _is_executable(path):
            raise ClaudeNotInstalled(f"{BINARY_ENV}={configured!r} is not an executable file")
        return str(path), "env"
    on_path = shutil.which("claude")
    if on_path:
        return on_path, "path"
    bundled = bundled_binary()
    if bundled is not None:
        return str(bundled), "bundled"
    raise ClaudeNotInstalled(
        "the Claude Code program was not found (no claude on PATH, no claude-agent-sdk installed); "
        f"install it with: {INSTALL_HINT}"
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
