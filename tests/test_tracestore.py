"""Reading dispatches back: finding an index by path, id, prefix or 'latest'; lazy task traces."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import config

from parallel_execution import dispatch
from parallel_execution.dispatcher import DispatchRun, coerce_input
from parallel_execution.errors import InvalidInput
from parallel_execution.inputs.validate import build_plan
from parallel_execution.traces.store import find_index, list_dispatches, load_dispatch

TASKS = [
    {"task_id": "a", "agent": "echo", "input_data": {"message": "hello"}},
    {"task_id": "b", "agent": "echo", "input_data": {"fail_on_attempts": [1]}, "retries": 1},
    {"task_id": "c", "agent": "echo", "input_data": {"fail_on_attempts": [1]}},
    {"task_id": "d", "agent": "echo", "dependencies": ["c"]},
]


def run(trace_dir: Path, dispatch_id: str | None = None, tasks=TASKS):
    """A real dispatch into ``trace_dir`` (with a chosen id when given)."""
    conf = config(trace_dir, retry_backoff_seconds=0.01)
    if dispatch_id is None:
        return dispatch(tasks, conf)
    plan = build_plan(coerce_input(tasks, conf))
    return asyncio.run(DispatchRun(plan, dispatch_id=dispatch_id).run())


@pytest.fixture
def two_runs(trace_dir):
    first = run(trace_dir, "20250101_120000-aaaa1111")
    second = run(trace_dir, "20250102_080000-bbbb2222")
    return trace_dir, first, second


def test_find_index_by_path_id_prefix_and_latest(two_runs):
    trace_dir, first, second = two_runs
    first_index = trace_dir / "dispatch-20250101_120000-aaaa1111.json"
    assert find_index(str(first_index), trace_dir) == first_index
    assert find_index(first.dispatch_id, trace_dir) == first_index
    assert find_index(f"dispatch-{first.dispatch_id}", trace_dir) == first_index
    assert find_index("20250101", trace_dir) == first_index
    assert find_index("latest", trace_dir) == Path(second.trace_index)


def test_latest_is_the_newest_id_even_if_an_older_index_was_rewritten_later(two_runs):
    trace_dir, first, second = two_runs
    os.utime(first.trace_index, (4e9, 4e9))  # the old dispatch's index touched (e.g. resumed) last
    assert find_index("latest", trace_dir) == Path(second.trace_index)


def test_latest_falls_back_to_modification_time_for_ids_without_a_timestamp(trace_dir):
    run(trace_dir, "20250101_120000-aaaa1111")
    custom = run(trace_dir, "my-own-id")
    os.utime(custom.trace_index, (4e9, 4e9))  # year 2096: newer than 2025
    assert find_index("latest", trace_dir) == Path(custom.trace_index)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", r"no dispatch 'nope' in '.*traces' \(2 dispatches there; see `dispatch-runner traces list`\)"),
        ("2025", r"'2025' matches 2 dispatches in '.*' \(20250101_120000-aaaa1111, 20250102_080000-bbbb2222\); "
                 r"give more of the id"),
        ("", r"empty dispatch reference"),
        ("missing/dispatch-x.json", r"no such index file: 'missing/dispatch-x.json'"),
    ],
)
def test_find_index_errors_say_what_was_looked_for(two_runs, ref, message):
    trace_dir, _, _ = two_runs
    with pytest.raises(InvalidInput, match=message):
        find_index(ref, trace_dir)


def test_find_index_errors_for_missing_or_empty_trace_folders(tmp_path):
    with pytest.raises(InvalidInput, match=r"trace folder '.*nowhere' does not exist \(use --trace-dir\)"):
        find_index("latest", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match=r"no dispatches in '.*empty' yet"):
        find_index("latest", tmp_path / "empty")
    with pytest.raises(InvalidInput, match=r"is a folder; give the index file"):
        find_index(str(tmp_path / "empty") + "/", tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", r"is not valid JSON"),
        (b'{"tasks": []}', r"is not a dispatch index \(no dispatch_id / tasks\)"),
        (b'{"dispatch_id": "x", "tasks": [], "schema_version": 99}', r"has schema_version 99; this version reads up to 1"),
    ],
)
def test_load_dispatch_rejects_files_that_are_not_indexes(tmp_path, content, message):
    path = tmp_path / "dispatch-x.json"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        load_dispatch(str(path), tmp_path)


def test_load_dispatch_reads_the_index_and_task_traces_on_demand(trace_dir):
    result = run(trace_dir)
    record = load_dispatch(result.dispatch_id, trace_dir)
    assert record.dispatch_id == result.dispatch_id and record.status == "failure"
    assert record.summary["total_tasks"] == 4 and record.config["trace_dir"] == str(trace_dir)
    assert [t["status"] for t in record.tasks] == ["success", "success", "error", "skipped"]
    assert record.counts() == {"success": 2, "error": 1, "skipped": 1}
    assert record._traces == {}  # nothing read beyond the index yet
    trace = record.task_trace("b")
    assert trace["output"] == {"message": None} and [a["status"] for a in trace["attempts"]] == ["error", "success"]
    assert set(record._traces) == {"b"}
    assert record.task("c")["error"] == "echo failed on purpose on attempt 1"
    with pytest.raises(InvalidInput, match=r"has no task 'zz'"):
        record.task("zz")
    assert record.journal_path.is_file()


def test_a_moved_trace_folder_still_loads_its_task_traces(trace_dir, tmp_path):
    result = run(trace_dir)
    moved = tmp_path / "elsewhere"
    shutil.move(trace_dir, moved)
    record = load_dispatch("latest", moved)
    assert record.task_trace("a")["output"] == {"message": "hello"}
    assert record.task("a")["trace_file"] == str(moved / result.dispatch_id / "a.json")


def test_an_index_still_running_is_completed_from_the_task_traces_written(trace_dir):
    result = run(trace_dir)
    index_file = Path(result.trace_index)
    index = json.loads(index_file.read_text())
    index["status"], index["summary"] = "running", None
    for task in index["tasks"]:  # what a crashed run leaves: the first index, nothing finished in it
        task.update(status="pending", error=None, started_ms=None, finished_ms=None, attempts=0, trace_file=None)
    index_file.write_text(json.dumps(index))
    (trace_dir / result.dispatch_id / "d.json").unlink()  # d never finished: no trace, no journal line
    journal = trace_dir / result.dispatch_id / "journal.jsonl"
    journal.write_text("".join(line + "\n" for line in journal.read_text().splitlines()
                               if json.loads(line)["task_id"] != "d"))
    (trace_dir / result.dispatch_id / "c.json").unlink()  # c's trace is lost, its journal line is not
    record = load_dispatch(str(index_file))
    assert [t["status"] for t in record.tasks] == ["success", "success", "error", "pending"]
    assert record.task("b")["attempts"] == 2 and record.task("b")["finished_ms"] > 0
    assert record.task("c")["trace_file"] is None and record.task("c")["attempts"] == 1  # from the journal
    assert record.task("d")["trace_file"] is None and record.task_trace("d") is None


def test_list_dispatches_newest_first_with_counts(trace_dir):
    run(trace_dir, "20250101_120000-aaaa1111")
    run(trace_dir, "20250102_080000-bbbb2222", tasks=TASKS[:1])
    (trace_dir / "dispatch-20240101_000000-broken.json").write_text("{")
    rows = list_dispatches(trace_dir)
    assert [r["dispatch_id"] for r in rows] == ["20250102_080000-bbbb2222", "20250101_120000-aaaa1111",
                                               "20240101_000000-broken"]
    newest, older, broken = rows
    assert newest["status"] == "success" and newest["total_tasks"] == 1 and newest["counts"] == {"success": 1}
    assert older["counts"] == {"success": 2, "error": 1, "skipped": 1} and older["total_time_ms"] > 0
    assert broken["status"] == "unreadable" and "is not valid JSON" in broken["error"]
    assert [r["dispatch_id"] for r in list_dispatches(trace_dir, limit=1)] == ["20250102_080000-bbbb2222"]
    assert list_dispatches(trace_dir / "missing") == []
