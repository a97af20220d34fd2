"""Mode-specific instructions for the ``claude`` backend (appended to the coder worker's prompt).

Omnibase mode: the session writes only ``handler.py``; the runner generated the rest of the node
folder (thin node class, models, protocols, contract.yaml) and shows it here, with the framework
facts the handler must respect. Standalone mode: the project's own conventions taken from the
context files (base classes, third-party imports, model style), so the single file follows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from parallel_execution.agents.coder.context import ContextFile
from parallel_execution.agents.coder.omnibase.names import OmnibaseNames
from parallel_execution.agents.coder.spec import NodeSpec

__all__ = ["omnibase_instructions", "standalone_instructions"]

_SIGNATURES = {
    "Effect": "async def handle(node: NodeEffect, input_data: ModelEffectInput) -> ModelEffectOutput "
              "(validate input_data.operation_data as the input model; resolve the client with "
              "`await node.container.get_service_async(<Protocol>)`; return ModelEffectOutput with "
              "EnumTransactionState from omnibase_core.enums.enum_effect_types)",
    "Compute": "def handle(node: NodeCompute[In, Out], input_data: ModelComputeInput[In]) -> Out "
               "(pure: no I/O, no clock, no async)",
    "Reducer": "def handle(node: NodeReducer[In, Out], input_data: ModelReducerInput[In]) -> "
               "ModelReducerOutput[Out] (pure fold over input_data.data)",
    "Orchestrator": "async def handle(node: NodeOrchestrator, request: In) -> Out, plus "
                    "workflow_steps() -> list[ModelWorkflowStep] and STEPS (keep them)",
}


def omnibase_instructions(spec: NodeSpec, names: OmnibaseNames, files: Mapping[str, str], folder: Path) -> str:
    shown = "\n\n".join(f"--- {folder / rel}\n{text}" for rel, text in sorted(files.items()) if rel != "handler.py")
    return (
        "Framework: omnibase_core (real ONEX nodes). The runner generated the node folder below; write ONLY the "
        f"file at output_path: it becomes {folder / 'handler.py'}, the handler contract.yaml binds as "
        f"`{names.package}.handler:handle`. Required shape: {_SIGNATURES[spec.node_type]}. Rules: import from "
        "`omnibase_core` with the paths used below; never define execute_effect / execute_compute / process on "
        "a node class (that silently overrides the framework); no `Any` (use pydantic JsonValue or a model); "
        "ids are UUIDs; every public function typed and documented. The runner validates in the project's "
        "interpreter: it imports the package, initialises the node with the framework container and a stand-in "
        "client, calls process() once, and runs `onex validate --strict` and `onex compliance check`.\n\n"
        f"The rest of the folder (read-only for you):\n\n{shown}\n\n"
        f"The scaffold's handler.py, to replace with the real logic:\n\n--- handler.py\n{files['handler.py']}"
    )


def standalone_instructions(context_files: Sequence[ContextFile]) -> str:
    bases = sorted({n.detail for f in context_files for n in f.names if n.kind in ("class", "model")})
    imports = sorted({n.detail for f in context_files for n in f.names if n.kind == "import"})
    lines = ["Framework: standalone ONEX-style (no omnibase_core): one self-contained file, labelled as such in "
             "its module docstring. Follow the project's own conventions from the context files"]
    if bases:
        lines.append("- their classes: " + "; ".join(bases[:12]))
    if imports:
        lines.append("- their third-party imports (use these libraries, not others): " + "; ".join(imports[:12]))
    lines.append("Only import what the project's interpreter has: the runner checks imports there.")
    return "\n".join(lines)
