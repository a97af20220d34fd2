"""parallel_execution: run a graph of agent tasks in parallel, with traces and one JSON result.

    from parallel_execution import dispatch, TaskBuilder
    result = dispatch({"tasks": [...], "config": {"max_workers": 5}})

See README.md for the task format and DESIGN.md for how it works.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from parallel_execution._moved import install_aliases

if TYPE_CHECKING:
    from parallel_execution.agents.registry import register_agent
    from parallel_execution.dispatcher import ParallelDispatcher, adispatch, dispatch
    from parallel_execution.errors import CycleError, DispatchError, InvalidInput, TaskFailure
    from parallel_execution.graph.checks import detect_circular_dependencies, validate_task_dependencies
    from parallel_execution.inprocess import AgentCallsFailed, acall_agents_parallel, call_agents_parallel
    from parallel_execution.inputs.builder import TaskBuilder, ref
    from parallel_execution.inputs.schema import DispatchConfig, DispatchInput, DispatchResult, Task, TaskResult

install_aliases()  # old flat import paths keep working for one release

__version__ = "0.1.0"

# The public names load on first use (PEP 562), so `import parallel_execution` is cheap: the CLI's
# launcher can install its Ctrl-C handling before the heavy imports start.
_HOME = {
    "register_agent": "agents.registry",
    **dict.fromkeys(("ParallelDispatcher", "adispatch", "dispatch"), "dispatcher"),
    **dict.fromkeys(("CycleError", "DispatchError", "InvalidInput", "TaskFailure"), "errors"),
    **dict.fromkeys(("detect_circular_dependencies", "validate_task_dependencies"), "graph.checks"),
    **dict.fromkeys(("AgentCallsFailed", "acall_agents_parallel", "call_agents_parallel"), "inprocess"),
    **dict.fromkeys(("TaskBuilder", "ref"), "inputs.builder"),
    **dict.fromkeys(("DispatchConfig", "DispatchInput", "DispatchResult", "Task", "TaskResult"), "inputs.schema"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'parallel_execution' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"parallel_execution.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


__all__ = [
    "AgentCallsFailed",
    "CycleError",
    "DispatchConfig",
    "DispatchError",
    "DispatchInput",
    "DispatchResult",
    "InvalidInput",
    "ParallelDispatcher",
    "Task",
    "TaskBuilder",
    "TaskFailure",
    "TaskResult",
    "acall_agents_parallel",
    "adispatch",
    "call_agents_parallel",
    "detect_circular_dependencies",
    "dispatch",
    "ref",
    "register_agent",
    "validate_task_dependencies",
]
