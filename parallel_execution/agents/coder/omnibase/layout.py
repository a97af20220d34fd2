"""The node folder omnibase_core's own tooling accepts, rendered from a :class:`~..spec.NodeSpec`.

Layout (as omnibase_infra and omnibase's "first node" guide lay a node out)::

    node_<name>_<type>/
      __init__.py                          re-exports the node class
      node.py                              class Node<Name><Type>(Node<Type>): only __init__(container)
      handler.py                           the logic; contract.yaml binds it (handlers.py renders it)
      contract.yaml                        name, versions, node_type enum member, models, handler binding
      models/model_<name>_input.py         one pydantic model per file, extra="forbid"
      models/model_<name>_output.py
      protocols/protocol_<name>_client.py  Effect only: the I/O client resolved from the container

Nothing here shadows a framework method: the node class defines ``__init__`` alone, and the
handler is a module function the framework calls as ``handler(node, input_data)``. No ``Any``:
payloads the contract does not describe are ``dict[str, JsonValue]`` and say so in their field
description; ids are UUIDs. Same spec, same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from parallel_execution.agents.coder.omnibase.handlers import docstring as _doc
from parallel_execution.agents.coder.omnibase.handlers import render_handler
from parallel_execution.agents.coder.omnibase.names import OmnibaseNames
from parallel_execution.agents.coder.spec import ModelField, NodeSpec

__all__ = ["NodeFolder", "render_folder"]

_JSON = "dict[str, JsonValue]"
_WIDTH = 96


@dataclass(frozen=True, slots=True)
class NodeFolder:
    """The generated files (relative path -> text) of one node folder."""

    names: OmnibaseNames
    files: dict[str, str]

    def encoded(self) -> dict[str, bytes]:
        return {path: text.encode("utf-8") for path, text in self.files.items()}


def render_folder(spec: NodeSpec, names: OmnibaseNames) -> NodeFolder:
    """Every file of the node folder for ``spec``, named by ``names``."""
    files = {
        "__init__.py": _package_init(spec, names),
        "node.py": _node_module(spec, names),
        "handler.py": render_handler(spec, names),
        "contract.yaml": _contract(spec, names),
        "models/__init__.py": f'"""Models of {names.class_name}, one per module."""\n',
        f"models/{names.input_module}.py": _model_module(
            names.input_model, f"Input of {names.class_name}{_input_role(spec)}.", _omnibase_fields(spec.input_fields)),
        f"models/{names.output_module}.py": _model_module(
            names.output_model, f"Output of {names.class_name}{_output_role(spec)}.",
            _omnibase_fields(_output_fields(spec))),
    }
    if spec.node_type == "Effect":
        files["protocols/__init__.py"] = f'"""Protocols of the services {names.class_name} resolves."""\n'
        files[f"protocols/{names.protocol_module}.py"] = _protocol_module(spec, names)
    return NodeFolder(names, files)


def _input_role(spec: NodeSpec) -> str:
    return {"Effect": " (read from ModelEffectInput.operation_data)", "Compute": " (ModelComputeInput.data)",
            "Reducer": ": one event of ModelReducerInput.data",
            "Orchestrator": " (what the orchestration starts from)"}[spec.node_type]


def _output_role(spec: NodeSpec) -> str:
    return {"Effect": " (carried as ModelEffectOutput.result)", "Compute": " (ModelComputeOutput.result)",
            "Reducer": ": the state the events fold into (ModelReducerOutput.result)",
            "Orchestrator": ": each step's result, by step name"}[spec.node_type]


def _omnibase_fields(fields: tuple[ModelField, ...]) -> tuple[ModelField, ...]:
    """ONEX conventions on top of the spec's fields: ``*_id`` is a UUID, free payloads are JSON values."""
    converted = []
    for f in fields:
        annotation = f.annotation.replace("dict[str, Any]", _JSON).replace("Any", "JsonValue")
        if f.name.endswith("_id") and annotation in ("str", "str | None"):
            annotation = annotation.replace("str", "UUID")
        converted.append(ModelField(f.name, annotation, f.description, f.default, f.default_factory))
    return tuple(converted)


def _output_fields(spec: NodeSpec) -> tuple[ModelField, ...]:
    unnamed = "; the contract does not name its fields"
    if spec.node_type == "Effect":
        return (ModelField("result", _JSON, f"what the client returned{unnamed}", default_factory="dict"),)
    if spec.node_type == "Compute":
        return (ModelField("result", _JSON, f"the computed result{unnamed}", default_factory="dict"),)
    return spec.output_fields


def _field_line(f: ModelField) -> str:
    args = [f"default_factory={f.default_factory}"] if f.default_factory else \
        [f"default={f.default}"] if f.default is not None else []
    args.append(f"description={json.dumps(f.description, ensure_ascii=False)}")
    line = f"    {f.name}: {f.annotation} = Field({', '.join(args)})\n"
    if len(line) <= _WIDTH + 5:
        return line
    return f"    {f.name}: {f.annotation} = Field(\n" + "".join(f"        {a},\n" for a in args) + "    )\n"


def _model_module(name: str, doc: str, fields: tuple[ModelField, ...]) -> str:
    text = " ".join(f"{f.annotation}" for f in fields)
    imports = []
    if "UUID" in text:
        imports.append("from uuid import UUID\n")
    pydantic = ["BaseModel", "ConfigDict", "Field"] + (["JsonValue"] if "JsonValue" in text else [])
    imports.append(f"\nfrom pydantic import {', '.join(pydantic)}\n")
    body = "".join(_field_line(f) for f in fields)
    return (f"{_doc(f'{name}: {doc}')}\n" + "".join(imports).lstrip("\n") + "\n\n"
            f"class {name}(BaseModel):\n{_doc(doc, '    ')}\n"
            f'    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)\n\n{body}')


