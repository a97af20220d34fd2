"""The public Python API: names, the quick start's programmatic flow, and use inside a running loop."""

from __future__ import annotations

import asyncio

import pytest
from conftest import config

import parallel_execution
from parallel_execution import (
    DispatchInput,
    InvalidInput,
    ParallelDispatcher,
    TaskBuilder,
    adispatch,
    dispatch,
    ref,
)

PUBLIC = {
    "AgentCallsFailed", "CycleError", "DispatchConfig", "DispatchError", "DispatchInput", "DispatchResult",
    "InvalidInput", "ParallelDispatcher", "Task", "TaskBuilder", "TaskFailure", "TaskResult",
    "acall_agents_parallel", "adispatch", "call_agents_parallel", "detect_circular_dependencies", "dispatch",
    "ref", "register_agent", "validate_task_dependencies",
}


def test_public_names_are_exactly_the_documented_ones():
    assert set(parallel_execution.__all__) == PUBLIC
    assert all(hasattr(parallel_execution, name) for name in PUBLIC)


def test_quick_start_programmatic_execution(trace_dir):
    input_data = {"tasks": [{"task_id": "test-1", "agent": "echo", "description": "Test task",
                             "input_data": {"message": "hi"}, "dependencies": []}],
                  "config": config(trace_dir)}

    async def run_dispatch():
        dispatch_input = DispatchInput.model_validate(input_data)
        dispatcher = ParallelDispatcher(dispatch_input.config)
        return await dispatcher.dispatch(dispatch_input.tasks)

    result = asyncio.run(run_dispatch())
    assert result.status == "success" and result.results[0].output == {"message": "hi"}
    assert '"status":"success"' in result.model_dump_json()


def test_task_builder_and_refs(trace_dir):
    builder = TaskBuilder()
    builder.create_task("a", "echo", input_data={"message": {"n": 2}})
    builder.create_task("b", "echo", input_data={"message": ref("a", ".message.n * 10")}, dependencies=["a"])
    result = dispatch(builder.build(config=config(trace_dir)))
    assert result.results[1].output == {"message": 20}


def test_dispatch_works_from_inside_a_running_event_loop(trace_dir):
    async def notebook_cell():
        return dispatch([{"task_id": "x", "agent": "echo", "input_data": {"delay_seconds": 0.01}}], config(trace_dir))

    assert asyncio.run(notebook_cell()).status == "success"


def test_invalid_input_raises_before_running(trace_dir):
    with pytest.raises(InvalidInput, match="unknown dependency 'ghost'"):
        asyncio.run(adispatch([{"task_id": "x", "agent": "echo", "dependencies": ["ghost"]}], config(trace_dir)))
    assert not trace_dir.exists()
