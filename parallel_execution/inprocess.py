"""The in-process API: run a list of agent calls in parallel and get their outputs back, in order.

::

    from parallel_execution.inprocess import call_agents_parallel

    users, orders = call_agents_parallel([
        ("echo", {"message": "users", "delay_seconds": 0.5}),
        ("echo", {"message": "orders", "delay_seconds": 0.5}),
    ], max_workers=2)                                   # about 0.5 s, not 1 s

Each ``(agent, input_data)`` pair becomes an independent task ``call-<index>`` of one dispatch, so
everything the runner does applies: ``input_data`` is validated against the agent's own model before
anything runs (a mistake raises ``InvalidInput`` naming ``call-<index>``), ``max_workers`` bounds
concurrency, ``timeout_seconds`` applies per call, and each call gets a trace file. When the agent's
input has exactly one required field, ``input_data`` may be that field's value instead of a dict
(``("claude", "Write a haiku")``, ``("command", ["git", "status"])``).

The original API's call forms are accepted too: ``{"tool": "claude", "prompt": "...", **fields}`` (or
``"agent"``; further keys, and a ``"kwargs"`` mapping, are input fields) and ``(tool, prompt, kwargs)``.
A prompt goes to the agent's ``prompt`` field if it has one, else to its single required field.

Results come back as a plain list of outputs in the order given. If any call does not succeed,
``AgentCallsFailed`` is raised after all of them have ended; it lists every failure with its index,
agent and error, and carries the whole ``DispatchResult`` (successful outputs included).

``call_agents_parallel`` is synchronous and safe to call from a thread that already runs an event
loop (a Jupyter cell, an async framework's callback): it then runs its own loop on a fresh thread
instead of deadlocking the caller's. In async code prefer ``await acall_agents_parallel(...)``,
which runs on the caller's loop. Traces go to a new private temporary folder unless ``trace_dir`` is
given; it is kept (outputs such as a command's log files point into it) and named by
``result.trace_index``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from parallel_execution.agents.registry import UnknownAgent, load_agent
from parallel_execution.dispatcher import adispatch, run_sync
from parallel_execution.errors import DispatchError, InputIssue, InvalidInput
from parallel_execution.inputs.issues import pydantic_issues
from parallel_execution.inputs.schema import DispatchConfig, DispatchResult

__all__ = ["AgentCall", "AgentCallsFailed", "acall_agents_parallel", "call_agents_parallel"]

AgentCall = tuple[str, Any]
DEFAULT_TIMEOUT_SECONDS = 300.0


class AgentCallsFailed(DispatchError):
    """Some calls did not succeed. ``failures`` holds ``(index, agent, error)`` for each of them."""

    def __init__(self, failures: list[tuple[int, str, str]], result: DispatchResult) -> None:
        self.failures = failures
        self.result = result
        lines = "; ".join(f"[{index}] {agent}: {error}" for index, agent, error in failures)
        super().__init__(f"{len(failures)} of {len(result.results)} agent calls failed: {lines}")

    @property
    def outputs(self) -> list[Any]:
        """Every call's output in order (``None`` where a call produced none)."""
        return [r.output for r in self.result.results]


def call_agents_parallel(
    calls: Sequence[AgentCall],
    max_workers: int = 5,
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS,
    *,
    allow_commands: bool = False,
    **config: Any,
) -> list[Any]:
    """Run ``calls`` in parallel and return their outputs in the same order (blocking).

    ``config`` takes any other ``DispatchConfig`` field (``retries``, ``fail_fast``, ``workspace``,
    ``trace_dir``, ``budget_usd``, ...); ``timeout_seconds=None`` means no per-call timeout.
    Raises ``InvalidInput`` (nothing ran) or ``AgentCallsFailed`` (every call has ended).
    """
    # run_sync uses a fresh thread when this one already runs a loop (Jupyter), instead of deadlocking.
    return run_sync(acall_agents_parallel(calls, max_workers, timeout_seconds, allow_commands=allow_commands, **config))


