"""Code generation backends: one ``async (request, ctx) -> source`` function per backend name.

The agent calls :func:`generate` and then runs the *same* validation and writing for every
backend, so a backend only has to produce source text. ``scaffold`` is deterministic and offline.
``claude`` is reserved for the headless-Claude worker: until it lands it fails the task with a
non-retryable message. To plug it in, replace :func:`_claude` (it receives the full
:class:`GenerationRequest`: the spec, the context files' text and the task context for budget
and events); its code is then validated by :func:`~.validator.validate_source` like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.coder.report import Level
from parallel_execution.agents.coder.scaffold import render_source
from parallel_execution.agents.coder.spec import NodeSpec
from parallel_execution.errors import TaskFailure

__all__ = ["BACKENDS", "DETERMINISTIC_BACKENDS", "BackendName", "GenerationRequest", "generate"]

BackendName = Literal["scaffold", "claude"]


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a backend gets: the node spec plus where the code goes and how it will be checked."""

    spec: NodeSpec
    backend: BackendName
    output_path: str  # absolute, inside the workspace
    validation_level: Level


Backend = Callable[[GenerationRequest, TaskContext], Awaitable[str]]


async def _scaffold(request: GenerationRequest, ctx: TaskContext) -> str:
    return render_source(request.spec)


async def _claude(request: GenerationRequest, ctx: TaskContext) -> str:
    raise TaskFailure(
        'the coder agent\'s "claude" backend is not available yet; use "backend": "scaffold" '
        "(deterministic, offline) until the Claude worker lands",
        retryable=False,
    )


BACKENDS: dict[str, Backend] = {"scaffold": _scaffold, "claude": _claude}
# Backends whose output depends only on the request: retrying a rejected result cannot help.
DETERMINISTIC_BACKENDS = frozenset({"scaffold"})


async def generate(request: GenerationRequest, ctx: TaskContext) -> str:
    """The source text for ``request`` from its backend."""
    return await BACKENDS[request.backend](request, ctx)
