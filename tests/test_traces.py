"""Trace files: per task, an index, a journal; atomic, never overwritten, never fatal."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import RUNNER, config, runner_env

from parallel_execution import dispatch
from parallel_execution.inputs.schema import SCHEMA_VERSION
from parallel_execution.traces.fsio import atomic_write_text


def tasks():
    return [
        {"task_id": "a", "agent": "echo", "description": "first", "input_data": {"message": {"n": 1}}},
        {"task_id": "b", "agent": "echo", "dependencies": ["a"],
         "input_data": {"message": {"$from": "a", "select": ".message.n"}}},
        {"task_id": "c", "agent": "echo", "input_data": {"fail_on_attempts": [1]}},
        {"task_id": "d", "agent": "echo", "dependencies": ["c"]},
    ]


def test_every_task_gets_a_trace_and_the_index_lists_them(trace_dir):
    result = dispatch(tasks(), config(trace_dir), )
    index = json.loads(Path(result.trace_index).read_text())
    assert Path(result.trace_index).name == f"dispatch-{result.dispatch_id}.json"
    assert index["schema_version"] == SCHEMA_VERSION and index["dispatch_id"] == result.dispatch_id
    assert index["status"] == "failure" and index["summary"]["total_tasks"] == 4
    assert [t["status"] for t in index["tasks"]] == ["success", "success", "error", "skipped"]
    for entry, res in zip(index["tasks"], result.results, strict=True):
        assert entry["trace_file"] == res.trace_file == str(trace_dir / result.dispatch_id / f"{res.task_id}.json")
        trace = json.loads(Path(res.trace_file).read_text())
        assert trace["dispatch_id"] == result.dispatch_id and trace["schema_version"] == SCHEMA_VERSION
        assert trace["status"] == res.status
    b = json.loads((trace_dir / result.dispatch_id / "b.json").read_text())
    assert b["input_data"] == {"message": {"$from": "a", "select": ".message.n"}}
    assert b["resolved_input"]["message"] == 1
    assert b["attempts"][0]["status"] == "success" and b["attempts"][0]["duration_ms"] >= 0


def test_the_quick_start_failed_task_query_works_on_the_index(trace_dir):
    import jq

    result = dispatch(tasks(), config(trace_dir))
    index = json.loads(Path(result.trace_index).read_text())
    failed = jq.compile('.tasks[] | select(.status=="error") | .task_id').input_value(index).all()
    assert failed == ["c"]


def test_journal_has_one_line_per_finished_task(trace_dir):
    result = dispatch(tasks(), config(trace_dir))
    lines = (trace_dir / result.dispatch_id / "journal.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["task_id"] for r in records) == ["a", "b", "c", "d"]
    assert all(len(r["input_digest"]) == 64 for r in records)


def test_runs_never_overwrite_each_other_and_leave_no_temp_files(trace_dir):
    first = dispatch(tasks(), config(trace_dir))
    second = dispatch(tasks(), config(trace_dir))
    assert first.dispatch_id != second.dispatch_id
    assert Path(first.trace_index).exists() and Path(second.trace_index).exists()
    assert not [p for p in trace_dir.rglob("*.tmp")]


def test_unwritable_trace_dir_still_runs_and_reports(tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    result = dispatch(tasks()[:1], config(blocker / "traces"))
    assert result.status == "success"
    assert result.trace_index is None and result.results[0].trace_file is None
    assert result.trace_errors and "cannot create trace folder" in result.trace_errors[0]


def test_atomic_write_replaces_a_planted_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "trace.json"
    target.symlink_to(victim)
    atomic_write_text(target, "new")
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_text() == "new"


def test_trace_files_are_not_world_writable(trace_dir):
    result = dispatch(tasks()[:1], config(trace_dir))
    assert not os.stat(result.results[0].trace_file).st_mode & 0o002


def test_a_full_disk_is_reported_and_the_result_still_comes(tiny_disk):
    tasks = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": "x" * 4000}} for i in range(40)]
    doc = {"tasks": tasks, "config": {"trace_dir": str(tiny_disk / "traces")}}
    proc = subprocess.run([*RUNNER, "--quiet"], input=json.dumps(doc).encode(), capture_output=True,
                          env=runner_env(), timeout=60)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["status"] == "success"  # the work itself succeeded
    assert any("No space left on device" in e for e in result["trace_errors"])
    assert b"No space left on device" in proc.stderr  # said on stderr too
    assert sum(r["trace_file"] is None for r in result["results"]) > 0
    assert not list(tiny_disk.rglob("*.tmp"))  # no half-written files left behind
