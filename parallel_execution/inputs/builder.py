"""``TaskBuilder``: build task lists in Python instead of writing JSON by hand.

::

    builder = TaskBuilder()
    gen = builder.create_coder_task(task_id="gen-1", description="Generate Effect node",
                                    contract_description="Database writer", node_type="Effect",
                                    output_path="generated/node_db_writer_effect.py")
    fix = builder.create_debug_task(task_id="debug-1", description="Analyse", problem_description="...",
                                    affected_files=["app/"], dependencies=["gen-1"])
    result = dispatch(builder.build(config={"max_workers": 4}))

Each ``create_*`` returns a validated ``Task`` (bad ids or fields raise pydantic's ValidationError at
once) and remembers it in ``builder.tasks``; agent-specific fields are checked when the tasks are
validated as a whole (``dispatch-runner validate`` / ``build_plan``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parallel_execution.inputs.refs import REF_KEY
from parallel_execution.inputs.schema import DispatchConfig, DispatchInput, Task

__all__ = ["TaskBuilder", "ref"]


def ref(task_id: str, select: str = ".") -> dict[str, str]:
    """A ``$from`` reference to (part of) a dependency's output, for use inside ``input_data``."""
    return {REF_KEY: task_id, "select": select}


class TaskBuilder:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def create_task(
        self,
        task_id: str,
        agent: str,
        description: str = "",
        input_data: Mapping[str, Any] | None = None,
        dependencies: Sequence[str] = (),
        **options: Any,
    ) -> Task:
        """Any agent's task; ``options`` are Task fields (timeout_seconds, retries, writes, ...)."""
        task = Task(task_id=task_id, agent=agent, description=description, input_data=dict(input_data or {}),
                    dependencies=list(dependencies), **options)
        self.tasks.append(task)
        return task

    def create_coder_task(
        self,
        task_id: str,
        description: str,
        contract_description: str | dict[str, str],
        node_type: str,
        output_path: str,
        context_files: Sequence[str] = (),
        validation_level: str = "moderate",
        dependencies: Sequence[str] = (),
        **input_fields: Any,
    ) -> Task:
        """A ``coder`` task; extra keyword arguments go into input_data (node_name, overwrite, backend)."""
        input_data = {"contract_description": contract_description, "node_type": node_type,
                      "output_path": output_path, "context_files": list(context_files),
                      "validation_level": validation_level, **input_fields}
        return self.create_task(task_id, "coder", description, input_data, dependencies)

    def create_debug_task(
        self,
        task_id: str,
        description: str,
        problem_description: str,
        affected_files: Sequence[str],
        error_traces: Sequence[str] = (),
        analysis_depth: str = "standard",
        hypothesis: str = "",
        dependencies: Sequence[str] = (),
        **input_fields: Any,
    ) -> Task:
        """A ``debug`` task; extra keyword arguments go into input_data (backend)."""
        input_data = {"problem_description": problem_description, "affected_files": list(affected_files),
                      "error_traces": list(error_traces), "analysis_depth": analysis_depth,
                      "hypothesis": hypothesis, **input_fields}
        return self.create_task(task_id, "debug", description, input_data, dependencies)

    def build(self, config: DispatchConfig | Mapping[str, Any] | None = None, user_prompt: str | None = None) -> DispatchInput:
        conf = config if isinstance(config, DispatchConfig) else DispatchConfig.model_validate(config or {})
        return DispatchInput(tasks=list(self.tasks), config=conf, user_prompt=user_prompt)
