"""call_agents_parallel / acall_agents_parallel: order, parallelism, failures, running inside a loop."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from parallel_execution.errors import DispatchError, InvalidInput
from parallel_execution.inprocess import AgentCallsFailed, acall_agents_parallel, call_agents_parallel


def echo(message: Any, delay: float = 0.0, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("echo", {"message": message, "delay_seconds": delay, **extra})


def run_with_deadline(fn: Any, seconds: float = 20.0) -> Any:
    """Run ``fn`` on a thread so that a deadlock fails the test instead of hanging the suite."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "deadlocked"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_outputs_come_back_in_the_order_given_not_the_order_finished(tmp_path: Path):
    # The first call finishes last and the last first.
    calls = [echo(i, delay=delay) for i, delay in enumerate([0.3, 0.2, 0.1, 0.0])]
    assert call_agents_parallel(calls, trace_dir=str(tmp_path)) == [{"message": i} for i in range(4)]


@pytest.mark.parametrize(("max_workers", "low", "high"), [(4, 0.35, 0.95), (1, 1.4, 10.0)])
def test_max_workers_bounds_concurrency(max_workers: int, low: float, high: float, tmp_path: Path):
    started = time.perf_counter()
    call_agents_parallel([echo(i, delay=0.35) for i in range(4)], max_workers=max_workers, trace_dir=str(tmp_path))
    assert low <= time.perf_counter() - started < high


def test_one_exception_lists_every_failed_call_with_index_and_error(tmp_path: Path):
    calls = [echo("ok"), echo("bad", fail_on_attempts=[1]), echo("ok too"), echo("slow", delay=5)]
    with pytest.raises(AgentCallsFailed) as caught:
        call_agents_parallel(calls, timeout_seconds=0.3, trace_dir=str(tmp_path))
    exc = caught.value
    assert exc.failures == [(1, "echo", "echo failed on purpose on attempt 1"),
                            (3, "echo", "timeout: no result after 0.3 s")]
    assert str(exc) == ("2 of 4 agent calls failed: [1] echo: echo failed on purpose on attempt 1; "
                        "[3] echo: timeout: no result after 0.3 s")
    assert isinstance(exc, DispatchError)
    # Every call ran to its end; the successful outputs are still available.
    assert exc.outputs == [{"message": "ok"}, None, {"message": "ok too"}, None]
    index = orjson.loads(Path(exc.result.trace_index).read_bytes())
    assert [t["task_id"] for t in index["tasks"]] == ["call-0", "call-1", "call-2", "call-3"]


def test_retries_from_config_apply_to_each_call(tmp_path: Path):
    outputs = call_agents_parallel([echo("flaky", fail_on_attempts=[1])], retries=1, retry_backoff_seconds=0,
                                   trace_dir=str(tmp_path))
    assert outputs == [{"message": "flaky"}]


def test_sync_call_from_inside_a_running_event_loop_does_not_deadlock(tmp_path: Path):
    async def notebook_cell() -> list[Any]:
        # What a Jupyter cell does: a blocking call on the thread that runs the loop.
        loop_thread = threading.get_ident()
        outputs = call_agents_parallel([echo("a", delay=0.05), echo("b")], trace_dir=str(tmp_path))
        assert threading.get_ident() == loop_thread
        return outputs

    assert run_with_deadline(lambda: asyncio.run(notebook_cell())) == [{"message": "a"}, {"message": "b"}]


def test_failures_raise_from_inside_a_running_event_loop_too(tmp_path: Path):
    async def cell() -> None:
        call_agents_parallel([echo("x", fail_on_attempts=[1])], trace_dir=str(tmp_path))

    with pytest.raises(AgentCallsFailed, match=r"^1 of 1 agent calls failed: \[0\] echo: echo failed on purpose"):
        run_with_deadline(lambda: asyncio.run(cell()))


