"""`dispatch-runner traces list` and `traces query`: JSON lists on stdout, jq over index + task traces."""

from __future__ import annotations

import pytest
from conftest import config
from helpers import cli_json as run_cli  # stdout: exactly one JSON document

from parallel_execution import dispatch
from parallel_execution.errors import InvalidInput
from parallel_execution.traces.query import query
from parallel_execution.traces.store import load_dispatch

TASKS = [
    {"task_id": "gen", "agent": "echo", "input_data": {"message": {"generated_file": "out/users.py"}}},
    {"task_id": "flaky", "agent": "echo", "input_data": {"fail_on_attempts": [1], "delay_seconds": 0.05},
     "retries": 1},
    {"task_id": "broken", "agent": "echo", "input_data": {"fail_on_attempts": [1]}},
    {"task_id": "after", "agent": "echo", "dependencies": ["broken"]},
]


@pytest.fixture
def record(trace_dir):
    result = dispatch(TASKS, config(trace_dir, retry_backoff_seconds=0.01))
    return load_dispatch(result.dispatch_id, trace_dir)


@pytest.mark.parametrize(
    ("jq_filter", "expected"),
    [
        ('.tasks[] | select(.status=="error") | .task_id', ["broken"]),
        ('[.tasks[] | select(.status=="skipped") | .error]', [["skipped: dependency 'broken' ended error"]]),
        # task traces are merged in: outputs, resolved inputs and every attempt are queryable
        ('.tasks[] | select(.task_id=="gen") | .output.message.generated_file', ["out/users.py"]),
        ('.tasks[] | select(.task_id=="flaky") | [.attempts[].status]', [["error", "success"]]),
        ('.tasks[] | select(.task_id=="flaky") | .resolved_input.delay_seconds', [0.05]),
        ('.status, .summary.total_tasks', ["failure", 4]),
        ('.tasks[] | select(.status=="timeout")', []),
    ],
)
def test_query_runs_jq_over_the_index_and_task_traces(record, jq_filter, expected):
    assert query(record, jq_filter) == expected


def test_query_keeps_index_fields_and_points_at_the_trace_files(record):
    (gen,) = query(record, '.tasks[] | select(.task_id=="gen")')
    assert gen["trace_file"] == str(record.trace_path("gen")) and gen["dependencies"] == []
    assert gen["execution_time_ms"] >= 0 and gen["trace_index"]
    assert query(record, ".index_file") == [str(record.index_path)]


@pytest.mark.parametrize(
    ("jq_filter", "message"),
    [
        (".tasks[", r"^filter: invalid jq filter '\.tasks\[': jq: error: syntax error"),
        (".status | keys", r"^filter: jq filter '\.status \| keys' failed on dispatch '.*': string .* has no keys"),
    ],
)
def test_bad_filters_are_input_errors_with_jqs_message(record, jq_filter, message):
    with pytest.raises(InvalidInput, match=message):
        query(record, jq_filter)


def test_cli_traces_list_and_query(record, trace_dir, capsys):
    code, listed, _ = run_cli(capsys, "traces", "list", "--trace-dir", str(trace_dir))
    assert code == 0 and [row["dispatch_id"] for row in listed] == [record.dispatch_id]
    assert listed[0]["counts"] == {"success": 2, "error": 1, "skipped": 1}
    code, found, _ = run_cli(capsys, "traces", "query", "latest", '.tasks[] | select(.status=="error") | .task_id',
                             "--trace-dir", str(trace_dir))
    assert code == 0 and found == ["broken"]


def test_cli_traces_errors_exit_2_with_a_structured_error(record, trace_dir, capsys):
    code, doc, err = run_cli(capsys, "traces", "query", "nope", ".", "--trace-dir", str(trace_dir))
    assert code == 2 and doc["status"] == "invalid" and "no dispatch 'nope'" in doc["errors"][0]["message"]
    assert "dispatch-runner: invalid input: ref: no dispatch 'nope'" in err
    code, doc, _ = run_cli(capsys, "traces", "query", "latest", "][", "--trace-dir", str(trace_dir))
    assert code == 2 and doc["errors"][0]["field"] == "filter"


def test_cli_traces_list_on_an_empty_folder_is_an_empty_list(tmp_path, capsys):
    code, listed, _ = run_cli(capsys, "traces", "list", "--trace-dir", str(tmp_path))
    assert code == 0 and listed == []
