"""Run in the *project's* interpreter: load a staged node folder the way omnibase_core runs it.

Usage: ``python harness_script.py <staged folder> <package> <node type> <class> <import root>``.
Prints one line ``@@onex-harness@@{json}``: a list of checks (``name``, ``passed``, ``message``,
optional ``skeleton``). Stdlib, pydantic, yaml and omnibase_core only: this file is not imported
by the runner, it is executed by the interpreter the node will run in.

The staged folder is registered as the package under its final dotted name (parents that do not
exist yet become empty namespace modules), so contract.yaml's dotted paths and the handler binding
resolve to the staged files before anything is written into the workspace. Steps: import and
subclass check, container with a stand-in for every protocol under ``protocols/``, ``initialize()``
(contract.yaml loads, the default handler resolves), the typed contract model, Reducer FSM /
Orchestrator workflow injected from contract.yaml and ``validate_contract()``, one ``process``
call, the bound handler called once, ``cleanup()``.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import importlib.util
import inspect
import json
import pkgutil
import sys
import types
import typing
import uuid
from pathlib import Path
from typing import Any

MARKER = "@@onex-harness@@"
TODO = "implement the contract line: "
CONTRACT_MODELS = {"Effect": "effect", "Compute": "compute", "Reducer": "reducer", "Orchestrator": "orchestrator"}


def check(name: str, passed: bool, message: str, **extra: object) -> dict[str, object]:
    return {"name": name, "passed": passed, "message": message, **extra}


def register_package(folder: Path, package: str) -> None:
    parts = package.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        try:
            importlib.import_module(parent)
        except ModuleNotFoundError:
            module = types.ModuleType(parent)
            module.__path__ = []
            sys.modules[parent] = module
    spec = importlib.util.spec_from_file_location(package, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)


def sample(annotation: object) -> object:
    """A value of ``annotation`` built from defaults: enough to call the node once."""
    from pydantic import BaseModel

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return None if type(None) in args else sample(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: sample(f.annotation) for name, f in annotation.model_fields.items() if f.is_required()}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation)).value
    simple = {uuid.UUID: lambda: str(uuid.uuid4()), str: lambda: "example", int: lambda: 0, float: lambda: 0.0,
              bool: lambda: False}
    if annotation in simple:
        return simple[annotation]()
    if origin in (list, tuple, set, frozenset):
        return []
    return {}


def stand_in(protocol: type, output_model: Any) -> object:
    """An object with every protocol method, each returning the output model's defaults."""
    calls: list[str] = []

    def method(name: str) -> object:
        async def call(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return output_model.model_validate(sample(output_model))

        return call

    names = [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    cls = type(f"StandIn{protocol.__name__}", (), {n: method(n) for n in names})
    instance: Any = cls()
    instance.calls = calls
    return instance


async def run(folder: Path, package: str, node_type: str, class_name: str) -> list[dict[str, object]]:
    import yaml

    results: list[dict[str, object]] = []
    try:
        register_package(folder, package)
        node_module = importlib.import_module(f"{package}.node")
        node_class = getattr(node_module, class_name)
        base = getattr(importlib.import_module("omnibase_core.nodes"), f"Node{node_type}")
        if not issubclass(node_class, base):
            return [check("framework_node", False, f"{class_name} does not subclass omnibase_core's {base.__name__}")]
    except Exception as exc:
        return [check("framework_import", False, f"importing {package} failed: {type(exc).__name__}: {exc}")]
    from importlib import metadata

    version = metadata.version("omnibase-core")
    results.append(check("framework_import", True,
                         f"{package} imports; {class_name} subclasses {base.__name__} (omnibase-core {version})"))

    contract = yaml.safe_load((folder / "contract.yaml").read_text(encoding="utf-8"))
    kind = CONTRACT_MODELS[node_type]
    typed = importlib.import_module(f"omnibase_core.models.contracts.model_contract_{kind}")
    model = getattr(typed, f"ModelContract{node_type}")
    try:
        model.model_validate(contract)
        results.append(check("contract_model", True, f"contract.yaml validates as {model.__name__}"))
    except Exception as exc:
        results.append(check("contract_model", False, f"contract.yaml is not a valid {model.__name__}: {exc}"))

    def load(dotted: str) -> type:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)

    try:
        input_model, output_model = load(contract["input_model"]), load(contract["output_model"])
    except Exception as exc:
        results.append(check("contract_models_resolve", False, f"input_model/output_model do not import: {exc}"))
        return results
    results.append(check("contract_models_resolve", True, "input_model and output_model import"))

    from omnibase_core.models.container.model_onex_container import ModelONEXContainer

    container = ModelONEXContainer()
    stand_ins = []
    protocols = folder / "protocols"
    if protocols.is_dir():
        for info in pkgutil.iter_modules([str(protocols)]):
            module = importlib.import_module(f"{package}.protocols.{info.name}")
            for _, value in inspect.getmembers(module, inspect.isclass):
                if value.__module__ == module.__name__ and value.__name__.startswith("Protocol"):
                    instance = stand_in(value, output_model)
                    await container.service_registry.register_instance(interface=value, instance=instance)
                    stand_ins.append(instance)
    try:
        node = node_class(container)
        await node.initialize()
    except Exception as exc:
        results.append(check("framework_initialize", False, f"building or initialising failed: {exc}"))
        return results
    loaded = isinstance(node.contract_data, dict)
    handler_info = node._get_default_handler_callable() if loaded else None
    results.append(check("framework_initialize", loaded and handler_info is not None,
                         "initialize() loaded contract.yaml and resolved the default handler" if handler_info
                         else "initialize() did not load contract.yaml or the default handler did not resolve"))
    if handler_info is None:
        return results
    handler = handler_info[0]() if handler_info[1] else handler_info[0]

    if node_type in ("Reducer", "Orchestrator"):
        try:
            if node_type == "Reducer":
                from omnibase_core.models.contracts.subcontracts.model_fsm_subcontract import ModelFSMSubcontract

                node.fsm_contract = ModelFSMSubcontract.model_validate(contract["state_machine"])
                node.initialize_fsm_state(node.fsm_contract, context={})
            else:
                from omnibase_core.models.contracts.subcontracts.model_workflow_definition import (
                    ModelWorkflowDefinition,
                )

                node.workflow_definition = ModelWorkflowDefinition.model_validate(
                    contract["workflow_coordination"]["workflow_definition"])
            problems = await node.validate_contract()
        except Exception as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        results.append(check("framework_validate_contract", not problems,
                             "validate_contract() found no problems" if not problems
                             else "validate_contract(): " + "; ".join(map(str, problems))))

    results.append(await process_once(node, node_type, folder, package, input_model, stand_ins))
    results.append(await handler_once(node, node_type, handler, input_model))
    try:
        await node.cleanup()
    except Exception as exc:
        results.append(check("framework_cleanup", False, f"cleanup() failed: {exc}"))
    return results


def skeleton_verdict(name: str, exc: BaseException, done: str) -> dict[str, object]:
    text = str(exc)
    while "__cause__" in dir(exc) and exc.__cause__ is not None and TODO not in text:
        exc = exc.__cause__
        text = str(exc)
    if TODO in text:
        return check(name, True, f"{done}, and stopped at a step the scaffold left: {text.split(TODO, 1)[1]}",
                     skeleton=True)
    return check(name, False, f"failed: {type(exc).__name__}: {exc}")


async def process_once(node: Any, node_type: str, folder: Path, package: str, input_model: Any,
                       stand_ins: list[Any]) -> dict[str, object]:
    payload = sample(input_model)
    try:
        if node_type == "Effect":
            from omnibase_core.enums.enum_effect_types import EnumEffectType
            from omnibase_core.models.effect.model_effect_input import ModelEffectInput

            out = await node.process(ModelEffectInput(effect_type=next(iter(EnumEffectType)),
                                                      operation_data=payload))
            called = sum(len(s.calls) for s in stand_ins)
            return check("framework_process", True, f"process() ran the handler, which called the stand-in client "
                         f"{called} time(s); result {json.dumps(out.result)[:200]}")
        if node_type == "Compute":
            from omnibase_core.models.compute.model_compute_input import ModelComputeInput

            out = await node.process(ModelComputeInput(data=payload))
            return check("framework_process", True, f"process() ran the handler; result {out.result!r}"[:300])
        if node_type == "Reducer":
            from omnibase_core.enums.enum_reducer_types import EnumReductionType
            from omnibase_core.models.reducer.model_reducer_input import ModelReducerInput

            out = await node.process(ModelReducerInput(data=[payload], reduction_type=EnumReductionType.FOLD))
            return check("framework_process", True, f"process() ran the FSM transition; {out.items_processed} item(s)")
        from omnibase_core.models.orchestrator.model_orchestrator_input import ModelOrchestratorInput

        steps = importlib.import_module(f"{package}.handler").workflow_steps()
        out = await node.process(ModelOrchestratorInput(workflow_id=uuid.uuid4(), steps=steps))
        return check("framework_process", True, f"process() ran the workflow: {out.execution_status}, "
                     f"{len(out.actions_emitted)} action(s) for {len(steps)} step(s)")
    except Exception as exc:
        return skeleton_verdict("framework_process", exc, "process() reached the handler")


async def handler_once(node: Any, node_type: str, handler: Any, input_model: Any) -> dict[str, object]:
    if node_type in ("Effect", "Compute"):
        return check("handler_call", True, "process() called the bound handler (see framework_process)")
    payload = sample(input_model)
    try:
        if node_type == "Reducer":
            from omnibase_core.enums.enum_reducer_types import EnumReductionType
            from omnibase_core.models.reducer.model_reducer_input import ModelReducerInput

            argument: object = ModelReducerInput(data=[payload], reduction_type=EnumReductionType.FOLD)
        else:
            argument = input_model.model_validate(payload)
        result = handler(node, argument)
        if inspect.isawaitable(result):
            result = await result
        return check("handler_call", True, f"the bound handler returned {type(result).__name__}")
    except Exception as exc:
        return skeleton_verdict("handler_call", exc, "the bound handler ran")


def main() -> None:
    folder, package, node_type, class_name, root = sys.argv[1:6]
    sys.path.insert(0, root)  # run with -I: neither the script folder nor PYTHONPATH is on sys.path
    try:
        results = asyncio.run(run(Path(folder), package, node_type, class_name))
    except BaseException as exc:
        results = [check("framework_harness", False, f"{type(exc).__name__}: {exc}")]
    print(MARKER + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
