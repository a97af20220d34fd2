"""Damage and full disks: a broken task trace does not block the rest of its dispatch; a full disk
is reported against the right file, and a command whose log filled it says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RUNNER, runner_env


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*RUNNER, *args], input=stdin, capture_output=True, env=runner_env(), cwd=cwd, timeout=90)


def test_a_damaged_task_trace_does_not_block_resume_report_or_query(tmp_path):
    tasks = [{"task_id": "a", "agent": "echo", "input_data": {"message": 1}},
             {"task_id": "b", "agent": "echo", "input_data": {"message": {"$from": "a"}}, "dependencies": ["a"]},
             {"task_id": "c", "agent": "echo", "input_data": {"fail_on_attempts": [1]}}]
    doc = {"tasks": tasks, "config": {"trace_dir": str(tmp_path / "traces")}}
    (tmp_path / "t.json").write_text(json.dumps(doc))
    first = run_cli("t.json", "--quiet", cwd=tmp_path)
    dispatch_id = json.loads(first.stdout)["dispatch_id"]
    (tmp_path / "traces" / dispatch_id / "a.json").write_text('{"schema_version": 1, "outp')  # torn
    traces = str(tmp_path / "traces")

    report = run_cli("report", "latest", "--trace-dir", traces)
    assert report.returncode == 0, report.stdout.decode()
    query = run_cli("traces", "query", "latest", '[.tasks[] | {task_id, status, trace_error}]', "--trace-dir", traces)
    assert query.returncode == 0, query.stdout.decode()
    rows = {r["task_id"]: r for r in json.loads(query.stdout)[0]}  # one list per jq output
    assert rows["a"]["status"] == "success" and "is not valid JSON" in rows["a"]["trace_error"]
    assert rows["b"]["trace_error"] is None

    doc["tasks"][2]["input_data"]["fail_on_attempts"] = []
    (tmp_path / "t.json").write_text(json.dumps(doc))
    resumed = run_cli("t.json", "--quiet", "--resume", "latest", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout.decode()
    resume = json.loads(resumed.stdout)["resume"]
    assert resume["rerun"]["a"] == "earlier trace file unreadable"  # rebuilt, not trusted
    assert "b" in resume["reused"]  # a gave the same output again


def test_a_command_whose_log_filled_the_disk_says_so(tiny_disk, tmp_path):
    # head fails with exit 1 when stdout cannot be written; its own complaint is lost with stderr.
    writer = [sys.executable, "-c", "import os, sys\n"
              "data = b'y' * 300_000\n"
              "try:\n"
              "    while data: data = data[os.write(1, data):]\n"
              "except OSError: sys.exit(1)\n"]
    tasks = [{"task_id": "big", "agent": "command", "input_data": {"argv": writer}}]
    doc = {"tasks": tasks, "config": {"trace_dir": str(tiny_disk / "traces"), "workspace": str(tmp_path)}}
    proc = run_cli("--allow-commands", "--quiet", stdin=json.dumps(doc).encode())
    result = json.loads(proc.stdout)
    error = result["results"][0]["error"]
    assert error.startswith("python") and "exited with code 1 because the disk holding its logs is full" in error
    assert str(tiny_disk / "traces") in error
    # Every trace error names a file that really is on the full disk.
    for problem in result["trace_errors"]:
        assert str(tiny_disk) in problem and "No space left on device" in problem


def test_a_full_disk_at_the_start_names_the_file_that_could_not_be_written(tiny_disk):
    (tiny_disk / "filler").write_bytes(os.urandom(60_000))  # leaves room for the folder, not the files
    doc = {"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": "x" * 10_000}}],
           "config": {"trace_dir": str(tiny_disk / "traces")}}
    proc = run_cli("--quiet", stdin=json.dumps(doc).encode())
    result = json.loads(proc.stdout)
    assert result["status"] == "success"
    assert result["trace_errors"]
    assert not any("cannot create trace folder" in e for e in result["trace_errors"]), result["trace_errors"]
    assert all(".json" in e or ".jsonl" in e for e in result["trace_errors"]), result["trace_errors"]


@pytest.mark.parametrize(("text", "kept"), [("all fine\n", True), ("token hunter2-secret-value\n", False)])
def test_a_log_that_cannot_be_scrubbed_is_emptied_only_if_it_holds_a_secret(tmp_path, monkeypatch, text, kept):
    from parallel_execution.agents.command_logs import LogFiles
    from parallel_execution.traces.redact import Redactor

    redactor = Redactor(["hunter2-secret-value"])

    def disk_full(path, chunk_bytes=0):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(redactor, "scrub_file", disk_full)
    with LogFiles(tmp_path / "t.stdout.log", tmp_path / "t.stderr.log") as logs:
        os.write(logs.stdout, text.encode())
        logs.keep()
        logs.scrub(redactor)
        assert (tmp_path / "t.stdout.log").read_text() == (text if kept else "")
