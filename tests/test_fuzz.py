"""Hostile input: every case ends as exit 2 with a structured error, or a valid run. Never a traceback,
never a hang, never a file written for invalid input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import RUNNER, runner_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parallel_execution.commands import cli
from parallel_execution.errors import InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)

weird_ids = st.text(min_size=0, max_size=140) | st.sampled_from(["a", "b", "c", "../x", "a b", "ü", "x" * 200])
task_shaped = st.fixed_dictionaries(
    {"task_id": weird_ids, "agent": st.sampled_from(["echo", "probe", "nope", "", 5]) | st.text(max_size=8)},
    optional={
        "dependencies": st.lists(st.sampled_from(["a", "b", "c", "d"]) | json_scalars, max_size=3) | json_scalars,
        "input_data": st.fixed_dictionaries({}, optional={
            "message": json_values, "delay_seconds": st.sampled_from([0, -1, "x", None, 0.001]),
            "typo": json_scalars, "fail_on_attempts": st.lists(st.integers(0, 3), max_size=2),
        }) | json_values,
        "timeout_seconds": st.sampled_from([0, -1, 1, None, "x", 1e308]),
        "retries": st.sampled_from([0, 1, -1, 1000, "x"]),
        "writes": st.lists(st.sampled_from(["out.txt", "../out", "/etc/x", ""]), max_size=2),
        "extra_field": json_scalars,
    },
)
documents = st.fixed_dictionaries(
    {"tasks": st.lists(task_shaped, max_size=6) | json_values},
    optional={"config": st.fixed_dictionaries({}, optional={
        "max_workers": st.sampled_from([0, 1, 4, -3, "x", 10**9]), "timeout_seconds": st.sampled_from([1, 0, None]),
        "fail_fast": json_scalars, "retry_backoff_seconds": st.sampled_from([0, 0.001]),
    }) | json_values, "user_prompt": json_scalars},
)


def check(raw: bytes) -> None:
    try:
        build_plan(parse_input(raw))
    except InvalidInput as exc:
        payload = exc.to_json()
        assert payload["status"] == "invalid" and payload["errors"]
        for error in payload["errors"]:
            assert set(error) <= {"task_id", "field", "message", "cycle"} and error["message"]
        orjson.dumps(payload)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_arbitrary_json_is_rejected_cleanly(value):
    check(orjson.dumps(value))


@settings(max_examples=400, deadline=None)
@given(documents)
def test_schema_shaped_garbage_is_rejected_cleanly_or_planned(document):
    check(orjson.dumps(document))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_rejected_cleanly(raw):
    check(raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_the_cli_ends_with_exit_2_and_no_files_or_a_real_run(tmp_path_factory, document):
    workdir = tmp_path_factory.mktemp("fuzz")
    stdout = io.BytesIO()
    argv = [str(_write(workdir, document)), "--trace-dir", str(workdir / "traces"), "--timeout", "2", "--quiet"]
    real_stdout, wrapper = sys.stdout, io.TextIOWrapper(stdout)
    sys.stdout = wrapper
    try:
        started = time.monotonic()
        code = cli.main(argv)
        wrapper.flush()
    finally:
        sys.stdout = real_stdout
        wrapper.detach()  # keep the buffer open for reading
    assert time.monotonic() - started < 30
    result = orjson.loads(stdout.getvalue())  # exactly one JSON document
    assert code in (0, 1, 2)
    if code == 2:
        assert result["status"] == "invalid"
        assert not (workdir / "traces").exists()
    else:
        assert result["status"] in ("success", "failure")
        assert Path(result["trace_index"]).exists()


def _write(folder: Path, document) -> Path:
    path = folder / "tasks.json"
    path.write_bytes(orjson.dumps(document))
    return path


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        b'{"tasks": [{"task_id": "' + b"x" * 1_000_000 + b'", "agent": "echo"}]}',  # a huge id
        '{"tasks": [{"task_id": "\u00e9\U0001f600", "agent": "echo"}]}'.encode(),  # unicode id
        b'{"tasks": [], "config": {"max_workers": 1e400}}',
        b"\xef\xbb\xbf{}",  # a byte-order mark
    ],
    ids=["deep-nesting", "huge-id", "unicode-id", "huge-number", "bom"],
)
def test_pathological_documents_exit_2_quickly(payload, tmp_path):
    started = time.monotonic()
    proc = subprocess.run([*RUNNER, "--trace-dir", str(tmp_path / "t")], input=payload, capture_output=True,
                          env=runner_env(), timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2, proc.stdout[:500]
    assert json.loads(proc.stdout)["status"] == "invalid"
    assert b"Traceback" not in proc.stderr
    assert not (tmp_path / "t").exists()


def test_empty_task_list_is_a_valid_empty_run(tmp_path):
    proc = subprocess.run([*RUNNER, "--trace-dir", str(tmp_path / "t")], input=b'{"tasks": []}',
                          capture_output=True, env=runner_env(), timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["summary"]["total_tasks"] == 0
