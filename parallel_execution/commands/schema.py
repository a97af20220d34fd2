"""``dispatch-runner schema``: the input's JSON Schema, with every agent's ``input_data`` schema."""

from __future__ import annotations

import argparse
from typing import Any

from parallel_execution.commands.common import EXIT_OK, emit

__all__ = ["configure_parser", "input_schema", "main"]


def input_schema() -> dict[str, Any]:
    """The input's JSON Schema, with each agent's ``input_data`` schema selected by ``agent``."""
    from parallel_execution.agents.registry import available_agents, load_agent
    from parallel_execution.inputs.refschema import REF_DEFS, allow_refs
    from parallel_execution.inputs.schema import DispatchInput

    schema = DispatchInput.model_json_schema()
    defs = schema.setdefault("$defs", {})
    rules = []
    for name in sorted(available_agents()):
        try:
            model = load_agent(name).Input
        except Exception:  # a broken third-party agent must not hide the others
            continue
        agent_schema = allow_refs(model.model_json_schema(ref_template="#/$defs/{model}"))  # $from too
        defs.update(agent_schema.pop("$defs", {}), **REF_DEFS)
        defs[f"agent:{name}"] = agent_schema
        rules.append({"if": {"properties": {"agent": {"const": name}}},
                      "then": {"properties": {"input_data": {"$ref": f"#/$defs/agent:{name}"}}}})
    defs["Task"]["allOf"] = rules
    defs["Task"]["properties"]["agent"]["enum"] = sorted(available_agents())
    return schema


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """No options."""


def main(args: argparse.Namespace) -> int:
    emit(input_schema())
    return EXIT_OK
