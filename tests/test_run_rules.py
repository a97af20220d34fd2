"""Scheduler rules nothing else covered: dependents wait for a durable commit, a free slot is held
for an imminent higher-priority task, ``retryable=False`` stops retries, and resume refuses a stored
input whose secrets were redacted."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from helpers import cli_json

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.registry import register_agent
from parallel_execution.dispatcher import adispatch, dispatch
from parallel_execution.errors import TaskFailure
from parallel_execution.run.observers import Observer


class SlowCommit(Observer):
    """Holds every commit for ``delay`` seconds; records when each task started and commits resolved."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started: dict[str, float] = {}
        self.resolved: list[tuple[float, list[str]]] = []
        self._batch: list[str] = []

    def task_started(self, planned: Any, attempt: int, at_ms: float) -> None:
        self.started.setdefault(planned.task_id, time.monotonic())

    def task_finished(self, outcome: Any) -> None:
        self._batch.append(outcome.task_id)

    def commit(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        batch, self._batch = self._batch, []

        def resolve() -> None:
            self.resolved.append((time.monotonic(), batch))
            future.set_result(None)

        loop.call_later(self.delay, resolve)
        return future


def _config(tmp_path: Any, **extra: Any) -> dict[str, Any]:
    return {"trace_dir": str(tmp_path / "traces"), "workspace": str(tmp_path), **extra}


def test_dependents_start_only_after_the_commit_is_durable(tmp_path):
    slow = SlowCommit(0.3)
    tasks = [{"task_id": "a", "agent": "echo"}, {"task_id": "b", "agent": "echo", "dependencies": ["a"]}]
    result = asyncio.run(adispatch(tasks, _config(tmp_path), observers=[slow]))
    assert result.status == "success"
    (a_durable,) = [at for at, batch in slow.resolved if "a" in batch]
    assert slow.started["b"] >= a_durable  # not a moment before a's record was durable


def test_a_free_slot_is_held_for_an_imminent_task_that_outranks_the_ready_one(tmp_path, probe_log):
    # One worker. "a" is on the critical path (its dependent "c" is long); "b" is short and ready.
    # When "a" ends, "c" is imminent (waits only for a's commit) and outranks "b": the slot waits for it.
    tasks = [
        {"task_id": "a", "agent": "probe", "input_data": {"delay_seconds": 0.2}, "estimated_seconds": 1},
        {"task_id": "b", "agent": "probe", "input_data": {"delay_seconds": 0.05}, "estimated_seconds": 2},
        {"task_id": "c", "agent": "probe", "dependencies": ["a"], "input_data": {"delay_seconds": 0.05},
         "estimated_seconds": 5},
    ]
    result = asyncio.run(adispatch(tasks, _config(tmp_path, max_workers=1), observers=[SlowCommit(0.1)]))
    assert result.status == "success"
    assert [task for kind, task in probe_log.events if kind == "start"] == ["a", "c", "b"]


@register_agent
class RefusingAgent(Agent[AgentInput]):
    name = "test-refusing"
    Input = AgentInput
    runs = 0

    async def run(self, data: AgentInput, ctx: TaskContext) -> dict[str, Any]:
        RefusingAgent.runs += 1
        raise TaskFailure("target exists and overwrite is off", retryable=False)


def test_a_non_retryable_failure_spends_no_retries(tmp_path):
    RefusingAgent.runs = 0
    result = dispatch([{"task_id": "w", "agent": "test-refusing", "retries": 3}],
                      _config(tmp_path, retry_backoff_seconds=0.01))
    (r,) = result.results
    assert r.status == "error" and r.attempts == 1 and RefusingAgent.runs == 1
    assert r.error == "target exists and overwrite is off"


def test_resume_refuses_a_stored_input_whose_secrets_were_redacted(tmp_path, capsys):
    secret = "sk-ant-api03-" + "x" * 40
    result = dispatch([{"task_id": "a", "agent": "echo", "input_data": {"message": {"api_key": secret}}},
                       {"task_id": "b", "agent": "echo", "input_data": {"fail_on_attempts": [1]}}],
                      _config(tmp_path))
    assert result.exit_code == 1
    stored = (tmp_path / "traces" / result.dispatch_id / "input.json").read_text()
    assert secret not in stored
    code, document, _ = cli_json(capsys, "resume", result.dispatch_id, "--trace-dir", str(tmp_path / "traces"))
    assert code == 2 and document["status"] == "invalid"
    assert "secrets redacted" in document["errors"][0]["message"]
    assert json.dumps(document).count(secret) == 0
