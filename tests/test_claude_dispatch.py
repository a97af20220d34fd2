"""Claude tasks through the real dispatcher and CLI: budget cap, rate-limited fan-out, Ctrl-C, example."""

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
from fake_claude.harness import FAKE, calls, pids, use_fake, wait_gone

from parallel_execution.dispatcher import dispatch

REPO = Path(__file__).resolve().parent.parent


def claude_task(task_id: str, **input_data: Any) -> dict[str, Any]:
    return {"task_id": task_id, "agent": "claude", "input_data": {"prompt": f"Task {task_id}", **input_data}}


def test_budget_caps_the_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "expensive", cost="0.5")
    (tmp_path / "ws").mkdir()
    tasks = [claude_task(name) for name in ("a", "b", "c")] + [{"task_id": "free", "agent": "echo"}]
    result = dispatch({"tasks": tasks, "config": {"max_workers": 1, "budget_usd": 1.0, "workspace": str(tmp_path / "ws"),
                                                  "trace_dir": str(tmp_path / "traces")}})
    by_id = {r.task_id: r for r in result.results}
    assert [by_id[t].status for t in ("a", "b", "c", "free")] == ["success", "success", "skipped", "success"]
    assert "budget_exhausted" in by_id["c"].error
    assert result.summary.total_cost_usd == 1.0
    assert by_id["a"].cost_usd == by_id["b"].cost_usd == 0.5 and by_id["c"].cost_usd is None
    # The second session was told how much of the dispatch budget was left.
    budgets = [c["argv"][c["argv"].index("--max-budget-usd") + 1] for c in calls(state)]
    assert budgets == ["1", "0.5"]
    trace = json.loads(Path(by_id["a"].trace_file).read_text())
    [session] = [e for e in trace["attempts"][0]["events"] if e["event"] == "claude_session"]
    assert session["session_id"] == by_id["a"].output["session_id"] and session["total_cost_usd"] == 0.5
    assert session["num_turns"] == 1 and session["usage"]["output_tokens"] == 20


def test_rate_limited_fan_out_shrinks_concurrency_and_all_succeed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", rate_limits="4")
    (tmp_path / "ws").mkdir()
    tasks = [claude_task(f"t{i}", rate_limit_backoff_seconds=0.05, rate_limit_retries=5) for i in range(6)]
    result = dispatch({"tasks": tasks, "config": {"max_workers": 6, "workspace": str(tmp_path / "ws"),
                                                  "trace_dir": str(tmp_path / "traces")}})
    assert [r.status for r in result.results] == ["success"] * 6
    sessions = [s for r in result.results for s in r.output["sessions"]]
    assert sum(s["outcome"] == "rate_limited" for s in sessions) == 4
    events = [e for r in result.results for e in json.loads(Path(r.trace_file).read_text())["attempts"][0]["events"]]
    lowered = [e for e in events if e["event"] == "claude_concurrency_lowered"]
    assert lowered and all(e["limit"] < 6 for e in lowered)
    # Once lowered, later sessions started under a smaller limit.
    starts = [e["limiter"]["limit"] for e in events if e["event"] == "claude_session_started"]
    assert min(starts) < 6


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_the_runner_kills_every_session_process(tmp_path: Path, signum: int, code: int):
    state = tmp_path / "state"
    ws = tmp_path / "ws"
    ws.mkdir()
    document = {"tasks": [claude_task("a"), claude_task("b")], "config": {"workspace": str(ws)}}
    (tmp_path / "tasks.json").write_text(json.dumps(document))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PARALLEL_DISPATCH_CLAUDE_BIN": str(FAKE),
           "FAKE_CLAUDE_STATE": str(state), "FAKE_CLAUDE_SCENARIO": "grandchild", "FAKE_CLAUDE_IGNORE_TERM": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "parallel_execution", "tasks.json", "--trace-dir", "traces", "--quiet"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while len([k for k in pids(state) if k.startswith("grandchild-")]) < 2:
            assert time.monotonic() < deadline, "the two sessions did not start"
            time.sleep(0.05)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err.decode()
    assert json.loads(out)["status"] == "cancelled"
    grandchildren = [pid for key, pid in pids(state).items() if key.startswith("grandchild-")]
    everyone = [c["pid"] for c in calls(state)] + grandchildren
    assert len(everyone) == 4
    assert all(wait_gone(pid) for pid in everyone)  # even though they all ignore SIGTERM


def test_example_validates():
    proc = subprocess.run([sys.executable, "-m", "parallel_execution", "validate",
                           str(REPO / "examples" / "06_parallel_claude_review.json")],
                          capture_output=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    plan = json.loads(proc.stdout)["plan"]
    assert plan["levels"] == [["review-auth", "review-authorization", "review-sessions"], ["summary"]]
