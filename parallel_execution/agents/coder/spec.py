"""The node specification: contract reading + ONEX names + context, everything a backend needs.

:func:`build_spec` is deterministic and does no I/O beyond what the already-read context files
carry. It decides the node's input/output model fields (best-effort from the contract's verb and
entity, exact in structure) and which context names the generated code uses:

- A context *model* (pydantic model, dataclass, TypedDict) that the contract mentions, or whose
  name is the contract's entity (``User`` for "writes user data"), types the payload field, when
  it can be imported from the output folder or the workspace root; otherwise the payload stays
  ``dict[str, Any]`` and a warning says why. Likewise a mentioned model or enum named after an
  updated attribute ("updates order status" -> ``OrderStatus``) types that field.
- Every other mentioned name is referenced in the module docstring and in the docstring of the
  step whose contract line mentions it.

==============  =================================================  ==================================
node type       input fields                                       output fields
==============  =================================================  ==================================
Effect write    ``<entity>`` payload                               ``success``, ``operation``,
Effect update   ``<entity>_id``, ``<attribute>`` or ``changes``    ``target``, ``attempts``,
Effect delete   ``<entity>_id``                                    ``result``
Effect read     ``<entity>_id`` (optional), ``filters``
Compute         ``<entity>`` payload                               ``result``
Reducer         event: ``event_type``, ``key``, ``payload``        state: ``entries``, ``version``
Orchestrator    ``<entity>`` payload                               ``completed_steps``, ``results``
==============  =================================================  ==================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parallel_execution.agents.coder.context import ContextFile, ContextName, mentioned_names
from parallel_execution.agents.coder.contract import (
    Clause,
    ContractReading,
    read_contract,
    safe_field_name,
)
from parallel_execution.agents.coder.naming import NodeNames, NodeType, node_names, snake_case

__all__ = ["ModelField", "NodeSpec", "build_spec"]

_MODEL_SUFFIXES = frozenset({"model", "record", "schema", "data", "dto", "entity", "payload", "item", "in",
                             "create"})
_GENERATED_NAMES = frozenset({"Any", "Protocol", "Iterable", "BaseModel", "ConfigDict", "Field", "reduce",
                              "asyncio", "CONTRACT", "ModelRetryPolicy"})
_DICT = "dict[str, Any]"


@dataclass(frozen=True, slots=True)
class ModelField:
    """One pydantic field: ``name: annotation = Field(<default>, description=...)``."""

    name: str
    annotation: str
    description: str
    default: str | None = None  # source text ("None", "0"); None means required
    default_factory: str | None = None  # "dict", "list"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Everything needed to generate one node; backends receive this."""

    contract: str
    names: NodeNames
    reading: ContractReading
    input_fields: tuple[ModelField, ...]
    output_fields: tuple[ModelField, ...]
    typed_fields: tuple[tuple[str, ContextName], ...]  # (input field, context name that types it)
    context_files: tuple[ContextFile, ...]
    context_used: tuple[ContextName, ...]
    step_mentions: tuple[tuple[str, tuple[ContextName, ...]], ...]  # (step, names its line mentions)
    warnings: tuple[str, ...]

    @property
    def model_imports(self) -> tuple[ContextName, ...]:
        """Context names the generated module imports, in field order, each once."""
        found: dict[str, ContextName] = {}
        for _, item in self.typed_fields:
            found.setdefault(item.name, item)
        return tuple(found.values())

    @property
    def node_type(self) -> NodeType:
        return self.names.node_type

    def steps(self) -> tuple[Clause, ...]:
        """Contract lines that become step methods, in order (the Effect's main line is its I/O)."""
        clauses = self.reading.clauses
        if self.node_type == "Effect" or (self.node_type == "Orchestrator" and len(clauses) > 1):
            return clauses[1:]
        return clauses

    def mentions(self, step: str) -> tuple[ContextName, ...]:
        return dict(self.step_mentions).get(step, ())


def build_spec(
    contract: str,
    node_type: NodeType,
    *,
    node_name: str | None = None,
    context_files: Sequence[ContextFile] = (),
) -> NodeSpec:
    reading = read_contract(contract, node_name)
    names = node_names(reading.node_name, node_type)
    warnings = [f"context file {f.rel} {f.note}" for f in context_files if f.note]
    used = mentioned_names(context_files, contract)
    model = _entity_model(context_files, reading, used)
    if model is not None and model not in used:
        used.append(model)
    reserved = _GENERATED_NAMES | {names.class_name, names.input_model, names.output_model,
                                   f"Protocol{names.pascal}Client"}

    def usable(item: ContextName | None, role: str, fallback: str) -> ContextName | None:
        if item is None or (item.module is not None and item.name not in reserved):
            return item
        why = "is not importable from the output folder or the workspace root" if item.module is None \
            else "clashes with a generated name"
        warnings.append(f"context {item.kind} {item.name} ({item.file}) {why}; the {role} is typed {fallback}")
        return None

    model = usable(model, "payload", _DICT)
    attribute = _attribute_type(used, reading) if node_type == "Effect" and reading.io_kind == "update" else None
    attribute = usable(attribute, f"{reading.attribute} field", "str")
    input_fields = _input_fields(node_type, reading, model.name if model else _DICT,
                                 attribute.name if attribute else "str")
    # Only names that type a field are imported (a read by id has no payload): the rest are referenced.
    typed = tuple((f.name, item) for f in input_fields for item in (model, attribute)
                  if item is not None and f.annotation == item.name)
    step_mentions = tuple((c.step, tuple(mentioned_names(context_files, c.text))) for c in reading.clauses)
    return NodeSpec(
        contract=contract,
        names=names,
        reading=reading,
        input_fields=input_fields,
        output_fields=_output_fields(node_type),
        typed_fields=typed,
        context_files=tuple(context_files),
        context_used=tuple(used),
        step_mentions=step_mentions,
        warnings=tuple(warnings),
    )


