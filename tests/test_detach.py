"""``run --detach`` and ``wait``: a run outlives the command that started it; nothing lost, nothing run twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import RUNNER, runner_env


def runner(cwd: Path, *args: str, timeout: float = 60) -> tuple[int, Any]:
    done = subprocess.run([*RUNNER, *args], cwd=cwd, env=runner_env(), capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, json.loads(done.stdout)


def tasks(cwd: Path, delay: float, *, fail: bool = False) -> None:
    second: dict[str, Any] = {"task_id": "b", "agent": "echo", "dependencies": ["a"],
                              "input_data": {"message": "b", "fail_on_attempts": [1] if fail else []}}
    document = {"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": "a", "delay_seconds": delay}},
                          second]}
    (cwd / "t.json").write_text(json.dumps(document))


def started(events: Path, task_id: str) -> int:
    return sum(1 for line in events.read_text().splitlines()
               if (e := json.loads(line))["event"] == "started" and e["task_id"] == task_id)


def test_detach_returns_at_once_and_wait_reports_progress_then_the_result(tmp_path: Path) -> None:
    gate = "import pathlib, time\nwhile not pathlib.Path('go').exists(): time.sleep(0.05)\n"
    document = {"tasks": [{"task_id": "a", "agent": "command", "input_data": {"argv": [sys.executable, "-c", gate]}},
                          {"task_id": "b", "agent": "echo", "dependencies": ["a"], "input_data": {"message": "b"}}]}
    (tmp_path / "t.json").write_text(json.dumps(document))
    begun = time.monotonic()
    code, out = runner(tmp_path, "run", "t.json", "--detach", "--allow-commands")
    assert code == 0 and out["status"] == "started" and time.monotonic() - begun < 20
    dispatch_id = out["dispatch_id"]
    assert out["wait"] == f"dispatch-runner wait {dispatch_id} --timeout 100"
    code, again = runner(tmp_path, "run", "t.json", "--detach", "--allow-commands")
    assert code == 2 and f"already running in the background as {dispatch_id}" in again["errors"][0]["message"]
    deadline = time.monotonic() + 30
    while True:  # until task a is seen running
        code, progress = runner(tmp_path, "wait", dispatch_id, "--timeout", "0")
        assert code == 75 and progress["status"] == "running"
        if progress["running"] or time.monotonic() > deadline:
            break
    assert progress["tasks"] == {"total": 2, "done": 0, "failed": 0, "skipped": 0, "running": 1, "queued": 1}
    assert [r["task_id"] for r in progress["running"]] == ["a"]
    assert progress["wait"] == f"dispatch-runner wait {dispatch_id} --timeout 0"
    (tmp_path / "go").touch()
    code, result = runner(tmp_path, "wait", "latest", "--timeout", "60", timeout=90)
    assert code == 0 and result["status"] == "success" and result["dispatch_id"] == dispatch_id
    assert Path(result["trace_index"]).is_file() or (tmp_path / result["trace_index"]).is_file()
    assert started(Path(out["events"]), "a") == 1
    assert runner(tmp_path, "wait", dispatch_id)[1] == result  # asking again reads the same result


def test_a_wait_that_is_stopped_early_loses_nothing(tmp_path: Path) -> None:
    tasks(tmp_path, delay=1.5)
    _, out = runner(tmp_path, "run", "t.json", "--detach")
    waiting = subprocess.Popen([*RUNNER, "wait", out["dispatch_id"], "--timeout", "60"], cwd=tmp_path,
                               env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    time.sleep(0.5)
    os.killpg(waiting.pid, signal.SIGKILL)  # what the Bash tool does to a command past its limit
    waiting.wait(10)
    code, result = runner(tmp_path, "wait", out["dispatch_id"], "--timeout", "60", timeout=90)
    assert code == 0 and result["summary"]["successful"] == 2
    assert started(Path(out["events"]), "a") == 1 and started(Path(out["events"]), "b") == 1


def test_a_killed_background_run_is_lost_and_its_resume_command_reuses_the_finished_tasks(tmp_path: Path) -> None:
    tasks(tmp_path, delay=0.0)
    document = json.loads((tmp_path / "t.json").read_text())
    document["tasks"][1]["input_data"]["delay_seconds"] = 30
    (tmp_path / "t.json").write_text(json.dumps(document))
    _, out = runner(tmp_path, "run", "t.json", "--detach", "--max-workers", "2")
    deadline = time.monotonic() + 30
    while not Path(out["events"]).exists() or started(Path(out["events"]), "b") == 0:
        assert time.monotonic() < deadline, "task b never started"
        time.sleep(0.1)
    os.killpg(out["pid"], signal.SIGKILL)
    time.sleep(0.3)
    code, lost = runner(tmp_path, "wait", out["dispatch_id"], "--timeout", "5")
    assert code == 1 and lost["status"] == "lost"
    command = lost["resume"]["command"]
    assert command == f"dispatch-runner resume {out['dispatch_id']} {tmp_path / 't.json'} --max-workers 2"
    document["tasks"][1]["input_data"]["delay_seconds"] = 0
    (tmp_path / "t.json").write_text(json.dumps(document))
    code, resumed = runner(tmp_path, *command.split()[1:])
    assert code == 0 and resumed["resume"]["reused"] == ["a"]


def test_invalid_input_with_detach_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({"tasks": [{"task_id": "a", "agent": "nope", "input_data": {}}]}))
    code, out = runner(tmp_path, "run", "t.json", "--detach")
    assert code == 2 and out["status"] == "invalid"
    assert not (tmp_path / "traces").exists()


def test_wait_without_background_runs_says_how_to_start_one(tmp_path: Path) -> None:
    code, out = runner(tmp_path, "wait")
    assert code == 2 and "dispatch-runner run FILE --detach" in out["errors"][0]["message"]


@pytest.mark.parametrize("flags", [[], ["--max-workers", "3", "--fail-fast"]])
def test_a_failed_run_carries_a_ready_resume_command(tmp_path: Path, flags: list[str]) -> None:
    tasks(tmp_path, delay=0.0, fail=True)
    code, result = runner(tmp_path, "run", "t.json", "--trace-dir", "tr", *flags)
    assert code == 1 and result["status"] == "failure"
    command = result["resume"]["command"]
    assert command == " ".join(["dispatch-runner", "resume", result["dispatch_id"], "t.json", "--trace-dir", "tr",
                                *flags])
    code, resumed = runner(tmp_path, *command.split()[1:])  # echo fails on attempt 1 of each run: it fails again
    assert resumed["resume"]["resumed_from"] == result["dispatch_id"] and resumed["resume"]["reused"] == ["a"]
    assert resumed["resume"]["command"].startswith(f"dispatch-runner resume {resumed['dispatch_id']} t.json")


def test_a_full_success_has_no_resume(tmp_path: Path) -> None:
    tasks(tmp_path, delay=0.0)
    code, result = runner(tmp_path, "run", "t.json")
    assert code == 0 and result["resume"] is None
