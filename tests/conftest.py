"""Shared fixtures: a workspace, a trace dir, and a ``probe`` agent that records concurrency.

Plain helpers (REPO, RUNNER, runner_env, config, CLI runners, golden normalisation) are in helpers.py."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

# The shared helpers live in helpers.py; re-exported so ``from conftest import REPO`` keeps working.
from helpers import REPO, RUNNER, config, real_claude_cli, runner_env  # noqa: F401
from hypothesis import HealthCheck, settings

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.registry import register_agent
from parallel_execution.errors import TaskFailure

# A shared 2-core CI machine can be slow at times: no per-example deadline, no "too slow" failures.
settings.register_profile("parallel-dispatch", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("parallel-dispatch")


class ProbeInput(AgentInput):
    delay_seconds: float = 0.0
    fail: bool = False
    value: Any = None
    hang: bool = False


class ProbeLog:
    """What probe tasks did, in order: start/end events and the peak number running at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.events: list[tuple[str, str]] = []


@register_agent
class ProbeAgent(Agent[ProbeInput]):
    name = "probe"
    Input = ProbeInput
    log = ProbeLog()

    async def run(self, data: ProbeInput, ctx: TaskContext) -> dict[str, Any]:
        log = ProbeAgent.log
        log.running += 1
        log.peak = max(log.peak, log.running)
        log.events.append(("start", ctx.task_id))
        try:
            if data.hang:
                await asyncio.Event().wait()
            await asyncio.sleep(data.delay_seconds)
            if data.fail:
                raise TaskFailure(f"{ctx.task_id} failed on purpose")
            return {"value": data.value, "attempt": ctx.attempt}
        finally:
            log.running -= 1
            log.events.append(("end", ctx.task_id))


@pytest.fixture
def probe_log() -> ProbeLog:
    ProbeAgent.log = ProbeLog()
    return ProbeAgent.log


@pytest.fixture
def trace_dir(tmp_path: Path) -> Path:
    return tmp_path / "traces"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 64 KiB tmpfs (a disk that fills up at once); skips where mounting is not allowed."""
    disk = tmp_path / "tiny"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], capture_output=True)
