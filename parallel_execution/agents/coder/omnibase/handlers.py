"""``handler.py`` of an omnibase node: the function contract.yaml binds, per node type.

The framework calls the bound handler as ``handle(node, input_data)`` (Effect and Compute from
``process``; Reducer and Orchestrator expose it for the runtime). What the contract determines is
written out: an Effect validates ``operation_data`` into its input model, resolves its client
protocol from the node's container, calls it and wraps the answer in ``ModelEffectOutput``; a
Compute runs its steps over the input; a Reducer folds each event into a new state; an
Orchestrator runs its steps in order (or together when the contract says so) and also lists them
as the framework's ``ModelWorkflowStep`` s. Every contract line whose logic the contract does not
determine is a step function raising ``NotImplementedError`` that ends in
``implement the contract line: <line>``, so the node is reported as a skeleton until someone
writes them (:func:`~..scaffold.todo_lines` reads them back).
"""

from __future__ import annotations

import json
import textwrap

from parallel_execution.agents.coder.contract import Clause
from parallel_execution.agents.coder.omnibase.names import OmnibaseNames
from parallel_execution.agents.coder.scaffold import TODO_MARKER
from parallel_execution.agents.coder.spec import NodeSpec

__all__ = ["docstring", "render_handler"]

_WIDTH = 96


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def docstring(text: str, indent: str = "") -> str:
    """``text`` as a triple-quoted docstring at ``indent`` (wrapped, escaped; one line when it fits)."""
    cleaned = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    cleaned = cleaned.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = [textwrap.fill(p, _WIDTH, initial_indent=indent, subsequent_indent=indent, break_long_words=False,
                           break_on_hyphens=False) or indent.rstrip() for p in cleaned.splitlines() or [""]]
    body = "\n".join(lines).lstrip()
    if "\n" not in body and len(body) + len(indent) < _WIDTH:
        return f'{indent}"""{body}"""\n'
    return f'{indent}"""{body}\n{indent}"""\n'


def render_handler(spec: NodeSpec, names: OmnibaseNames) -> str:
    """The complete ``handler.py`` text."""
    body = {"Effect": _effect, "Compute": _compute, "Reducer": _reducer, "Orchestrator": _orchestrator}[
        spec.node_type](spec, names)
    return _module_doc(spec, names) + "\n" + body


