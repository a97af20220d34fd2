"""Helpers for tests that drive the stand-in CLI (``tests/fake_claude/claude``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from parallel_execution.agents.base import Services, TaskContext
from parallel_execution.inputs.paths import WorkspacePolicy
from parallel_execution.run.budget import BUDGET_SERVICE, Budget

FAKE = Path(__file__).resolve().parent / "claude"


def use_fake(monkeypatch: pytest.MonkeyPatch, state: Path, scenario: str = "success", **env: str) -> Path:
    """Point the runner at the stand-in, with ``scenario`` and ``FAKE_CLAUDE_*`` settings."""
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(FAKE))
    monkeypatch.setenv("FAKE_CLAUDE_STATE", str(state))
    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", scenario)
    for key in [k for k in os.environ if k.startswith("FAKE_CLAUDE_") and k not in ("FAKE_CLAUDE_STATE", "FAKE_CLAUDE_SCENARIO")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(f"FAKE_CLAUDE_{key.upper()}", value)
    return state


def make_ctx(tmp_path: Path, *, budget: float | None = None, task_id: str = "t1", timeout: float | None = None,
             services: Services | None = None) -> TaskContext:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    services = services or Services()
    services.get_or_create(BUDGET_SERVICE, lambda: Budget(budget))
    return TaskContext(task_id=task_id, dispatch_id="d1", description="", attempt=1,
                       workspace=WorkspacePolicy.create(workspace), artifacts_dir=tmp_path / "traces",
                       timeout_seconds=timeout, services=services)


def calls(state: Path) -> list[dict[str, Any]]:
    """One record per run of the stand-in: argv, prompt, system prompt, cwd, pid, pgid."""
    path = state / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def pids(state: Path) -> dict[str, int]:
    """The pids the stand-in recorded so far (``cli``, ``grandchild``, ``grandchild-<cli pid>``)."""
    path = state / "pids.json"
    try:
        return json.loads(path.read_text() or "{}") if path.exists() else {}
    except json.JSONDecodeError:  # caught mid-write; the caller polls again
        return {}


def wait_for_pids(state: Path, *names: str, seconds: float = 5.0) -> dict[str, int]:
    """Wait until the stand-in has recorded the pids of ``names`` (e.g. ``cli``, ``grandchild``)."""
    deadline = time.monotonic() + seconds
    while True:
        found = pids(state)
        if all(n in found for n in names):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stand-in did not record {names}; it recorded {found}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def events(ctx: TaskContext, kind: str) -> list[dict[str, Any]]:
    return [e for e in ctx.events if e["event"] == kind]
