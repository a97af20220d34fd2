"""Names of an omnibase node folder: folder, package path, class, models, protocol, enum member.

``node_user_writer_effect/`` under ``nodes/`` in the workspace is the package
``nodes.node_user_writer_effect`` (a ``src/`` layout drops the ``src``): contract.yaml's dotted paths
and the handler binding use it, so the folder imports the way the project imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parallel_execution.agents.coder.naming import NodeNames

__all__ = ["OmnibaseNames", "import_root", "omnibase_names"]

_ENUM = {"Effect": "EFFECT_GENERIC", "Compute": "COMPUTE_GENERIC", "Reducer": "REDUCER_GENERIC",
         "Orchestrator": "ORCHESTRATOR_GENERIC"}


@dataclass(frozen=True, slots=True)
class OmnibaseNames:
    """Every name one omnibase node folder uses."""

    snake: str
    class_name: str
    input_model: str
    output_model: str
    base_class: str  # NodeEffect, NodeCompute, ...
    node_type_enum: str  # EFFECT_GENERIC, ...
    folder: str  # node_user_writer_effect
    package: str  # nodes.node_user_writer_effect
    input_module: str  # model_user_writer_input
    output_module: str
    protocol: str  # ProtocolUserWriterClient (Effect)
    protocol_module: str
    client_method: str  # write_user


def import_root(folder: Path, workspace: Path) -> Path:
    """The sys.path entry the project imports ``folder`` from: ``<workspace>/src`` for a src layout."""
    src = workspace / "src"
    return src if folder.is_relative_to(src) else workspace


def omnibase_names(names: NodeNames, folder: Path, workspace: Path, *, verb: str | None, entity: str) -> OmnibaseNames:
    """Names for the node folder at ``folder`` (absolute, inside ``workspace``).

    Raises ValueError when a folder on the way is not a Python identifier (it could not be imported).
    """
    parts = folder.relative_to(import_root(folder, workspace)).parts
    bad = [p for p in parts if not p.isidentifier()]
    if bad:
        raise ValueError(f"folder {bad[0]!r} on the way to the node folder is not a Python identifier, so the "
                         "node could not be imported; rename it or choose another output_path")
    snake, pascal = names.snake, names.pascal
    method = f"{verb}_{entity}" if verb and entity and f"{verb}_{entity}".isidentifier() else f"perform_{snake}"
    return OmnibaseNames(
        snake=snake, class_name=names.class_name, input_model=names.input_model, output_model=names.output_model,
        base_class=f"Node{names.node_type}", node_type_enum=_ENUM[names.node_type], folder=folder.name,
        package=".".join(parts), input_module=f"model_{snake}_input", output_module=f"model_{snake}_output",
        protocol=f"Protocol{pascal}Client", protocol_module=f"protocol_{snake}_client", client_method=method,
    )