def test_async_twin_runs_on_the_callers_loop_alongside_other_work(tmp_path: Path):
    async def main() -> tuple[list[Any], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        side = asyncio.create_task(ticker())
        outputs = await acall_agents_parallel([echo(1, delay=0.3), echo(2, delay=0.3)], trace_dir=str(tmp_path))
        side.cancel()
        return outputs, ticks

    outputs, ticks = asyncio.run(main())
    assert outputs == [{"message": 1}, {"message": 2}]
    assert ticks >= 5  # the caller's loop kept running while the calls did


def test_async_twin_raises_the_same_exception(tmp_path: Path):
    with pytest.raises(AgentCallsFailed) as caught:
        asyncio.run(acall_agents_parallel([echo(1), echo(2, fail_on_attempts=[1])], trace_dir=str(tmp_path)))
    assert caught.value.failures == [(1, "echo", "echo failed on purpose on attempt 1")]


@pytest.mark.parametrize(("calls", "kwargs", "message"), [
    ([("nope", {})], {}, r"task 'call-0'\.agent: unknown agent 'nope'"),
    ([echo(1), ("echo", {"mesage": 1})], {}, r"task 'call-1'\.input_data\.mesage: unknown field 'mesage' \(did you mean 'message'\?\)"),
    ([echo(1), "echo"], {}, r"task 'call-1': expected an \(agent, input_data\) pair, .* got 'echo'"),
    ([("echo", "hi")], {}, r"input_data must be an object for the 'echo' agent \(it has 0 required fields"),
    ([echo(1)], {"max_wrkers": 2}, r"max_wrkers: unknown field 'max_wrkers' \(did you mean 'max_workers'\?\)"),
    ([echo(1)], {"max_workers": 0}, r"max_workers: Input should be greater than or equal to 1"),
    ([("command", {"argv": ["true"]})], {}, r"task 'call-0'\.agent: the 'command' agent runs programs"),
    ("echo", {}, r"calls must be a list of \(agent, input_data\) pairs, not str"),
])
def test_caller_mistakes_raise_invalid_input_before_anything_runs(calls: Any, kwargs: dict[str, Any], message: str,
                                                                  tmp_path: Path):
    trace_dir = tmp_path / "traces"
    with pytest.raises(InvalidInput, match=message):
        call_agents_parallel(calls, trace_dir=str(trace_dir), **kwargs)
    assert not trace_dir.exists()  # nothing ran, nothing was written


def test_a_bare_value_fills_the_agents_single_required_field(tmp_path: Path):
    argv = [sys.executable, "-c", "print('from argv')"]
    [output] = call_agents_parallel([("command", argv)], allow_commands=True, workspace=str(tmp_path),
                                    trace_dir=str(tmp_path / "traces"))
    assert output["argv"] == argv and output["stdout_tail"] == "from argv"


def test_traces_go_to_a_fresh_private_temp_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AgentCallsFailed) as caught:
        call_agents_parallel([echo(1, fail_on_attempts=[1])])
    index = Path(caught.value.result.trace_index)
    assert index.exists() and not index.is_relative_to(tmp_path)
    assert index.parent.name.startswith("parallel-dispatch-calls-") and index.parent.stat().st_mode & 0o077 == 0
    assert list(tmp_path.iterdir()) == []  # nothing written to the current directory


def test_empty_call_list_returns_an_empty_list_without_dispatching(tmp_path: Path):
    assert call_agents_parallel([], trace_dir=str(tmp_path / "traces")) == []
    assert not (tmp_path / "traces").exists()


def test_the_original_call_forms_are_accepted(tmp_path):
    outputs = call_agents_parallel([
        {"tool": "echo", "message": "dict form"},
        {"agent": "echo", "input_data": {"message": "x"}, "kwargs": {"delay_seconds": 0.01}},
        ("echo", {"message": "triple"}, {"delay_seconds": 0.01}),
        ("echo", {"message": "pair"}),
    ], trace_dir=str(tmp_path / "t"))
    assert [o["message"] for o in outputs] == ["dict form", "x", "triple", "pair"]


def test_a_prompt_goes_to_the_agents_prompt_field():
    from parallel_execution.inprocess import _tasks

    (via_dict, via_triple) = _tasks([{"tool": "claude", "prompt": "Write a haiku", "max_turns": 2},
                                     ("claude", "Write a haiku", {"max_turns": 2})])
    assert via_dict["input_data"] == via_triple["input_data"] == {"prompt": "Write a haiku", "max_turns": 2}
    with pytest.raises(InvalidInput, match="call-0"):
        _tasks([{"prompt": "no tool"}])
    with pytest.raises(InvalidInput, match="call-0"):
        _tasks([("echo", {}, "not a mapping")])