def _module_doc(spec: NodeSpec, names: OmnibaseNames) -> str:
    steps = _steps(spec)
    contract = "\n".join(f"    {line.strip()}" for line in spec.contract.strip().splitlines())
    parts = [f"The handler contract.yaml binds to {names.class_name}.", f"Contract:\n\n{contract}"]
    if steps:
        listed = "\n".join(f"    - {c.text}" for c in steps)
        parts.append("Skeleton (parallel-dispatch coder, scaffold backend): these contract lines raise "
                     f"NotImplementedError naming the line until they are written:\n\n{listed}")
    else:
        parts.append("Complete: the contract's one line is the I/O, done by the client this node resolves.")
    text = "\n\n".join(parts)
    wrapped = "\n".join(line if line.startswith("    ") else textwrap.fill(line, _WIDTH, break_long_words=False)
                        for line in text.splitlines())
    cleaned = wrapped.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{cleaned}\n"""\n'


def _steps(spec: NodeSpec) -> tuple[Clause, ...]:
    return spec.steps()


def _step(spec: NodeSpec, names: OmnibaseNames, clause: Clause, params: str, returns: str, *,
          is_async: bool = False) -> str:
    message = f"{names.class_name} handler step _{clause.step} is a scaffold; {TODO_MARKER}{clause.text}"
    head = f"{'async ' if is_async else ''}def _{clause.step}({params}) -> {returns}:"
    if len(head) > _WIDTH:
        head = f"{'async ' if is_async else ''}def _{clause.step}(\n    {params}\n) -> {returns}:"
    return (f"\n\n{head}\n" + docstring(f"Contract line: {clause.text}.", "    ")
            + f"    raise NotImplementedError(\n        {_q(message)}\n    )\n")


def _model_imports(names: OmnibaseNames, *, output: bool = True) -> str:
    lines = [f"from {names.package}.models.{names.input_module} import {names.input_model}\n"]
    if output:
        lines.append(f"from {names.package}.models.{names.output_module} import {names.output_model}\n")
    return "".join(lines)


def _effect(spec: NodeSpec, names: OmnibaseNames) -> str:
    n = names
    pre = [c for c in _steps(spec) if c.phase == "pre"]
    post = [c for c in _steps(spec) if c.phase != "pre"]
    pre_calls = "".join(f"    _{c.step}(request)\n" for c in pre)
    post_calls = "".join(f"    outcome = _{c.step}(request, outcome)\n" for c in post)
    steps = "".join(_step(spec, n, c, f"request: {n.input_model}", "None") for c in pre) + "".join(
        _step(spec, n, c, f"request: {n.input_model}, outcome: {n.output_model}", n.output_model) for c in post)
    doc = (f"Validate operation_data as {n.input_model}, call the registered {n.protocol}, and wrap its "
           "answer in ModelEffectOutput.")
    return (
        "import time\n\n"
        "from omnibase_core.enums.enum_effect_types import EnumTransactionState\n"
        "from omnibase_core.models.effect.model_effect_input import ModelEffectInput\n"
        "from omnibase_core.models.effect.model_effect_output import ModelEffectOutput\n"
        "from omnibase_core.nodes import NodeEffect\n\n"
        + _model_imports(n)
        + f"from {n.package}.protocols.{n.protocol_module} import {n.protocol}\n\n\n"
        "async def handle(node: NodeEffect, input_data: ModelEffectInput) -> ModelEffectOutput:\n"
        + docstring(doc, "    ")
        + "    started = time.perf_counter()\n"
        f"    request = {n.input_model}.model_validate(input_data.operation_data)\n"
        + pre_calls
        + f"    client: {n.protocol} = await node.container.get_service_async({n.protocol})\n"
        f"    outcome: {n.output_model} = await client.{n.client_method}(request)\n"
        + post_calls
        + "    return ModelEffectOutput(\n"
        '        result=outcome.model_dump(mode="json"),\n'
        "        operation_id=input_data.operation_id,\n"
        "        effect_type=input_data.effect_type,\n"
        "        transaction_state=EnumTransactionState.COMMITTED,\n"
        "        processing_time_ms=(time.perf_counter() - started) * 1000,\n"
        "    )\n"
        + steps
    )


def _compute(spec: NodeSpec, names: OmnibaseNames) -> str:
    n = names
    calls = "".join(f"    result = _{c.step}(request, result)\n" for c in _steps(spec))
    steps = "".join(_step(spec, n, c, f"request: {n.input_model}, result: dict[str, JsonValue]",
                          "dict[str, JsonValue]") for c in _steps(spec))
    signature = (f"def handle(\n    node: NodeCompute[{n.input_model}, {n.output_model}],\n"
                 f"    input_data: ModelComputeInput[{n.input_model}],\n) -> {n.output_model}:\n")
    return (
        "from omnibase_core.models.compute.model_compute_input import ModelComputeInput\n"
        "from omnibase_core.nodes import NodeCompute\n"
        "from pydantic import JsonValue\n\n"
        + _model_imports(n) + "\n\n"
        + signature
        + docstring("Pure: apply the contract's steps in order to the input; each returns the new result.", "    ")
        + f"    request = {n.input_model}.model_validate(input_data.data)\n"
        "    result: dict[str, JsonValue] = {}\n"
        + calls
        + f"    return {n.output_model}(result=result)\n"
        + steps
    )


def _reducer(spec: NodeSpec, names: OmnibaseNames) -> str:
    n = names
    calls = "".join(f"    entries = _{c.step}(entries, event)\n" for c in _steps(spec))
    steps = "".join(_step(spec, n, c, f"entries: dict[str, JsonValue], event: {n.input_model}",
                          "dict[str, JsonValue]") for c in _steps(spec))
    signature = (f"def handle(\n    node: NodeReducer[{n.input_model}, {n.output_model}],\n"
                 f"    input_data: ModelReducerInput[{n.input_model}],\n"
                 f") -> ModelReducerOutput[{n.output_model}]:\n")
    return (
        "from omnibase_core.models.reducer.model_reducer_input import ModelReducerInput\n"
        "from omnibase_core.models.reducer.model_reducer_output import ModelReducerOutput\n"
        "from omnibase_core.nodes import NodeReducer\n"
        "from pydantic import JsonValue\n\n"
        + _model_imports(n) + "\n\n"
        + signature
        + docstring("Fold every event of the batch into a new state, starting from the empty state. Pure: no "
               "I/O and no clock, so processing_time_ms is left to the runtime (0.0).", "    ")
        + f"    state = {n.output_model}()\n"
        "    for item in input_data.data:\n"
        f"        state = fold(state, {n.input_model}.model_validate(item))\n"
        f"    return ModelReducerOutput[{n.output_model}](\n"
        "        result=state,\n"
        "        operation_id=input_data.operation_id,\n"
        "        reduction_type=input_data.reduction_type,\n"
        "        processing_time_ms=0.0,\n"
        "        items_processed=len(input_data.data),\n"
        "    )\n\n\n"
        f"def fold(state: {n.output_model}, event: {n.input_model}) -> {n.output_model}:\n"
        + docstring("One event into a new state; never mutates its arguments.", "    ")
        + "    entries: dict[str, JsonValue] = {**state.entries, event.key: event.payload}\n"
        + calls
        + f"    return {n.output_model}(entries=entries, version=state.version + 1)\n"
        + steps
    )


def _orchestrator(spec: NodeSpec, names: OmnibaseNames) -> str:
    n = names
    steps = _steps(spec)
    quoted = ", ".join(_q(c.step) for c in steps) + ("," if len(steps) == 1 else "")
    if spec.reading.concurrent:
        gathered = "".join(f"        _{c.step}(request, {{}}),\n" for c in steps)
        run = ("    outcomes = await asyncio.gather(\n" + gathered + "    )\n"
               "    results: dict[str, JsonValue] = dict(zip(STEPS, outcomes, strict=True))\n")
    else:
        run = "    results: dict[str, JsonValue] = {}\n" + "".join(
            f"    results[{_q(c.step)}] = await _{c.step}(request, results)\n" for c in steps)
    bodies = "".join(_step(spec, n, c, f"request: {n.input_model}, results: dict[str, JsonValue]", "JsonValue",
                           is_async=True) for c in steps)
    return (
        ("import asyncio\n" if spec.reading.concurrent else "")
        + "from uuid import NAMESPACE_URL, uuid5\n\n"
        "from omnibase_core.models.contracts.model_workflow_step import ModelWorkflowStep\n"
        "from omnibase_core.nodes import NodeOrchestrator\n"
        "from pydantic import JsonValue\n\n"
        + _model_imports(n) + "\n"
        f"STEPS: tuple[str, ...] = ({quoted})\n\n\n"
        "def workflow_steps() -> list[ModelWorkflowStep]:\n"
        + docstring("The contract's steps as the framework's workflow steps, for NodeOrchestrator.process.", "    ")
        + "    return [\n"
        f"        ModelWorkflowStep(step_id=uuid5(NAMESPACE_URL, {_q(f'onex:{n.package}:')} + name), "
        "step_name=name, step_type=\"custom\")\n"
        "        for name in STEPS\n"
        "    ]\n\n\n"
        f"async def handle(node: NodeOrchestrator, request: {n.input_model}) -> {n.output_model}:\n"
        + docstring("Run every step " + ("together" if spec.reading.concurrent else "in contract order")
               + " and collect the results by step name; a failing step stops the run with its exception.", "    ")
        + run
        + f"    return {n.output_model}(completed_steps=list(results), results=results)\n"
        + bodies
    )
