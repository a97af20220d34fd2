"""The ``scaffold`` backend: deterministic ONEX node source from a :class:`~.spec.NodeSpec`.

Same spec, same bytes: no timestamps, no absolute paths, no set or dict iteration whose order
could vary. The module is complete and importable; what the contract determines is implemented
(models, the entry point and its control flow: an Effect's timeout/retry loop around its injected
client, a Reducer's fold, an Orchestrator's step sequence), and every contract line whose logic it
does not determine is a step method that raises ``NotImplementedError`` ending in
``implement the contract line: <line>``. :func:`todo_lines` reads those lines back from any
source, so the task output reports what is left, whoever wrote the code.

Layout of a generated module: docstring (contract, design, what is left, context used), imports,
``__all__``, ``CONTRACT``, ``Model<Name>Input``/``Output`` (+ ``ModelRetryPolicy`` and
``Protocol<Name>Client`` for Effects), then ``Node<Name><Type>``.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap

from parallel_execution.agents.coder.contract import Clause
from parallel_execution.agents.coder.spec import ModelField, NodeSpec
from parallel_execution.analysis import astsafe

__all__ = ["TODO_MARKER", "render_source", "todo_lines"]

TODO_MARKER = "implement the contract line: "
_PREAMBLE = re.compile(
    r"^\s*(?:(?:an?|the)\s+)?(?:onex\s+)?(?:(?:effect|compute|reducer|orchestrator)\s+node|effect|compute|"
    r"reducer|orchestrator|node)\s+(?:that|which)\s+",
    re.IGNORECASE,
)
_WIDTH = 96

_DESIGN = {
    "Effect": (
        "All I/O goes through the injected client (``{client}``), so this module imports no driver. "
        "``execute_effect`` performs ``{operation}`` on ``{target}``{store} under ``timeout_seconds`` per "
        "attempt and retries ``TimeoutError``/``ConnectionError`` with exponential backoff as "
        "``ModelRetryPolicy`` says."
    ),
    "Compute": (
        "Pure: ``execute_compute`` depends on its input alone (no I/O, no global state). Each contract "
        "line is one step that takes the input and the result so far and returns the new result."
    ),
    "Reducer": (
        "A fold: ``execute_reduction(state, event)`` returns a new state and never mutates its "
        "arguments; ``reduce_events`` folds a sequence of events from the empty state. No I/O."
    ),
    "Orchestrator": (
        "``execute_orchestration`` runs the steps {mode} and collects each step's result by step name; "
        "a failing step stops the orchestration with its exception."
    ),
}


def render_source(spec: NodeSpec) -> str:
    """The complete module text for ``spec``."""
    names = spec.names
    body = {
        "Effect": _effect_class,
        "Compute": _compute_class,
        "Reducer": _reducer_class,
        "Orchestrator": _orchestrator_class,
    }[spec.node_type](spec)
    public = sorted({"CONTRACT", names.class_name, names.input_model, names.output_model}
                    | ({"ModelRetryPolicy", f"Protocol{names.pascal}Client"} if spec.node_type == "Effect" else set()))
    header = "\n".join([
        _module_docstring(spec),
        _imports(spec),
        "__all__ = [\n" + "".join(f"    {_q(n)},\n" for n in public) + "]\n",
        _contract_constant(spec.contract),
    ])
    parts = [
        header,
        _model(names.input_model, f"Input of {names.class_name}{_reducer_note(spec, 'event')}.",
               spec.input_fields),
        _model(names.output_model, f"Output of {names.class_name}{_reducer_note(spec, 'state')}.",
               spec.output_fields),
    ]
    if spec.node_type == "Effect":
        parts += [_RETRY_POLICY, _client_protocol(spec)]
    parts.append(body)
    return "\n\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def todo_lines(source: str) -> list[str]:
    """Contract lines left as ``NotImplementedError`` in ``source`` (any backend), in order."""
    try:
        tree = astsafe.parse(source)
    except SyntaxError:
        return []
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            if isinstance(func, ast.Name) and func.id == "NotImplementedError" and node.exc.args:
                message = _constant_text(node.exc.args[0])
                if message is not None:
                    line = message.split(TODO_MARKER, 1)[1] if TODO_MARKER in message else message
                    found.append((node.lineno, line))
    ordered: list[str] = []
    for _, line in sorted(found):
        if line not in ordered:
            ordered.append(line)
    return ordered


def _constant_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


# ----------------------------------------------------------------------------- module parts


def _q(text: str) -> str:
    """A double-quoted Python string literal (JSON string syntax is valid Python)."""
    return json.dumps(text, ensure_ascii=False)


def _docstring(text: str, indent: str) -> str:
    """A docstring at ``indent``: one line when it fits, else closing quotes on their own line."""
    body = _wrap(_doc(text), indent).lstrip()
    if "\n" not in body and len(indent) + len(body) + 6 <= _WIDTH + 4:
        return f'{indent}"""{body}"""\n'
    return f'{indent}"""{body}\n{indent}"""\n'


def _doc(text: str) -> str:
    """Text safe inside a triple-quoted docstring."""
    cleaned = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    return cleaned.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _wrap(text: str, indent: str = "") -> str:
    lines = []
    for raw in text.splitlines() or [""]:
        lines.append(textwrap.fill(raw, _WIDTH, initial_indent=indent, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False) or indent.rstrip())
    return "\n".join(lines)


def _module_docstring(spec: NodeSpec) -> str:
    names = spec.names
    reading = spec.reading
    design = _DESIGN[spec.node_type].format(
        client=f"Protocol{names.pascal}Client", operation=reading.verb or "the I/O", target=reading.target,
        store=f" ({reading.store})" if reading.store else "",
        mode="concurrently" if reading.concurrent else "in contract order",
    )
    todo = [c.text for c in spec.steps()]
    scaffold = ("Scaffold: generated by the parallel_execution coder agent (scaffold backend). The "
                "structure is complete and importable; ")
    if todo:
        left = "\n".join(_wrap(f"- {line}", "    ") for line in todo)
        left_block = _wrap(scaffold + "contract lines whose logic the contract does not determine raise "
                           "NotImplementedError naming the line:") + "\n\n" + left
    else:
        left_block = _wrap(scaffold + "every contract line is implemented structurally and the injected "
                           "client does the I/O.")
    sections = [
        f"{names.class_name}: standalone ONEX-style {spec.node_type} node (no omnibase_core) generated from "
        "its contract.",
        "Contract:\n\n" + _wrap(spec.contract.strip(), "    "),
        _wrap(design),
        left_block,
    ]
    if spec.context_used:
        used = "\n".join(_wrap(f"- {n.name}: {n.detail} ({n.file}, line {n.line})"
                               f"{_use_of(spec, n.name)}", "    ") for n in spec.context_used)
        sections.append("Context used:\n\n" + used)
    return '"""' + _doc("\n\n".join(sections)) + '\n"""\n'


def _use_of(spec: NodeSpec, name: str) -> str:
    fields = [field for field, item in spec.typed_fields if item.name == name]
    if fields:
        return f"; types the {', '.join(fields)} field"
    step_names = {c.step for c in spec.steps()}
    steps = [f"_step_{step}" for step, mentioned in spec.step_mentions
             if step in step_names and any(m.name == name for m in mentioned)]
    return f"; see {', '.join(steps)}" if steps else ""


def _imports(spec: NodeSpec) -> str:
    stdlib: list[str] = []
    typing_names = ["Any"]
    if spec.node_type == "Effect":
        stdlib.append("import asyncio")
        typing_names.append("Protocol")
    elif spec.node_type == "Orchestrator" and spec.reading.concurrent and len(spec.steps()) > 0:
        stdlib.append("import asyncio")
    elif spec.node_type == "Reducer":
        stdlib += ["from collections.abc import Iterable", "from functools import reduce"]
    stdlib.append(f"from typing import {', '.join(typing_names)}")
    blocks = ["\n".join(stdlib), "from pydantic import BaseModel, ConfigDict, Field"]
    local = [f"from {m.module} import {m.name}" for m in spec.model_imports]
    if local:
        blocks.append("\n".join(local))
    return "\n\n".join(blocks) + "\n"


def _contract_constant(contract: str) -> str:
    lines = contract.strip().splitlines() or [""]
    if len(lines) == 1:
        line = f"CONTRACT = {_q(lines[0])}\n"
        return line if len(line) <= _WIDTH + 5 else f"CONTRACT = (\n    {_q(lines[0])}\n)\n"
    joined = "".join(f"    {_q(line + chr(10))}\n" for line in lines[:-1]) + f"    {_q(lines[-1])}\n"
    return f"CONTRACT = (\n{joined})\n"


def _reducer_note(spec: NodeSpec, role: str) -> str:
    return f" (the {role} folded by execute_reduction)" if spec.node_type == "Reducer" else ""


def _field(f: ModelField) -> str:
    args = []
    if f.default_factory:
        args.append(f"default_factory={f.default_factory}")
    elif f.default is not None:
        args.append(f"default={f.default}")
    args.append(f"description={_q(f.description)}")
    return f"    {f.name}: {f.annotation} = Field({', '.join(args)})\n"


def _model(name: str, doc: str, fields: tuple[ModelField, ...]) -> str:
    lines = "".join(_field(f) for f in fields)
    return (f'class {name}(BaseModel):\n{_docstring(doc, "    ")}\n'
            f'    model_config = ConfigDict(extra="forbid")\n\n{lines}')


_RETRY_POLICY = '''class ModelRetryPolicy(BaseModel):
    """How execute_effect retries transient failures (TimeoutError, ConnectionError)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, description="attempts in total, the first included")
    initial_delay_seconds: float = Field(default=0.1, ge=0, description="wait before the first retry")
    backoff_factor: float = Field(default=2.0, ge=1, description="each wait is this times the previous")
    max_delay_seconds: float = Field(default=5.0, ge=0, description="upper bound of one wait")

    def delay_before_retry(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1, 2, ...): capped exponential backoff."""
        delay = self.initial_delay_seconds * self.backoff_factor ** (failed_attempts - 1)
        return float(min(delay, self.max_delay_seconds))
'''


def _client_protocol(spec: NodeSpec) -> str:
    names = spec.names
    store = f" ({spec.reading.store})" if spec.reading.store else ""
    doc = f"The I/O client {names.class_name} is given{store}; no driver is imported here."
    method_doc = (f"Perform ``operation`` ({_q(spec.reading.verb or 'execute')}) on ``target`` "
                  f"({_q(spec.reading.target)}) with ``payload``; return the result.")
    return (f'class Protocol{names.pascal}Client(Protocol):\n{_docstring(doc, "    ")}\n'
            "    async def execute(self, operation: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:\n"
            + _docstring(method_doc, "        "))


# ----------------------------------------------------------------------------- node classes


def _def(head: str, params: str, returns: str) -> str:
    """A method signature at class level, wrapped the way ruff-format would when too long."""
    line = f"    {head}({params}) -> {returns}:"
    if len(line) <= _WIDTH + 4:
        return line + "\n"
    return f"    {head}(\n        {params}\n    ) -> {returns}:\n"


def _step(spec: NodeSpec, clause: Clause, signature: tuple[str, str, str], when: str) -> str:
    mentions = spec.mentions(clause.step)
    doc = f"Contract line: {clause.text}{when}."
    if mentions:
        doc += "\n\nContext: " + "; ".join(f"{m.name} ({m.detail}, {m.file})" for m in mentions) + "."
    message = f"{spec.names.class_name}._step_{clause.step} is a scaffold; {TODO_MARKER}{clause.text}"
    prefix, params, returns = signature
    return (_def(f"{prefix} _step_{clause.step}", params, returns)
            + _docstring(doc, "        ")
            + f"        raise NotImplementedError(\n            {_q(message)}\n        )\n")


def _class_header(spec: NodeSpec, extra_doc: str) -> str:
    first = spec.reading.clauses[0].text if spec.reading.clauses else spec.contract
    rest = _PREAMBLE.sub("", first)
    summary = f"{spec.node_type} node that {rest}" if rest != first else f"{spec.node_type} node: {first}"
    return f"class {spec.names.class_name}:\n" + _docstring(f"{summary}. {extra_doc}", "    ")


def _effect_class(spec: NodeSpec) -> str:
    n = spec.names
    client = f"Protocol{n.pascal}Client"
    pre = [c for c in spec.steps() if c.phase == "pre"]
    post = [c for c in spec.steps() if c.phase != "pre"]
    pre_calls = "".join(f"        self._step_{c.step}(input_data)\n" for c in pre)
    post_calls = "".join(f"        result = await self._step_{c.step}(input_data, result)\n" for c in post)
    steps = "".join(
        "\n" + _step(spec, c, ("def", f"self, input_data: {n.input_model}", "None"), " (runs before the I/O)")
        for c in pre
    ) + "".join(
        "\n" + _step(spec, c, ("async def", f"self, input_data: {n.input_model}, result: dict[str, Any]",
                              "dict[str, Any]"), " (runs after the I/O, with its result)")
        for c in post
    )
    return f'''{_class_header(spec, "I/O goes through the injected client.")}
    operation: str = {_q(spec.reading.verb or "execute")}
    target: str = {_q(spec.reading.target)}

    def __init__(self, client: {client} | None = None) -> None:
        """Keep ``client``; the node can be built without one, but execute_effect needs it."""
        self.client = client

    async def execute_effect(
        self,
        input_data: {n.input_model},
        *,
        timeout_seconds: float = 30.0,
        retry_policy: ModelRetryPolicy | None = None,
    ) -> {n.output_model}:
        """Run the I/O through the client, ``timeout_seconds`` per attempt, retrying per ``retry_policy``.

        Raises RuntimeError without a client, and TimeoutError or ConnectionError once the attempts
        are used up.
        """
        if self.client is None:
            raise RuntimeError({_q(f"{n.class_name} needs a client: {n.class_name}(client=...)")})
        policy = retry_policy if retry_policy is not None else ModelRetryPolicy()
{pre_calls}        payload = input_data.model_dump(mode="json")
        attempts = 1
        while True:
            try:
                async with asyncio.timeout(timeout_seconds):
                    result = await self.client.execute(self.operation, self.target, payload)
                break
            except (TimeoutError, ConnectionError):
                if attempts >= policy.max_attempts:
                    raise
                await asyncio.sleep(policy.delay_before_retry(attempts))
                attempts += 1
{post_calls}        return {n.output_model}(
            success=True, operation=self.operation, target=self.target, attempts=attempts, result=result
        )
{steps}'''


def _compute_class(spec: NodeSpec) -> str:
    n = spec.names
    calls = "".join(f"        result = self._step_{c.step}(input_data, result)\n" for c in spec.steps())
    signature = ("def", f"self, input_data: {n.input_model}, result: dict[str, Any]", "dict[str, Any]")
    steps = "".join("\n" + _step(spec, c, signature, "") for c in spec.steps())
    return f'''{_class_header(spec, "Pure: no I/O.")}
{_def("def execute_compute", f"self, input_data: {n.input_model}", n.output_model)}        """Apply the contract's steps in order; each returns the new result."""
        result: dict[str, Any] = {{}}
{calls}        return {n.output_model}(result=result)
{steps}'''


def _reducer_class(spec: NodeSpec) -> str:
    n = spec.names
    calls = "".join(f"        entries = self._step_{c.step}(entries, event)\n" for c in spec.steps())
    signature = ("def", f"self, entries: dict[str, Any], event: {n.input_model}", "dict[str, Any]")
    steps = "".join("\n" + _step(spec, c, signature, " (gets a copy of the entries; returns the new entries)")
                    for c in spec.steps())
    return f'''{_class_header(spec, "A fold with no I/O.")}
{_def("def execute_reduction", f"self, state: {n.output_model}, event: {n.input_model}", n.output_model)}        """Fold ``event`` into ``state``; returns a new state and never mutates its arguments."""
        entries = dict(state.entries)
{calls}        return {n.output_model}(entries=entries, version=state.version + 1)

    def reduce_events(
        self, events: Iterable[{n.input_model}], initial: {n.output_model} | None = None
    ) -> {n.output_model}:
        """Fold ``events`` in order, starting from ``initial`` (the empty state by default)."""
        start = initial if initial is not None else {n.output_model}()
        return reduce(self.execute_reduction, events, start)
{steps}'''


def _orchestrator_class(spec: NodeSpec) -> str:
    n = spec.names
    steps = spec.steps()
    quoted = [_q(c.step) for c in steps]
    names_tuple = f"({quoted[0]},)" if len(quoted) == 1 else f"({', '.join(quoted)})"
    if spec.reading.concurrent and steps:
        calls = "".join(f"            self._step_{c.step}(input_data, {{}}),\n" for c in steps)
        run = (f"        outcomes = await asyncio.gather(\n{calls}        )\n"
               "        results: dict[str, Any] = dict(zip(self.steps, outcomes, strict=True))\n")
    else:
        run = "        results: dict[str, Any] = {}\n" + "".join(
            f"        results[{_q(c.step)}] = await self._step_{c.step}(input_data, results)\n" for c in steps)
    signature = ("async def", f"self, input_data: {n.input_model}, results: dict[str, Any]", "Any")
    bodies = "".join("\n" + _step(spec, c, signature, " (gets the results so far)") for c in steps)
    return f'''{_class_header(spec, "Coordinates the steps below.")}
    steps: tuple[str, ...] = {names_tuple}

{_def("async def execute_orchestration", f"self, input_data: {n.input_model}", n.output_model)}        """Run every step and collect the results by step name."""
{run}        return {n.output_model}(completed_steps=list(results), results=results)
{bodies}'''
