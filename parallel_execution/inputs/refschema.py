"""``$from`` references in the published JSON Schema (``dispatch-runner schema``).

An agent's ``input_data`` schema describes resolved values; in a task file any field may instead hold a
``$from`` reference, or a value with one inside it (the runner checks such a field once it is
resolved). ``allow_refs`` rewrites an agent's schema so that each top-level property accepts, besides
its own schema, ``#/$defs/ContainsFromRef``: a reference, or a list or object with one somewhere inside
(standard JSON Schema: "not every item/property is free of references").
"""

from __future__ import annotations

from typing import Any

from parallel_execution.inputs.refs import REF_KEY

__all__ = ["REF_DEFS", "allow_refs"]

_CONTAINS = "#/$defs/ContainsFromRef"
REF_DEFS: dict[str, Any] = {
    "FromRef": {
        "type": "object", "description": "The jq selection from a dependency's output, filled in before the task runs.",
        "properties": {REF_KEY: {"type": "string", "description": "task id (a transitive dependency)"},
                       "select": {"type": "string", "default": ".", "description": "jq filter"}},
        "required": [REF_KEY], "additionalProperties": False,
    },
    "ContainsFromRef": {"anyOf": [
        {"$ref": "#/$defs/FromRef"},
        {"type": "array", "contains": {"$ref": _CONTAINS}},
        # an object (not itself a reference) some property of which contains one: "not every property is free"
        {"type": "object", "allOf": [{"not": {"required": [REF_KEY]}},
                                     {"not": {"additionalProperties": {"not": {"$ref": _CONTAINS}}}}]},
    ]},
}


def allow_refs(agent_schema: dict[str, Any]) -> dict[str, Any]:
    """``agent_schema`` with every top-level property also accepting a value holding a ``$from``."""
    properties = agent_schema.get("properties")
    if isinstance(properties, dict):
        agent_schema["properties"] = {name: {"anyOf": [spec, {"$ref": _CONTAINS}]}
                                      for name, spec in properties.items()}
    return agent_schema