def _entity_model(files: Sequence[ContextFile], reading: ContractReading,
                  used: Sequence[ContextName]) -> ContextName | None:
    mentioned = [n for n in used if n.kind == "model"]
    if mentioned:
        return mentioned[0]
    for context_file in files:
        for item in context_file.names:
            words = snake_case(item.name).split("_")
            if item.kind == "model" and words[0] == reading.entity and (
                    len(words) == 1 or (len(words) == 2 and words[1] in _MODEL_SUFFIXES)):
                return item
    return None


def _attribute_type(used: Sequence[ContextName], reading: ContractReading) -> ContextName | None:
    """A mentioned model or enum named after the updated attribute ("order status" -> OrderStatus)."""
    if not reading.attribute:
        return None
    wanted = {f"{reading.entity}_{reading.attribute}", reading.attribute}
    return next((n for n in used if n.kind in ("model", "enum") and snake_case(n.name) in wanted), None)


def _input_fields(node_type: NodeType, reading: ContractReading, payload_type: str,
                  attribute_type: str = "str") -> tuple[ModelField, ...]:
    entity = reading.entity
    named = ", ".join(reading.listed_fields)
    payload = ModelField(reading.payload_name, payload_type, f"the {entity} payload" + (
        f"; the contract names its fields {named} but not their types" if named and payload_type == _DICT
        else "; the contract does not list its fields" if payload_type == _DICT else ""))
    if node_type == "Reducer":
        return (
            ModelField("event_type", "str", "what happened (the event's kind)"),
            ModelField("key", "str", "which state entry the event concerns"),
            ModelField("payload", payload_type, "the event's data",
                       default_factory="dict" if payload_type == _DICT else None),
        )
    if node_type != "Effect" or reading.io_kind in ("write", "send", "other"):
        return (payload,)
    id_field = safe_field_name(f"{reading.payload_name if reading.payload_name != 'payload' else 'record'}_id")
    if reading.io_kind == "read":
        return (
            ModelField(id_field, "str | None", f"the {entity} to read; None reads by filters", default="None"),
            ModelField("filters", _DICT, "conditions the records must match", default_factory="dict"),
        )
    if reading.io_kind == "delete":
        return (ModelField(id_field, "str", f"the {entity} to delete"),)
    if reading.listed_fields:  # exactly the fields the contract names; their types are not given
        return (ModelField(id_field, "str", f"the {entity} to update"),
                *(ModelField(name, "Any | None", f"the new {name}, None to leave it (named in the contract; its "
                             "type is not given)", default="None") for name in reading.listed_fields
                  if name != id_field))
    attribute = safe_field_name(reading.attribute) if reading.attribute else None
    if attribute and attribute != id_field:
        return (ModelField(id_field, "str", f"the {entity} to update"),
                ModelField(attribute, attribute_type, f"the new {reading.attribute}"))
    return (ModelField(id_field, "str", f"the {entity} to update"),
            ModelField("changes", _DICT, "fields to change and their new values (the contract does not name "
                                         "them)"))


def _output_fields(node_type: NodeType) -> tuple[ModelField, ...]:
    if node_type == "Effect":
        return (
            ModelField("success", "bool", "whether the I/O completed"),
            ModelField("operation", "str", "the operation performed"),
            ModelField("target", "str", "where the I/O went"),
            ModelField("attempts", "int", "attempts used, the successful one included"),
            ModelField("result", _DICT, "what the client returned", default_factory="dict"),
        )
    if node_type == "Compute":
        return (ModelField("result", _DICT, "the computed result"),)
    if node_type == "Reducer":
        return (
            ModelField("entries", _DICT, "the reduced state, by key", default_factory="dict"),
            ModelField("version", "int", "how many events were folded in", default="0"),
        )
    return (
        ModelField("completed_steps", "list[str]", "steps that finished, in order", default_factory="list"),
        ModelField("results", _DICT, "each step's result, by step name", default_factory="dict"),
    )
