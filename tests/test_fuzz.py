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


# -- issue 13's hostile shapes: filters, numbers JSON output cannot hold, paths, near misses ------------

hostile_filters = st.sampled_from([
    ".", ".message", "[.message[]?]", "last(range(1e12))", "[range(1e9)]", "1e20", "1e999", "[.[] | 1e30]",
    "$ENV.ANTHROPIC_API_KEY | ascii_downcase", 'import "x" as $c {search: "/"}; $c', 'include "x"; .',
    "input", "[inputs]", "input_filename", "$__loc__", "env", '"\\(env)"', "{a: env}", "debug", "halt_error",
    "# c \\\nenv", '"env"', ".env", "{env: 1}", ".a |", "", "def f: f; f", 'error("x")', "limit(3; repeat(1))",
]) | st.text(max_size=12)
ref_values = st.fixed_dictionaries({"$from": st.sampled_from(["a", "b", "c", "zz"]) | json_scalars},
                                   optional={"select": hostile_filters | json_scalars, "extra": json_scalars})
near_misses = st.dictionaries(st.sampled_from(["$form", "$From", " $from", "from$", "$ref", "$frm"]),
                              st.sampled_from(["a", "b", 1]), min_size=1, max_size=2)
# Numbers as raw JSON text (no JSON library writes them): beyond 64 bits, infinities, huge floats.
NUMBER_MARK = "@@NUMBER@@"
raw_numbers = st.sampled_from(["1" + "0" * 25, "-" + "9" * 30, "1e999", "-1e999", "1e308", "1" + "0" * 5000,
                               "18446744073709551616", "-9223372036854775809", "1e-400"])
hostile_inputs = st.fixed_dictionaries({}, optional={
    "message": ref_values | near_misses | st.just(NUMBER_MARK) | st.lists(ref_values | st.just(NUMBER_MARK), max_size=3),
    "delay_seconds": st.sampled_from([0, NUMBER_MARK, 0.001]),
})
hostile_tasks = st.fixed_dictionaries(
    {"task_id": st.sampled_from(["a", "b", "c", "d"]), "agent": st.sampled_from(["echo", "echo", "nope"])},
    optional={
        "dependencies": st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3, unique=True),
        "input_data": hostile_inputs,
        "timeout_seconds": st.sampled_from([1, 2, NUMBER_MARK, None]),
        "writes": st.lists(st.sampled_from(["out.txt", "~nosuchuser/x", "~/x", "a\u0000b", "d", "d/f"]), max_size=2),
        "reads": st.lists(st.sampled_from(["out.txt", "d", "~nosuchuser"]), max_size=2),
    },
)
hostile_documents = st.fixed_dictionaries(
    {"tasks": st.lists(hostile_tasks, max_size=4)},
    optional={"config": st.fixed_dictionaries({}, optional={
        "retry_backoff_seconds": st.sampled_from([0, 0.001, 1e308, NUMBER_MARK]),
        "trace_dir": st.sampled_from(["t\u0000x", "~nosuchuser/t"]),
        "workspace": st.sampled_from(["~nosuchuser", "a\u0000b"]),
        "max_workers": st.sampled_from([1, NUMBER_MARK]), "retries": st.sampled_from([0, 1]),
    })},
)


def hostile_bytes(document, number: str) -> bytes:
    return json.dumps(document).replace(f'"{NUMBER_MARK}"', number).encode()


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


@settings(max_examples=500, deadline=None)
@given(hostile_documents, raw_numbers)
def test_hostile_shapes_are_rejected_cleanly_or_planned(document, number):
    check(hostile_bytes(document, number))


@pytest.mark.slow  # a runner process per case, some with filters that run into their timeout
@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_documents, raw_numbers)
def test_hostile_shapes_through_the_cli_end_in_one_json_document(tmp_path_factory, document, number):
    workdir = tmp_path_factory.mktemp("hostile")
    (workdir / "tasks.json").write_bytes(hostile_bytes(document, number))
    started = time.monotonic()
    proc = subprocess.run([*RUNNER, str(workdir / "tasks.json"), "--trace-dir", str(workdir / "traces"),
                           "--timeout", "2", "--quiet"], capture_output=True, env=runner_env(), cwd=workdir, timeout=90)
    assert time.monotonic() - started < 60
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()[-2000:]
    result = json.loads(proc.stdout)  # exactly one JSON document
    assert proc.returncode in (0, 1, 2)
    if proc.returncode == 2:
        assert result["status"] == "invalid" and not (workdir / "traces").exists()
    else:
        assert result["status"] in ("success", "failure") and Path(result["trace_index"]).exists()
        assert all(r["status"] != "running" for r in json.loads(Path(result["trace_index"]).read_text())["tasks"])


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
        b'{"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": 100000000000000000000}}]}',
        b'{"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": 1e999}}]}',
        b'{"tasks": [], "config": {"retry_backoff_seconds": 1e308}}',
        b'{"tasks": [], "config": {"trace_dir": "t\\u0000x"}}',
        b'{"tasks": [{"task_id": "a", "agent": "echo", "writes": ["~nosuchuser/x"]}]}',
        b'{"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}]}",
    ],
    ids=["deep-nesting", "huge-id", "unicode-id", "huge-number", "bom", "int-beyond-64-bits", "infinity",
         "huge-backoff", "nul-trace-dir", "unknown-user", "deep-input-data"],
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