def _package_init(spec: NodeSpec, names: OmnibaseNames) -> str:
    return (f"{_doc(f'{spec.node_type} node {names.snake}: {_summary(spec)}')}\n"
            f"from {names.package}.node import {names.class_name}\n\n"
            f'__all__ = ["{names.class_name}"]\n')


def _summary(spec: NodeSpec) -> str:
    first = spec.reading.clauses[0].text if spec.reading.clauses else spec.contract.strip()
    return first.rstrip(".") + "."


def _node_module(spec: NodeSpec, names: OmnibaseNames) -> str:
    base = names.base_class
    generic = f"[{names.input_model}, {names.output_model}]" if spec.node_type in ("Compute", "Reducer") else ""
    model_imports = "" if not generic else (
        f"from {names.package}.models.{names.input_module} import {names.input_model}\n"
        f"from {names.package}.models.{names.output_module} import {names.output_model}\n")
    doc = (f"{names.class_name}: the thin ONEX node; its logic is the handler contract.yaml binds "
           "(handler.handle), so no framework method is overridden here.")
    return (f"{_doc(doc)}\n"
            "from omnibase_core.models.container.model_onex_container import ModelONEXContainer\n"
            f"from omnibase_core.nodes import {base}\n"
            + (f"\n{model_imports}" if model_imports else "") + "\n\n"
            f"class {names.class_name}({base}{generic}):\n"
            f"{_doc(f'{spec.node_type} node: {_summary(spec)}', '    ')}\n"
            "    def __init__(self, container: ModelONEXContainer) -> None:\n"
            f"{_doc('Build the node on the framework container, which provides its services.', '        ')}"
            "        super().__init__(container)\n")


def _protocol_module(spec: NodeSpec, names: OmnibaseNames) -> str:
    store = f" ({spec.reading.store})" if spec.reading.store else ""
    doc = f"{names.protocol}: the I/O client {names.class_name} resolves from its container{store}."
    method_doc = (f"Perform the contract's I/O ({spec.reading.verb or 'the operation'} on "
                  f"{spec.reading.target}) for ``request`` and return its outcome.")
    return (f"{_doc(doc)}\n"
            "from typing import Protocol, runtime_checkable\n\n"
            f"from {names.package}.models.{names.input_module} import {names.input_model}\n"
            f"from {names.package}.models.{names.output_module} import {names.output_model}\n\n\n"
            "@runtime_checkable\n"
            f"class {names.protocol}(Protocol):\n"
            f"{_doc('Performs the I/O; the application registers an implementation in the container.', '    ')}\n"
            f"    async def {names.client_method}(self, request: {names.input_model}) -> {names.output_model}:\n"
            f"{_doc(method_doc, '        ')}"
            "        ...\n")


def _yaml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _contract(spec: NodeSpec, names: OmnibaseNames) -> str:
    version = "{major: 1, minor: 0, patch: 0}"
    lines = [
        f"# ONEX contract of {names.class_name}, generated from its contract text by the parallel-dispatch coder.",
        f"name: {names.folder}",
        f"contract_version: {version}",
        "node_version: {major: 0, minor: 1, patch: 0}",
        f"node_type: {names.node_type_enum}",
        f"description: {_yaml(spec.contract.strip())}",
        f"input_model: {names.package}.models.{names.input_module}.{names.input_model}",
        f"output_model: {names.package}.models.{names.output_module}.{names.output_model}",
        "handler_routing:",
        f"  version: {version}",
        "  default_handler: handle",
        "  handlers:",
        "    - handler_key: handle",
        f"      callable: {names.package}.handler:handle",
        "      handler:",
        "        name: handle",
        f"        module: {names.package}.handler",
    ]
    if spec.node_type in ("Compute", "Orchestrator"):
        lines += [
            f"# Required by ModelContract{spec.node_type}; the contract text names no bound, so this is the",
            "# framework's own default operation timeout (30 s). Tighten it to what the node must meet.",
            "performance:",
            "  single_operation_max_ms: 30000",
        ]
    if spec.node_type == "Reducer":
        lines += [
            "# The framework's reducer runs a state machine; the contract names no lifecycle, so it has one",
            "# state and a 'process' transition that folds each batch of events (handler.handle).",
            "state_machine:",
            f"  version: {version}",
            f"  state_machine_name: {names.snake}_fsm",
            f"  state_machine_version: {version}",
            f"  description: {_yaml(f'Folds events into the {names.snake} state.')}",
            "  initial_state: ready",
            "  states:",
            "    - state_name: ready",
            f"      version: {version}",
            "      state_type: operational",
            "      description: Accepting events.",
            "  transitions:",
            "    - transition_name: process",
            f"      version: {version}",
            "      from_state: ready",
            "      to_state: ready",
            "      trigger: process",
        ]
    if spec.node_type == "Orchestrator":
        lines += [
            "workflow_coordination:",
            f"  execution_mode: {'parallel' if spec.reading.concurrent else 'sequential'}",
            "  workflow_definition:",
            f"    version: {version}",
            "    workflow_metadata:",
            f"      version: {version}",
            f"      workflow_name: {names.snake}",
            f"      workflow_version: {version}",
            f"      description: {_yaml(_summary(spec))}",
            f"      execution_mode: {'parallel' if spec.reading.concurrent else 'sequential'}",
            "    execution_graph:",
            f"      version: {version}",
            "      nodes: []",
        ]
    return "\n".join(lines) + "\n"
