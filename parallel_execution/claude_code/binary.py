"""Locate the headless Claude Code program.

Order: the ``PARALLEL_DISPATCH_CLAUDE_BIN`` environment variable (tests point it at a stand-in;
users at a pinned install), then ``claude`` on ``PATH``, then the copy bundled inside the
``claude-agent-sdk`` package (the ``claude`` extra). Nothing found is a task failure that no retry
can fix, so it says how to install the program.

Example::

    path = find_claude_binary()          # "/usr/local/bin/claude"
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from parallel_execution.errors import TaskFailure

__all__ = ["BINARY_ENV", "INSTALL_HINT", "ClaudeNotInstalled", "bundled_binary", "find_claude_binary"]

BINARY_ENV = "PARALLEL_DISPATCH_CLAUDE_BIN"
INSTALL_HINT = "pip install 'parallel-dispatch[claude]'"


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
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not _is_executable(path):
            raise ClaudeNotInstalled(f"{BINARY_ENV}={configured!r} is not an executable file")
        return str(path)
    on_path = shutil.which("claude")
    if on_path:
        return on_path
    bundled = bundled_binary()
    if bundled is not None:
        return str(bundled)
    raise ClaudeNotInstalled(
        "the Claude Code program was not found (no claude on PATH, no claude-agent-sdk installed); "
        f"install it with: {INSTALL_HINT}"
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
