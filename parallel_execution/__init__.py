"""parallel_execution: run a graph of agent tasks in parallel, with traces and one JSON result.

    from parallel_execution import dispatch, TaskBuilder
    result = dispatch({"tasks": [...], "config": {"max_workers": 5}})

See README.md for the task format and DESIGN.md for how it works.
"""

from parallel_execution._moved import install_aliases
from parallel_execution.agents.registry import register_agent
from parallel_execution.dispatcher import ParallelDispatcher, adispatch, dispatch
from parallel_execution.errors import CycleError, DispatchError, InvalidInput, TaskFailure
from parallel_execution.graph.checks import detect_circular_dependencies, validate_task_dependencies
from parallel_execution.inprocess import AgentCallsFailed, acall_agents_parallel, call_agents_parallel
from parallel_execution.inputs.builder import TaskBuilder, ref
from parallel_execution.inputs.schema import DispatchConfig, DispatchInput, DispatchResult, Task, TaskResult

install_aliases()  # old flat import paths keep working for one release

__version__ = "0.1.0"

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
