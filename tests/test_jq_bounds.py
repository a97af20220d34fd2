"""Hostile ``$from`` and ``traces query`` filters (issue 13, items 1-3): bounded in time and memory,
off the event loop, unable to reach the environment or the file system, 64-bit-safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RUNNER, config, runner_env

from parallel_execution import dispatch
from parallel_execution.errors import InvalidInput
from parallel_execution.inputs import jqrun
from parallel_execution.inputs.jqpolicy import is_plain_path, refusals
from parallel_execution.inputs.validate import build_plan, parse_input


def _ref_tasks(select: str, timeout: float = 30) -> list[dict]:
    return [
        {"task_id": "a", "agent": "echo", "input_data": {"message": {"n": 1, "items": [1, 2, 3]}}},
        {"task_id": "b", "agent": "echo", "dependencies": ["a"], "timeout_seconds": timeout,
         "input_data": {"message": {"$from": "a", "select": select}}},
        {"task_id": "c", "agent": "echo", "dependencies": ["a"], "input_data": {"delay_seconds": 0.3, "message": "c"}},
    ]


def test_an_endless_filter_fails_its_task_at_the_timeout_and_the_rest_runs(trace_dir):
    started = time.monotonic()
    result = dispatch(_ref_tasks("last(range(1e12))", timeout=1.5), config(trace_dir))
    elapsed = time.monotonic() - started
    by_id = {r.task_id: r for r in result.results}
    assert by_id["b"].status == "error" and "timeout" in by_id["b"].error
    assert by_id["c"].status == "success" and by_id["a"].status == "success"
    assert elapsed < 20


def test_a_filter_that_grows_without_bound_hits_the_memory_limit(trace_dir, monkeypatch):
    monkeypatch.setattr(jqrun, "MEMORY_LIMIT_BYTES", 200 * 2**20)
    started = time.monotonic()
    result = dispatch(_ref_tasks("[range(1e9)]"), config(trace_dir))
    by_id = {r.task_id: r for r in result.results}
    assert by_id["b"].status == "error" and "memory" in by_id["b"].error, by_id["b"].error
    assert by_id["c"].status == "success"
    assert time.monotonic() - started < 60


def test_cancelling_an_awaited_filter_kills_its_worker():
    import asyncio

    async def main() -> None:
        task = asyncio.ensure_future(jqrun.arun("last(range(1e12))", 1, None))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 10
    children = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "_jqworker"], capture_output=True, text=True)
    assert children.stdout.strip() == ""


@pytest.mark.parametrize(("select", "expected"), [
    (".message.n", 1), ("[.message.items[] | . * 2]", [2, 4, 6]), (".message.items | length", 3), ("1e20", 1e20),
    ("[.message.items[], 1e30]", [1, 2, 3, 1e30]), (".missing", None),
])
def test_filters_still_select(trace_dir, select, expected):
    result = dispatch(_ref_tasks(select), config(trace_dir))
    (b,) = [r for r in result.results if r.task_id == "b"]
    assert b.status == "success", b.error
    assert b.output == {"message": expected}
    index = json.loads(Path(result.trace_index).read_text())
    assert {t["task_id"]: t["status"] for t in index["tasks"]}["b"] == "success"


def test_plain_paths_run_in_process_quickly():
    for text in (".", ".a.b", '.["x"][0]', "[.items[].id]", ".a | .b[]?", ".[2:4]"):
        assert is_plain_path(text), text
    for text in ("..", ".a, .b", "range(3)", "[.[] | env]", ".a | length", '"\\(.a)"'):
        assert not is_plain_path(text), text
    started = time.perf_counter()
    for _ in range(200):
        assert jqrun.run(".a.b", {"a": {"b": 1}}) == [1]
    assert time.perf_counter() - started < 2  # no worker process per call


@pytest.mark.parametrize("select", [
    "$ENV.ANTHROPIC_API_KEY | ascii_downcase", "env.HOME", 'import "creds" as $c {search: "/"}; $c',
    'include "x"; .', "input", "[inputs]", "input_filename", "$__loc__", "debug", 'halt_error("x")',
    '"\\(env.HOME)"', "{a: env}", "[.[] | $ENV]", "# comment \\\\\nenv", "get_search_list",
])
def test_filters_reaching_beyond_their_input_are_input_errors(select, tmp_path):
    document = {"tasks": _ref_tasks(select), "config": {"trace_dir": str(tmp_path / "t")}}
    with pytest.raises(InvalidInput) as caught:
        build_plan(parse_input(document))
    (issue,) = caught.value.issues
    assert issue.task_id == "b" and issue.field == "input_data.message"
    assert "not allowed" in issue.message or "refused" in issue.message, issue.message


@pytest.mark.parametrize("select", ['"env"', ".env", "{env: 1}", '"input \\(.n) $ENV"', "# env\n.", ".inputs"])
def test_the_same_words_as_strings_fields_keys_or_comments_are_fine(select):
    assert refusals(select) == []


def test_a_string_cannot_hide_a_directive_from_the_guard():
    # Even if the tokenizer were fooled, the guarded program binds $ENV to {} and shadows env.
    assert jqrun.run("[$ENV | length, (try env catch \"refused\")]", None) == [[0, "refused"]]


def test_traces_query_is_bounded_and_numbers_beyond_64_bits_survive(trace_dir, capsys):
    from parallel_execution.commands import cli

    dispatch([{"task_id": "a", "agent": "echo"}], config(trace_dir))
    assert cli.main(["traces", "query", "--trace-dir", str(trace_dir), "latest", "1e30"]) == 0
    assert json.loads(capsys.readouterr().out) == [1e30]
    started = time.monotonic()
    code = cli.main(["traces", "query", "--trace-dir", str(trace_dir), "--timeout", "1", "latest", "last(range(1e12))"])
    assert code == 2 and "timeout" in json.loads(capsys.readouterr().out)["errors"][0]["message"]
    assert time.monotonic() - started < 15
    assert cli.main(["traces", "query", "--trace-dir", str(trace_dir), "latest", "$ENV"]) == 2


def test_ctrl_c_stops_traces_query(trace_dir):
    dispatch([{"task_id": "a", "agent": "echo"}], config(trace_dir))
    proc = subprocess.Popen([*RUNNER, "traces", "query", "--trace-dir", str(trace_dir), "latest", "last(range(1e12))"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=runner_env())
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("traces query ignored SIGINT")
    assert proc.returncode == 130 and b"Traceback" not in stderr


def test_integers_beyond_64_bits_in_the_input_are_input_errors(tmp_path):
    payload = b'{"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": 100000000000000000000}}]}'
    proc = subprocess.run([*RUNNER, "--trace-dir", str(tmp_path / "t")], input=payload, capture_output=True,
                          env=runner_env(), timeout=60)
    assert proc.returncode == 2, proc.stdout[:300]
    (error,) = json.loads(proc.stdout)["errors"]
    assert error["task_id"] == "a" and error["field"] == "input_data.message"
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("number", [b"1e999", b"-1e999"])
def test_infinite_numbers_are_input_errors(number, tmp_path):
    for payload in (b'{"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": [' + number + b"]}}]}",
                    b'{"tasks": [{"task_id": "a", "agent": "echo", "timeout_seconds": ' + number + b"}]}"):
        proc = subprocess.run([sys.executable, "-m", "parallel_execution", "--trace-dir", str(tmp_path / "t")],
                              input=payload, capture_output=True, env=runner_env(), timeout=60)
        assert proc.returncode == 2, proc.stdout[:300]
        assert json.loads(proc.stdout)["errors"][0]["task_id"] == "a"


@pytest.mark.parametrize("key", ["$form", "$From", "$frm", " $from", "from$", "$fromm"])
def test_a_near_miss_of_from_is_an_input_error(key, tmp_path):
    document = {"tasks": [{"task_id": "a", "agent": "echo"},
                          {"task_id": "b", "agent": "echo", "dependencies": ["a"],
                           "input_data": {"message": {"x": {key: "a"}}}}]}
    with pytest.raises(InvalidInput) as caught:
        build_plan(parse_input(document))
    (issue,) = caught.value.issues
    assert issue.task_id == "b" and "did you mean '$from'" in issue.message and "message.x" in issue.message


@pytest.mark.parametrize("key", ["$ref", "$schema", "$id", "from", "price$"])
def test_other_dollar_keys_are_plain_data(key):
    build_plan(parse_input({"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": {key: 1}}}]}))
