"""Resume: SIGKILL the runner mid-dispatch, resume, and lose nothing nor redo a success."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import RUNNER, runner_env

# Each task appends its id to runs.log when it runs, so we can count real executions.
RECORD = ("import sys, time, pathlib\n"
          "time.sleep(float(sys.argv[2]))\n"
          "with open('runs.log', 'a') as f: f.write(sys.argv[1] + '\\n')\n"
          "print('out-' + sys.argv[1])\n")


def pipeline(workspace: Path) -> dict:
    (workspace / "record.py").write_text(RECORD)

    def task(task_id, delay, deps=()):
        return {"task_id": task_id, "agent": "command", "dependencies": list(deps),
                "input_data": {"argv": [sys.executable, "record.py", task_id, str(delay)]}}

    tasks = [task("a", 0.2), task("b", 0.2), task("c", 0.6, ["a"]), task("d", 0.2, ["a", "b"]),
             task("e", 0.4, ["c", "d"]), task("f", 0.2, ["e"]),
             {"task_id": "g", "agent": "echo", "dependencies": ["f"],
              "input_data": {"message": {"$from": "e", "select": ".stdout_tail"}}}]
    return {"tasks": tasks, "config": {"workspace": str(workspace), "max_workers": 2,
                                       "trace_dir": str(workspace / "traces")}}


def journal_successes(trace_dir: Path) -> set[str]:
    done = set()
    for journal in trace_dir.glob("*/journal.jsonl"):
        for line in journal.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record["status"] == "success":
                done.add(record["task_id"])
    return done


def comparable(result: dict) -> list[tuple]:
    return [(r["task_id"], r["status"], (r["output"] or {}).get("stdout_tail", (r["output"] or {}).get("message")))
            for r in result["results"]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    ws = tmp_path_factory.mktemp("reference")
    proc = subprocess.run([*RUNNER, "--allow-commands", "--quiet"], input=json.dumps(pipeline(ws)).encode(),
                          capture_output=True, env=runner_env(), timeout=60)
    assert proc.returncode == 0
    return json.loads(proc.stdout)


@pytest.mark.parametrize("kill_after", [0.0, 0.3, 0.7, 1.2])
def test_sigkill_then_resume_loses_nothing_and_redoes_no_success(tmp_path, kill_after, uninterrupted):
    ws = tmp_path / "ws"
    ws.mkdir()

    doc = pipeline(ws)
    (ws / "tasks.json").write_text(json.dumps(doc))
    proc = subprocess.Popen([*RUNNER, "tasks.json", "--allow-commands", "--quiet"], cwd=ws, env=runner_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 20
    while not list((ws / "traces").glob("dispatch-*.json")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the dispatch has started once its index exists
    time.sleep(kill_after)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its children, with no chance to clean up
    proc.communicate()
    succeeded_before = journal_successes(ws / "traces")
    runs_before = Counter((ws / "runs.log").read_text().split()) if (ws / "runs.log").exists() else Counter()

    resumed = subprocess.run([*RUNNER, "resume", "latest", "--allow-commands", "--quiet",
                              "--trace-dir", str(ws / "traces")], capture_output=True, cwd=ws, env=runner_env(),
                             timeout=60)
    assert resumed.returncode == 0, resumed.stdout.decode() + resumed.stderr.decode()
    result = json.loads(resumed.stdout)
    assert set(result["resume"]["reused"]) == succeeded_before
    runs = Counter((ws / "runs.log").read_text().split())
    for task_id in succeeded_before - {"g"}:
        assert runs[task_id] == 1 == runs_before[task_id], f"{task_id} ran again after succeeding"
    assert comparable(result) == comparable(uninterrupted)


def test_changed_input_reruns_that_task_and_dependents_whose_inputs_changed(tmp_path):
    def echo(task_id, message, deps=(), delay=0.0):
        return {"task_id": task_id, "agent": "echo", "dependencies": list(deps),
                "input_data": {"message": message, "delay_seconds": delay}}

    doc = {"tasks": [echo("a", 1), echo("b", {"$from": "a"}, ["a"]), echo("c", "x"),
                     echo("d", {"$from": "c"}, ["c"]), echo("e", "same", ["d"])],
           "config": {"trace_dir": str(tmp_path / "traces")}}
    first = subprocess.run([*RUNNER, "--quiet"], input=json.dumps(doc).encode(), capture_output=True,
                           env=runner_env(), timeout=60)
    assert first.returncode == 0
    doc["tasks"][0]["input_data"]["delay_seconds"] = 0.01  # a's input changes, its output does not
    doc["tasks"][2]["input_data"]["message"] = "y"  # c's output changes, so d sees new input
    (tmp_path / "changed.json").write_text(json.dumps(doc))
    second = subprocess.run([*RUNNER, str(tmp_path / "changed.json"), "--quiet", "--resume", "latest",
                             "--trace-dir", str(tmp_path / "traces")], capture_output=True, env=runner_env(),
                            timeout=60)
    result = json.loads(second.stdout)
    assert result["status"] == "success"
    assert result["resume"]["rerun"] == {"a": "input changed", "c": "input changed",
                                         "d": "dependency outputs changed", "e": "dependency outputs changed"}
    assert result["resume"]["reused"] == ["b"]  # a ran again but gave the same output
    assert result["results"][3]["output"] == {"message": {"message": "y"}}


def test_resume_of_unknown_dispatch_is_an_input_error(tmp_path):
    proc = subprocess.run([*RUNNER, "resume", "nope", "--trace-dir", str(tmp_path)], capture_output=True,
                          env=runner_env())
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["errors"][0]["message"].startswith("no dispatch 'nope'")


def test_run_resume_finds_the_earlier_dispatch_through_the_files_trace_dir(tmp_path):
    doc = {"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"fail_on_attempts": [1]}}],
           "config": {"trace_dir": str(tmp_path / "custom-traces")}}
    (tmp_path / "t.json").write_text(json.dumps(doc))
    first = subprocess.run([*RUNNER, "t.json", "--quiet"], capture_output=True, cwd=tmp_path, env=runner_env())
    assert first.returncode == 1
    doc["tasks"][0]["input_data"]["fail_on_attempts"] = []
    (tmp_path / "t.json").write_text(json.dumps(doc))
    second = subprocess.run([*RUNNER, "t.json", "--quiet", "--resume", "latest"], capture_output=True, cwd=tmp_path,
                            env=runner_env())
    assert second.returncode == 0, second.stdout.decode()
    assert json.loads(second.stdout)["resume"]["resumed_from"] == json.loads(first.stdout)["dispatch_id"]


SECRET = "sk-live-0123456789abcdef"
# Appends what it was given to got.txt: what a dependent really received.
GOT = "import sys; open('got.txt', 'a').write(sys.argv[1] + '\\n')"


def secret_pipeline(ws: Path, *, f_fails: bool) -> dict:
    tasks = [{"task_id": "a", "agent": "echo", "input_data": {"message": {"api_key": SECRET}}},
             {"task_id": "f", "agent": "echo", "input_data": {"fail_on_attempts": [1] if f_fails else []}},
             {"task_id": "b", "agent": "command", "dependencies": ["a", "f"], "input_data": {
                 "argv": [sys.executable, "-c", GOT, {"$from": "a", "select": ".message.api_key"}]}}]
    return {"tasks": tasks, "config": {"workspace": str(ws), "trace_dir": str(ws / "traces")}}


@pytest.mark.parametrize("private_copy", [True, False])
def test_resume_never_passes_a_redacted_output_on(tmp_path, private_copy):
    (tmp_path / "t.json").write_text(json.dumps(secret_pipeline(tmp_path, f_fails=True)))
    first = subprocess.run([*RUNNER, "t.json", "--allow-commands", "--quiet"], cwd=tmp_path, capture_output=True,
                           env=runner_env(), timeout=60)
    assert first.returncode == 1
    task_dir = tmp_path / "traces" / json.loads(first.stdout)["dispatch_id"]
    assert SECRET not in (task_dir / "a.json").read_text()  # the trace is redacted
    private = task_dir / "private" / "a.json"
    assert private.stat().st_mode & 0o777 == 0o600 and private.parent.stat().st_mode & 0o777 == 0o700
    if not private_copy:
        private.unlink()
    (tmp_path / "t.json").write_text(json.dumps(secret_pipeline(tmp_path, f_fails=False)))
    second = subprocess.run([*RUNNER, "t.json", "--allow-commands", "--quiet", "--resume", "latest"], cwd=tmp_path,
                            capture_output=True, env=runner_env(), timeout=60)
    assert second.returncode == 0, second.stdout.decode()
    resume = json.loads(second.stdout)["resume"]
    if private_copy:
        assert "a" in resume["reused"]
    else:
        assert resume["rerun"]["a"] == "its output held secrets (redacted in the trace) and no private copy is left"
    assert (tmp_path / "got.txt").read_text() == SECRET + "\n"  # b got the real value, not "[REDACTED]"


def chain(ws: Path, n: int, *, last_fails: bool) -> dict:
    (ws / "record.py").write_text(RECORD)
    tasks = [{"task_id": f"t{i}", "agent": "command", "dependencies": [f"t{i - 1}"] if i else [],
              "input_data": {"argv": [sys.executable, "record.py", f"t{i}", "0"]}} for i in range(n - 1)]
    tasks.append({"task_id": "last", "agent": "echo", "dependencies": [f"t{n - 2}"],
                  "input_data": {"fail_on_attempts": [1] if last_fails else []}})
    return {"tasks": tasks, "config": {"workspace": str(ws), "trace_dir": str(ws / "traces")}}


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_resume_does_not_forget_earlier_successes(tmp_path, signum):
    n = 30
    (tmp_path / "t.json").write_text(json.dumps(chain(tmp_path, n, last_fails=True)))
    first = subprocess.run([*RUNNER, "t.json", "--allow-commands", "--quiet"], cwd=tmp_path, capture_output=True,
                           env=runner_env(), timeout=120)
    assert first.returncode == 1
    # A resume interrupted as soon as its index exists: it recorded little or nothing of the chain.
    (tmp_path / "t.json").write_text(json.dumps(chain(tmp_path, n, last_fails=False)))
    proc = subprocess.Popen([*RUNNER, "t.json", "--allow-commands", "--quiet", "--resume", "latest"], cwd=tmp_path,
                            env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(list((tmp_path / "traces").glob("dispatch-*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    third = subprocess.run([*RUNNER, "t.json", "--allow-commands", "--quiet", "--resume", "latest"], cwd=tmp_path,
                           capture_output=True, env=runner_env(), timeout=120)
    assert third.returncode == 0, third.stdout.decode()
    reused = set(json.loads(third.stdout)["resume"]["reused"])
    assert {f"t{i}" for i in range(n - 1)} <= reused
    assert Counter((tmp_path / "runs.log").read_text().split()) == Counter(f"t{i}" for i in range(n - 1))
