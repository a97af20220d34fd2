"""Code generation backends: one ``async (request, ctx) -> source`` function per backend name.

The agent calls :func:`generate` and then runs the *same* validation and writing for every
backend, so a backend only has to produce source text. ``scaffold`` is deterministic and offline.
``claude`` has a headless Claude Code session (``agents/coder.md`` as system prompt) write the
file into a staging copy, with the project's conventions from the context files in its prompt
(omnibase mode has its own flow, :mod:`.omnibase.flow`, where the session writes the handler); the
code is checked with :func:`~.validator.validate_source` at the
task's level, failed checks go back into the same session for ``repair_attempts`` rounds, and only
code that passed returns here - to be validated and written by the agent like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.coder.report import Level
from parallel_execution.agents.coder.scaffold import render_source
from parallel_execution.agents.coder.spec import NodeSpec
from parallel_execution.analysis.interpreter import ProjectInterpreter

__all__ = ["BACKENDS", "DETERMINISTIC_BACKENDS", "BackendName", "GenerationRequest", "generate"]

BackendName = Literal["scaffold", "claude"]


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a backend gets: the node spec plus where the code goes and how it will be checked."""

    spec: NodeSpec
    backend: BackendName
    output_path: str  # absolute, inside the workspace
    validation_level: Level
    repair_attempts: int = 1  # model backends: rounds of feeding failed checks back
    model: str | None = None  # model backends: which model (None: the CLI's default)
    interpreter: ProjectInterpreter | None = None  # the project's: imports are judged there


Backend = Callable[[GenerationRequest, TaskContext], Awaitable[str]]


async def _scaffold(request: GenerationRequest, ctx: TaskContext) -> str:
    return render_source(request.spec)


async def _claude(request: GenerationRequest, ctx: TaskContext) -> str:
    # Imported here: the claude package is only needed (and only loaded) for model-backed tasks.
    from parallel_execution.agents.coder.omnibase.prompt import standalone_instructions
    from parallel_execution.agents.coder.validator import validate_source
    from parallel_execution.claude_code.backends import generate_code

    spec = request.spec

    async def check(code: str) -> tuple[bool, list[dict[str, Any]]]:
        report = await validate_source(code, spec.node_type, request.validation_level, node_name=spec.names.snake,
                                       path=request.output_path, import_roots=[ctx.workspace.root],
                                       interpreter=request.interpreter)
        return report.passed, [c.model_dump() for c in report.checks]

    result = await generate_code(
        ctx, contract=spec.contract, node_type=spec.node_type, output_path=request.output_path,
        context_files=[str(f.path) for f in spec.context_files], validate=check,
        repair_attempts=request.repair_attempts, node_name=spec.names.snake,
        validation_level=request.validation_level, model=request.model,
        overwrite=True,  # the agent has already refused an existing file unless overwrite is set
        write_output=False, instructions=standalone_instructions(spec.context_files))
    ctx.event("coder.claude", **{k: result.get(k) for k in ("session_id", "num_turns", "total_cost_usd")})
    return str(result["source"])


BACKENDS: dict[str, Backend] = {"scaffold": _scaffold, "claude": _claude}
# Backends whose output depends only on the request: retrying a rejected result cannot help.
DETERMINISTIC_BACKENDS = frozenset({"scaffold"})


async def generate(request: GenerationRequest, ctx: TaskContext) -> str:
    """The source text for ``request`` from its backend."""
    return await BACKENDS[request.backend](request, ctx)
