"""The runner as users run it: stdin/stdout, exit codes, one JSON document, three ways to start it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import orjson
import pytest
from conftest import REPO, RUNNER, runner_env

HELLO = REPO / "examples" / "00_hello.json"


def run(argv, stdin: bytes | None = None, cwd=None, timeout=60):
    return subprocess.run(argv, input=stdin, capture_output=True, cwd=cwd, env=runner_env(), timeout=timeout)


def single_json(stdout: bytes):
    """stdout must be exactly one JSON document and nothing else."""
    return orjson.loads(stdout)  # orjson rejects trailing data


def tasks_json(*tasks, **config) -> bytes:
    return orjson.dumps({"tasks": list(tasks), "config": config})


@pytest.mark.parametrize(
    "argv",
    [
        [*RUNNER],
        [sys.executable, str(REPO / "parallel_execution" / "dispatch_runner.py")],
        [*RUNNER, "run", "-"],
    ],
    ids=["module", "plain-script", "run-subcommand"],
)
def test_hello_example_runs_every_way(argv, tmp_path):
    proc = run([*argv, "--trace-dir", str(tmp_path / "t")], HELLO.read_bytes(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    result = single_json(proc.stdout)
    assert result["status"] == "success"
    assert result["results"][-1]["output"] == {"message": ["users", "products", "orders"]}
    assert b"start" in proc.stderr  # progress goes to stderr


def test_plain_script_run_from_another_directory_with_file_argument(tmp_path):
    proc = run([sys.executable, str(REPO / "parallel_execution" / "dispatch_runner.py"), str(HELLO), "--quiet",
                "--trace-dir", str(tmp_path / "t")], cwd="/")
    assert proc.returncode == 0 and proc.stderr == b""
    assert single_json(proc.stdout)["summary"]["successful"] == 5


def test_failure_exit_code_is_1(tmp_path):
    body = tasks_json({"task_id": "bad", "agent": "echo", "input_data": {"fail_on_attempts": [1]}},
                      trace_dir=str(tmp_path / "t"))
    proc = run(RUNNER, body)
    assert proc.returncode == 1
    result = single_json(proc.stdout)
    assert result["status"] == "failure" and result["results"][0]["status"] == "error"


def test_invalid_input_exit_2_structured_error_and_nothing_written(tmp_path):
    body = tasks_json({"task_id": "a", "agent": "echo", "dependencies": ["b"]},
                      {"task_id": "b", "agent": "echo", "dependencies": ["a"]}, trace_dir=str(tmp_path / "t"))
    proc = run(RUNNER, body, cwd=tmp_path)
    assert proc.returncode == 2
    assert single_json(proc.stdout) == {"status": "invalid", "errors": [{
        "task_id": "a", "field": "dependencies", "cycle": ["a", "b", "a"],
        "message": "circular dependency: a -> b -> a (each task depends on the next)"}]}
    assert list(tmp_path.iterdir()) == []  # no trace dir, nothing


@pytest.mark.parametrize("stdin", [b"", b"[1, 2]", b"{\"tasks\": 5}", b"\xff\xfe\x00", b"null"])
def test_garbage_input_is_exit_2_never_a_traceback(stdin, tmp_path):
    proc = run(RUNNER, stdin, cwd=tmp_path)
    assert proc.returncode == 2
    assert single_json(proc.stdout)["status"] == "invalid"
    assert b"Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_flags_override_config(tmp_path):
    body = tasks_json({"task_id": "slow", "agent": "echo", "input_data": {"delay_seconds": 5}},
                      timeout_seconds=100, trace_dir="ignored")
    proc = run([*RUNNER, "--timeout", "0.2", "--trace-dir", str(tmp_path / "mine"), "--quiet"], body, cwd=tmp_path)
    result = single_json(proc.stdout)
    assert result["results"][0]["status"] == "timeout"
    assert result["trace_index"].startswith(str(tmp_path / "mine"))
    assert not (tmp_path / "ignored").exists()


def test_workspace_flag_changes_where_paths_resolve(tmp_path):
    body = tasks_json({"task_id": "w", "agent": "echo", "writes": ["../x"]})
    proc = run([*RUNNER, "validate", "--workspace", str(tmp_path)], body)
    assert proc.returncode == 2 and "outside the workspace" in proc.stdout.decode()


def test_validate_prints_the_plan_and_runs_nothing(tmp_path):
    proc = run([*RUNNER, "validate", str(HELLO)], cwd=tmp_path)
    assert proc.returncode == 0
    plan = single_json(proc.stdout)
    assert plan["status"] == "valid" and plan["plan"]["levels"][1] == ["users", "products", "orders"]
    assert b"critical path: split -> users -> join" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_schema_describes_tasks_and_each_agent(tmp_path):
    proc = run([*RUNNER, "schema"])
    schema = single_json(proc.stdout)
    task = schema["$defs"]["Task"]
    assert "echo" in task["properties"]["agent"]["enum"]
    assert schema["$defs"]["agent:echo"]["properties"]["delay_seconds"]["anyOf"][0]["minimum"] == 0
    assert {"task_id", "agent"} <= set(task["required"])


def test_help_lists_commands_and_exit_codes():
    proc = run([*RUNNER, "--help"])
    assert proc.returncode == 0
    for word in (b"run", b"validate", b"schema", b"Exit codes"):
        assert word in proc.stdout


def test_no_stdin_and_no_file_is_a_clear_error():
    proc = subprocess.run([*RUNNER, "validate", "/nonexistent.json"], capture_output=True, env=runner_env())
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["errors"][0]["message"].startswith("cannot read '/nonexistent.json'")


def test_quick_start_imports_work_from_the_package_folder():
    code = ("from task_schema import TaskBuilder, validate_task_dependencies, detect_circular_dependencies\n"
            "from dispatch_runner import DispatchInput, ParallelDispatcher\n"
            "b = TaskBuilder(); t = b.create_coder_task(task_id='gen-1', description='d', "
            "contract_description='Database writer', node_type='Effect', output_path='/tmp/out.py')\n"
            "print(validate_task_dependencies([t]), detect_circular_dependencies([t]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO / "parallel_execution")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.strip() == b"[] []"


@pytest.mark.parametrize("argv", [["--bogus"], ["run", "--max-workers", "abc"], ["validate", "a", "b"]])
def test_usage_errors_are_exit_2_with_the_json_document(argv):
    proc = run([*RUNNER, *argv], b"")
    assert proc.returncode == 2
    [error] = single_json(proc.stdout)["errors"]
    assert error["message"].startswith("usage: dispatch-runner")
    assert b"see dispatch-runner --help" in proc.stderr


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    # `dispatch-runner run x.json | head -c 5`: the pipe closes before the result is written.
    doc = {"tasks": [{"task_id": "a", "agent": "echo"}], "config": {"trace_dir": str(tmp_path / "traces")}}
    (tmp_path / "x.json").write_text(json.dumps(doc))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([*RUNNER, "run", str(tmp_path / "x.json")], stdout=write_end, stderr=subprocess.PIPE,
                              env=runner_env(), cwd=tmp_path, timeout=60)
    finally:
        os.close(write_end)
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode == 0
    assert list((tmp_path / "traces").rglob("a.json"))
