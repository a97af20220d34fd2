"""Progress on stderr (live view, plain lines, quiet) and the --events log; stdout stays one JSON document."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading

import orjson
import pytest
from conftest import RUNNER, runner_env

from parallel_execution.inputs.validate import build_plan, parse_input
from parallel_execution.run.outcomes import Attempt, TaskOutcome
from parallel_execution.views.progress import EventLog, LiveProgress, PlainProgress, describe_plan_text

PY = sys.executable
TASKS = [
    {"task_id": "a", "agent": "echo", "input_data": {"message": "hi", "delay_seconds": 0.2}},
    {"task_id": "flaky", "agent": "echo", "input_data": {"fail_on_attempts": [1]}, "retries": 1},
    {"task_id": "c", "agent": "echo", "input_data": {"fail_on_attempts": [1]}},
    {"task_id": "d", "agent": "echo", "dependencies": ["c"]},
    {"task_id": "e", "agent": "command", "dependencies": ["a", "flaky"], "input_data": {"argv": [PY, "-c", "pass"]}},
]


def body(tmp_path, tasks=TASKS) -> bytes:
    return orjson.dumps({"tasks": tasks, "config": {"trace_dir": str(tmp_path / "traces"), "workspace": str(tmp_path),
                                                     "retry_backoff_seconds": 0.05}})


def run_cli(tmp_path, *flags):
    proc = subprocess.run([*RUNNER, "--allow-commands", *flags], input=body(tmp_path), capture_output=True,
                          cwd=tmp_path, env=runner_env(), timeout=60)
    return proc.returncode, orjson.loads(proc.stdout), proc.stderr.decode()  # orjson rejects trailing data


def test_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    code, result, err = run_cli(tmp_path)
    assert code == 1 and result["status"] == "failure"
    assert "\x1b" not in err  # no control codes
    lines = err.splitlines()
    assert any(line.endswith("start    a (echo)") for line in lines)
    assert any(line.endswith("start    flaky (echo) (attempt 2)") for line in lines)
    assert any(line.startswith("           retry    flaky in ") for line in lines)
    assert any(" FAILED   c (" in line and line.endswith("- echo failed on purpose on attempt 1") for line in lines)
    assert any(" skipped  d (0 ms) [" in line and "dependency 'c' ended error" in line for line in lines)
    assert lines[-1].startswith("done: 3 ok, 1 failed, 1 skipped, 0 cancelled of 5 in ")
    assert sum(" ok       " in line for line in lines) == 3


def test_quiet_prints_only_the_failures(tmp_path):
    code, result, err = run_cli(tmp_path, "--quiet")
    assert code == 1 and result["summary"]["failed"] == 1
    assert err == "dispatch-runner: task c FAILED: echo failed on purpose on attempt 1\n"


def test_events_file_has_every_lifecycle_event_with_times(tmp_path):
    code, result, _ = run_cli(tmp_path, "--quiet", "--events", "logs/events.jsonl")
    assert code == 1 and result["summary"]["total_tasks"] == 5
    events = [orjson.loads(line) for line in (tmp_path / "logs" / "events.jsonl").read_bytes().splitlines()]
    assert all({"t_ms", "task_id", "event"} <= set(e) for e in events)
    assert [(e["task_id"], e["event"]) for e in events[:5]] == [(t["task_id"], "queued") for t in TASKS]
    assert events[3]["dependencies"] == ["c"] and all(e["t_ms"] == 0.0 for e in events[:5])
    by = lambda kind: [e for e in events if e["event"] == kind]  # noqa: E731
    assert sorted((e["task_id"], e["attempt"]) for e in by("started")) == [
        ("a", 1), ("c", 1), ("e", 1), ("flaky", 1), ("flaky", 2)]
    (retried,) = by("retried")
    assert retried["task_id"] == "flaky" and retried["next_attempt"] == 2 and retried["delay_seconds"] > 0
    finished = {e["task_id"]: e for e in by("finished")}
    assert {k: v["status"] for k, v in finished.items()} == {
        "a": "success", "flaky": "success", "c": "error", "d": "skipped", "e": "success"}
    assert finished["flaky"]["attempts"] == 2 and finished["c"]["error"] == "echo failed on purpose on attempt 1"
    (ready,) = by("ready")  # e waits for a and flaky; d never becomes ready
    assert ready["task_id"] == "e" and ready["t_ms"] == max(finished["a"]["t_ms"], finished["flaky"]["t_ms"])
    order = [(e["task_id"], e["event"]) for e in events]
    assert order.index(("e", "ready")) < order.index(("e", "started")) < order.index(("e", "finished"))
    (agent_event,) = [e for e in by("agent_event") if e["kind"] == "process_started"]
    assert agent_event["task_id"] == "e" and agent_event["data"]["pid"] > 0
    times = [e["t_ms"] for e in by("started")]
    assert times == sorted(times) and finished["a"]["t_ms"] >= 200
    assert events[-1]["event"] == "dispatch_finished" and events[-1]["task_id"] is None
    assert events[-1]["counts"] == {"success": 3, "error": 1, "timeout": 0, "skipped": 1, "cancelled": 0}


def test_an_events_file_that_cannot_be_written_is_an_input_error_and_nothing_runs(tmp_path):
    (tmp_path / "adir").mkdir()
    proc = subprocess.run([*RUNNER, "--allow-commands", "--events", "adir"], input=body(tmp_path),
                          capture_output=True, cwd=tmp_path, env=runner_env(), timeout=60)
    assert proc.returncode == 2
    (issue,) = orjson.loads(proc.stdout)["errors"]
    assert issue["field"] == "--events" and issue["message"].startswith("cannot write the events file 'adir': ")
    assert not (tmp_path / "traces").exists()


def test_live_view_on_a_terminal_keeps_stdout_one_json_document(tmp_path):
    tasks = [{"task_id": "slow", "agent": "echo", "input_data": {"delay_seconds": 0.7}},
             {"task_id": "bad", "agent": "echo", "input_data": {"fail_on_attempts": [1]}}]
    master, slave = pty.openpty()  # stderr only is a terminal; stdout stays a pipe
    proc = subprocess.Popen([*RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave, cwd=tmp_path,
                            env={**runner_env(), "TERM": "xterm-256color", "COLUMNS": "100"})
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(body(tmp_path, tasks), timeout=60)
    reader.join(10)
    os.close(master)
    err = b"".join(chunks).decode()
    assert proc.returncode == 1 and orjson.loads(stdout)["summary"]["total_tasks"] == 2
    assert "\x1b[" in err and "\x1b[?25l" in err and "\x1b[?25h" in err  # live region drawn, cursor restored
    assert "1/2 done" in err and "running 1" in err and "queued 0" in err  # the view while slow runs
    assert "✗ bad" in err and "✓ slow" in err
    assert "done: 1 ok, 1 failed, 0 skipped, 0 cancelled of 2 in " in err


PLAN_INPUT = {"tasks": [
    {"task_id": "fetch", "agent": "echo", "estimated_seconds": 2},
    {"task_id": "parse", "agent": "echo", "dependencies": ["fetch"], "estimated_seconds": 1},
    {"task_id": "ask", "agent": "echo", "estimated_seconds": 4},
    {"task_id": "merge", "agent": "echo", "dependencies": ["parse", "ask"], "estimated_seconds": 1},
], "config": {"max_workers": 2}}


@pytest.fixture
def plan(tmp_path):
    data = dict(PLAN_INPUT, config={**PLAN_INPUT["config"], "workspace": str(tmp_path)})
    return build_plan(parse_input(data))


def test_describe_plan_text(plan):
    assert describe_plan_text(plan.describe()) == (
        "valid: 4 tasks in 3 levels, up to 2 at once\n"
        "  level 0: fetch, ask\n"
        "  level 1: parse\n"
        "  level 2: merge\n"
        "critical path: ask -> merge (5 s est.)\n"
        "expected: 5 s on 2 workers for 8 s of work: speedup x1.6 (ideal x1.6); estimates from estimated_seconds")


def outcome(planned, status, start, end, cost=None, attempts=1):
    return TaskOutcome(planned, status, started_ms=start, finished_ms=end, cost_usd=cost,
                       attempts=[Attempt(n + 1, start, end, status) for n in range(attempts)])


def test_live_view_renders_counts_running_tasks_last_event_and_cost(plan):
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    live = LiveProgress(plan, console=console, refresh_per_second=50)
    fetch, parse, ask, merge = plan.tasks
    live.task_started(fetch, 1, 0.0)
    live.task_started(ask, 1, 0.0)
    live.task_event(ask, "claude_session", {"t_ms": 5.0, "event": "claude_session", "total_cost_usd": 0.25})
    live.task_event(ask, "tool_use", {"t_ms": 6.0, "event": "tool_use", "cost_usd": 0.125})
    live.task_finished(outcome(fetch, "success", 0.0, 10.0))
    live.task_started(parse, 1, 11.0)
    live.task_retrying(parse, 2, 1.5, "flaky")
    view = Console(file=io.StringIO(), width=120, color_system=None)
    view.print(live.render())
    text = view.file.getvalue()
    assert "1/4 done" in text and "ok 1" in text and "running 2" in text and "queued 1" in text
    assert "$0.3750" in text  # a running model task's spend so far, summed from its events
    rows = {line.split()[1]: line for line in text.splitlines() if line.strip().startswith("⟳")}
    assert set(rows) == {"ask", "parse"} and "tool_use" in rows["ask"] and "retry 2 in 1.5s" in rows["parse"]
    assert live.live.is_started
    live.task_finished(outcome(ask, "success", 0.0, 40.0, cost=0.5))
    live.task_finished(outcome(parse, "error", 11.0, 30.0, attempts=2))
    live.task_finished(TaskOutcome(merge, "skipped", error="skipped: dependency 'parse' ended error"))
    assert live.live.is_started  # counting finished tasks does not end the view: the run's end does
    live.dispatch_finished(None)
    assert not live.live.is_started
    printed = console.file.getvalue()
    assert "✓ fetch" in printed and "✗ parse" in printed and "- merge" in printed
    assert "done: 2 ok, 1 failed, 1 skipped, 0 cancelled of 4 in " in printed and "$0.5000" in printed


def test_plain_progress_uses_the_dispatch_clock_for_tasks_skipped_without_times(plan):
    stream = io.StringIO()
    plain = PlainProgress(stream, plan)
    fetch, parse, _, _ = plan.tasks
    plain.task_started(fetch, 1, 5000.0)  # anchors the clock: the dispatch began 5 s ago
    plain.task_finished(TaskOutcome(parse, "skipped", error="skipped: fail_fast"))
    assert float(stream.getvalue().splitlines()[-1].split("s]")[0].strip("[ ")) >= 5.0


def test_event_log_marks_ready_only_when_every_dependency_succeeded(plan):
    stream = io.BytesIO()
    stream.close = lambda: None  # keep the buffer readable after the log closes it
    log = EventLog(stream, plan)
    fetch, parse, ask, merge = plan.tasks
    log.task_finished(outcome(fetch, "success", 0.0, 10.0))
    log.task_finished(outcome(ask, "error", 0.0, 12.0))
    log.task_finished(outcome(parse, "success", 11.0, 20.0))
    log.task_finished(TaskOutcome(merge, "skipped", error="skipped"))
    assert log.stream is not None  # still open: only the run's end closes it
    log.dispatch_finished(None)
    events = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["task_id"], e["event"]) for e in events if e["event"] == "ready"] == [("parse", "ready")]
    assert events[-1]["event"] == "dispatch_finished" and log.stream is None
    log.task_started(fetch, 1, 1.0)  # after the end: nothing more is written
    assert len(stream.getvalue().splitlines()) == len(events)



def test_plain_progress_prints_a_running_line_while_a_long_task_runs(tmp_path):
    from parallel_execution.dispatcher import dispatch

    stream = io.StringIO()
    tasks = [{"task_id": "slow", "agent": "echo", "input_data": {"delay_seconds": 1.0}},
             {"task_id": "quick", "agent": "echo", "dependencies": ["slow"]}]
    doc = {"tasks": tasks, "config": {"trace_dir": str(tmp_path)}}
    plan = build_plan(parse_input(doc))
    dispatch(doc, observers=[PlainProgress(stream, plan, heartbeat_seconds=0.25)])
    lines = stream.getvalue().splitlines()
    beats = [line for line in lines if " running " in line]
    assert beats, lines
    assert "slow (echo, " in beats[0] and "[0/2 done, 1 queued]" in beats[0]
    start, end = lines.index(next(x for x in lines if "start    slow" in x)), lines.index(next(x for x in lines if "ok       slow" in x))
    assert all(start < lines.index(b) < end for b in beats)  # only while it runs
    assert lines[-1].startswith("done: 2 ok")
