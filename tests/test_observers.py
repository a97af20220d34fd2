"""run.observers: the lifecycle in order, a raising observer recorded not raised, and the plan-file
status writer off the event loop (tested against a lock another process really holds)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import runner_env

from parallel_execution.commands.cli import main as cli_main
from parallel_execution.dispatcher import dispatch
from parallel_execution.run.observers import HOOKS, Observer, RunObserver


class Recorder(Observer):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def dispatch_started(self, dispatch_id: str, trace_index: str | None) -> None:
        self.calls.append("dispatch_started")

    def task_started(self, planned: Any, attempt: int, at_ms: float) -> None:
        self.calls.append(f"started {planned.task_id}")

    def task_finished(self, outcome: Any) -> None:
        self.calls.append(f"finished {outcome.task_id}")

    def dispatch_finished(self, result: Any) -> None:
        self.calls.append(f"dispatch_finished {result.status}")


class Raising(Observer):
    def task_finished(self, outcome: Any) -> None:
        raise OSError("disk full")

    def dispatch_finished(self, result: Any) -> None:
        raise RuntimeError("display gone")


def test_hooks_come_in_lifecycle_order_ending_with_dispatch_finished(tmp_path):
    recorder = Recorder()
    result = dispatch([{"task_id": "a", "agent": "echo"}, {"task_id": "b", "agent": "echo", "dependencies": ["a"]}],
                      {"trace_dir": str(tmp_path / "t"), "workspace": str(tmp_path)}, observers=[recorder])
    assert result.status == "success"
    assert recorder.calls == ["dispatch_started", "started a", "finished a", "started b", "finished b",
                              "dispatch_finished success"]
    assert isinstance(recorder, RunObserver) and set(HOOKS) <= set(dir(Observer))


def test_a_raising_observer_is_recorded_not_raised(tmp_path):
    recorder = Recorder()
    result = dispatch([{"task_id": "a", "agent": "echo"}, {"task_id": "b", "agent": "echo"}],
                      {"trace_dir": str(tmp_path / "t"), "workspace": str(tmp_path)}, observers=[Raising(), recorder])
    assert result.status == "success" and [r.status for r in result.results] == ["success", "success"]
    assert result.trace_errors.count("Raising.task_finished: disk full") == 2
    assert "Raising.dispatch_finished: display gone" in result.trace_errors
    assert recorder.calls[-1] == "dispatch_finished success"  # the others still heard everything


HOLDER = """
import sys, time
from pathlib import Path
from filelock import FileLock
plan, hold = Path(sys.argv[1]), float(sys.argv[2])
claims = plan.with_name(plan.name + ".claims.json")
while not claims.exists():
    time.sleep(0.005)
with FileLock(str(plan.with_name(plan.name + ".lock"))):
    print("held", flush=True)
    time.sleep(hold)
"""


def test_status_write_back_never_blocks_the_loop_while_another_holds_the_lock(tmp_path, capsys):
    plan = tmp_path / "implementation_plan.json"
    subtasks = [{"id": s, "description": s, "status": "pending", "agent": "echo",
                 "input_data": {"message": s, "delay_seconds": 0.5}} for s in ("one", "two")]
    plan.write_text(json.dumps({"phases": [{"id": "p", "parallel_safe": True, "subtasks": subtasks}]}))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(plan), "2.0"], env=runner_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        code = cli_main(["plan", str(plan), "--quiet", "--trace-dir", str(tmp_path / "traces"),
                         "--workspace", str(tmp_path)])
        elapsed = time.monotonic() - started
        document = json.loads(capsys.readouterr().out)
    finally:
        holder.wait(timeout=30)
    assert holder.stdout is not None and holder.stdout.read().strip() == "held"  # the lock really was held
    assert code == 0
    # Two parallel 0.5 s tasks: the run's own clock shows no wait for the lock (it was held 2 s)...
    assert document["summary"]["total_time_ms"] < 1500
    # ... and the statuses still reached the file, once the lock was free (the runner waited for them).
    statuses = {s["id"]: s["status"] for s in json.loads(plan.read_text())["phases"][0]["subtasks"]}
    assert statuses == {"one": "completed", "two": "completed"}
    assert elapsed >= 1.0
    assert not Path(str(plan) + ".claims.json").exists()