async def acall_agents_parallel(
    calls: Sequence[AgentCall],
    max_workers: int = 5,
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS,
    *,
    allow_commands: bool = False,
    **config: Any,
) -> list[Any]:
    """The ``async`` twin of :func:`call_agents_parallel`, running on the caller's event loop."""
    tasks = _tasks(calls)
    if not tasks:
        return []
    settings = _config(max_workers, timeout_seconds, config)
    result = await adispatch(tasks, settings, allow_commands=allow_commands)
    failures = [(i, r.agent, r.error or r.status) for i, r in enumerate(result.results) if r.status != "success"]
    if failures:
        raise AgentCallsFailed(failures, result)
    return [r.output for r in result.results]


def _config(max_workers: int, timeout_seconds: float | None, extra: Mapping[str, Any]) -> DispatchConfig:
    fields = {"max_workers": max_workers, "timeout_seconds": timeout_seconds, **extra}
    if "trace_dir" not in fields:
        fields["trace_dir"] = tempfile.mkdtemp(prefix="parallel-dispatch-calls-")
    try:
        return DispatchConfig.model_validate(fields)
    except ValidationError as exc:
        issues = pydantic_issues(exc, None, model=DispatchConfig)
        raise InvalidInput([InputIssue(i.message, None, i.field) for i in issues]) from None


def _tasks(calls: Sequence[AgentCall]) -> list[dict[str, Any]]:
    if isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Sequence):
        raise InvalidInput([InputIssue(f"calls must be a list of (agent, input_data) pairs, not {type(calls).__name__}")])
    tasks, issues = [], []
    for index, call in enumerate(calls):
        task_id = f"call-{index}"
        try:
            agent, data, fields = _unpack(call)
            input_data = {**_input_data(agent, data), **fields}
        except TypeError as exc:
            issues.append(InputIssue(str(exc), task_id))
            continue
        except (UnknownAgent, ValueError) as exc:
            issues.append(InputIssue(str(exc), task_id, "input_data" if isinstance(exc, ValueError) else "agent"))
            continue
        tasks.append({"task_id": task_id, "agent": agent, "description": f"call {index} of {len(calls)}",
                      "input_data": input_data})
    if issues:
        raise InvalidInput(issues)
    return tasks


def _unpack(call: Any) -> tuple[str, Any, dict[str, Any]]:
    """(agent, input_data or bare value, extra input fields) from any accepted call form."""
    if isinstance(call, Mapping):
        agent = call.get("tool", call.get("agent"))
        kwargs = call.get("kwargs") or {}
        if not isinstance(agent, str) or not isinstance(kwargs, Mapping):
            raise TypeError(f"expected {{'tool': <agent>, 'prompt': ...}}, got {call!r}")
        fields = {k: v for k, v in call.items() if k not in ("tool", "agent", "prompt", "input_data", "kwargs")}
        data = call["prompt"] if "prompt" in call else call.get("input_data", {})
        return agent, data, {**fields, **kwargs}
    if isinstance(call, (tuple, list)) and isinstance(call[0] if call else None, str):
        if len(call) == 2:
            return call[0], call[1], {}
        if len(call) == 3 and isinstance(call[2], Mapping):
            return call[0], call[1], dict(call[2])
    raise TypeError(f"expected an (agent, input_data) pair, (tool, prompt, kwargs) or {{'tool': ..., "
                    f"'prompt': ...}}, got {call!r}")


def _input_data(agent: str, data: Any) -> dict[str, Any]:
    """``data`` as an input dict; a bare value fills the agent's single required field."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json", exclude_unset=True)
    if isinstance(data, Mapping):
        return dict(data)
    model = load_agent(agent).Input
    if isinstance(data, str) and "prompt" in model.model_fields:
        return {"prompt": data}
    required = [name for name, f in model.model_fields.items() if f.is_required()]
    if len(required) != 1:
        raise ValueError(f"input_data must be an object for the {agent!r} agent (it has {len(required)} "
                         f"required fields, so a bare value is ambiguous), got {type(data).__name__}")
    return {required[0]: data}
