"""Omnibase mode: real omnibase_core node folders, validated by the framework in a Python 3.12 venv.

The venv (omnibase-core from PyPI) is built once and cached (tests/onex_env.py); these tests skip
only where the machine has no Python 3.12.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from onex_env import NO_PYTHON312, omnibase_python

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.coder import CoderAgent, CoderInput
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePolicy

CONTRACTS = {
    "Effect": "Writes user data to the users table",
    "Compute": "Computes order totals with tax and discounts",
    "Reducer": "Aggregates order events into per-customer totals",
    "Orchestrator": "Coordinates checkout: reserve stock, then charge the card, then ship the order",
}
FRAMEWORK_CHECKS = {"framework_installed", "framework_import", "contract_model", "contract_models_resolve",
                    "framework_initialize", "framework_process", "handler_call", "onex_validate", "onex_compliance",
                    "onex_any_type", "onex_pydantic"}


@pytest.fixture(scope="session")
def onex_python() -> Path:
    python = omnibase_python()
    if python is None:
        pytest.skip(NO_PYTHON312)
    return python


def run(ws: Path, **data: Any) -> dict[str, Any]:
    fields = {"validation_level": "strict", **data}
    parsed = CoderInput.model_validate(fields, context=WorkspacePolicy.create(ws).as_context())
    ctx = TaskContext(task_id="gen", dispatch_id="d-1", description="", attempt=1,
                      workspace=WorkspacePolicy.create(ws), artifacts_dir=ws.parent / "traces")
    return asyncio.run(CoderAgent().run(parsed, ctx))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "nodes").mkdir(parents=True)
    return root


@pytest.mark.parametrize("node_type", list(CONTRACTS))
def test_each_node_type_passes_the_frameworks_own_checks(ws: Path, onex_python: Path, node_type: str) -> None:
    out = run(ws, contract_description=CONTRACTS[node_type], node_type=node_type, framework="omnibase",
              python=str(onex_python), output_path=f"nodes/node_x_{node_type.lower()}")
    folder = ws / "nodes" / f"node_x_{node_type.lower()}"
    assert out["validation_passed"] is True and out["generated_folder"] == str(folder)
    assert out["framework"] == {"mode": "omnibase", "reason": 'framework "omnibase" was requested'}
    checks = {c["name"]: c for c in out["checks"]}
    assert set(checks) >= FRAMEWORK_CHECKS
    assert all(c["passed"] for c in checks.values()), [c for c in checks.values() if not c["passed"]]
    assert "All validations passed" in checks["onex_validate"]["message"]
    assert "1/1 nodes passed" in checks["onex_compliance"]["message"]
    expected = {"__init__.py", "node.py", "handler.py", "contract.yaml", "models/__init__.py",
                "models/model_x_input.py", "models/model_x_output.py"}
    if node_type == "Effect":
        expected |= {"protocols/__init__.py", "protocols/protocol_x_client.py"}
    if node_type in ("Compute", "Reducer"):
        assert checks["onex_purity"]["passed"]
    assert set(out["files"]) == expected
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == expected
    node_py = (folder / "node.py").read_text()
    assert f"(Node{node_type}" in node_py and "def __init__(self, container: ModelONEXContainer)" in node_py
    assert "execute_" not in node_py and "def process" not in node_py  # no framework method shadowed
    assert f"node_type: {node_type.upper()}_GENERIC" in (folder / "contract.yaml").read_text()
    # Every contract line the scaffold cannot write is left as a declared step: a skeleton, said so.
    assert out["skeleton"] is bool(out["todo"]) and (out["skeleton"] or node_type == "Effect")
    assert not list((ws / "nodes").glob(".*"))  # no staging folder left beside it


STAND_IN = r"""
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from nodes.node_user_writer_effect import NodeUserWriterEffect
from nodes.node_user_writer_effect.models.model_user_writer_output import ModelUserWriterOutput
from nodes.node_user_writer_effect.protocols.protocol_user_writer_client import ProtocolUserWriterClient

class InMemoryUsers:
    def __init__(self):
        self.rows = []
    async def write_user(self, request):
        self.rows.append(request.user)
        return ModelUserWriterOutput(result={"stored": len(self.rows)})

async def main():
    users = InMemoryUsers()
    container = ModelONEXContainer()
    await container.service_registry.register_instance(interface=ProtocolUserWriterClient, instance=users)
    node = NodeUserWriterEffect(container)
    await node.initialize()
    out = await node.process(ModelEffectInput(effect_type=EnumEffectType.DATABASE_OPERATION,
                                              operation_data={"user": {"name": "Ada"}}))
    await node.cleanup()
    print(json.dumps({"result": out.result, "state": out.transaction_state.value, "rows": users.rows}))

asyncio.run(main())
"""


def test_the_generated_effect_runs_a_process_call_with_a_stand_in_service(ws: Path, onex_python: Path) -> None:
    out = run(ws, contract_description="Writes user data to the users table", node_type="Effect",
              python=str(onex_python), output_path="nodes/node_user_writer_effect.py",
              context_files=[], framework="omnibase", validation_level="moderate")  # strict: the test above
    assert out["skeleton"] is False and out["todo"] == []
    proc = subprocess.run([str(onex_python), "-c", STAND_IN, str(ws)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {
        "result": {"result": {"stored": 1}}, "state": "committed", "rows": [{"name": "Ada"}]}


def test_a_project_interpreter_without_the_framework_fails_and_writes_nothing(ws: Path) -> None:
    # The runner's own interpreter (3.11) has no omnibase_core: imports fail at moderate, and strict
    # says what to install; nothing reaches the workspace either way.
    with pytest.raises(TaskFailure, match=r"framework_installed.*has no omnibase_core: install it there "
                                          r"\(.* -m pip install omnibase-core\)") as err:
        run(ws, contract_description=CONTRACTS["Effect"], node_type="Effect", framework="omnibase",
            python=sys.executable, output_path="nodes/node_x_effect")
    assert not (ws / "nodes" / "node_x_effect").exists() and os.listdir(ws / "nodes") == []
    rejected = Path(err.value.output["rejected_file"])
    assert (rejected / "node.py").is_file() and not rejected.is_relative_to(ws)


def test_auto_follows_the_projects_declared_dependency(ws: Path, onex_python: Path) -> None:
    (ws / "pyproject.toml").write_text('[project]\nname = "shop"\ndependencies = ["omnibase-core>=0.47"]\n')
    out = run(ws, contract_description=CONTRACTS["Compute"], node_type="Compute", validation_level="moderate",
              output_path="nodes/node_order_total_compute.py", python=str(onex_python))
    assert out["framework"] == {"mode": "omnibase", "reason": "pyproject.toml declares omnibase-core"}
    assert (ws / "nodes" / "node_order_total_compute" / "handler.py").is_file()
    assert not (ws / "nodes" / "node_order_total_compute.py").exists()


def test_an_existing_folder_is_not_replaced_without_overwrite(ws: Path, onex_python: Path) -> None:
    folder = ws / "nodes" / "node_x_effect"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    common = {"contract_description": CONTRACTS["Effect"], "node_type": "Effect", "framework": "omnibase",
              "validation_level": "moderate", "output_path": "nodes/node_x_effect", "python": str(onex_python)}
    with pytest.raises(TaskFailure, match=r"output folder 'nodes/node_x_effect' already exists"):
        run(ws, **common)
    assert os.listdir(folder) == ["keep.txt"]
    run(ws, **common, overwrite=True)
    assert (folder / "node.py").is_file() and not (folder / "keep.txt").exists()
    assert sorted(p.name for p in (ws / "nodes").iterdir()) == ["node_x_effect"]


FIXED_HANDLER = '''"""Handler of NodeXCompute: the order total is the sum of its line amounts."""

from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.nodes import NodeCompute
from pydantic import JsonValue

from nodes.node_x_compute.models.model_x_input import ModelXInput
from nodes.node_x_compute.models.model_x_output import ModelXOutput


def handle(
    node: NodeCompute[ModelXInput, ModelXOutput], input_data: ModelComputeInput[ModelXInput]
) -> ModelXOutput:
    """Sum the numeric values of the order."""
    request = ModelXInput.model_validate(input_data.data)
    total = sum(v for v in request.order.values() if isinstance(v, int | float))
    result: dict[str, JsonValue] = {"total": total}
    return ModelXOutput(result=result)
'''


def test_the_claude_backend_writes_the_handler_and_goes_through_the_same_checks(
        ws: Path, tmp_path: Path, onex_python: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_claude.harness import calls, use_fake

    broken = FIXED_HANDLER.replace("from pydantic import JsonValue", "from typing import Any").replace(
        "dict[str, JsonValue]", "dict[str, Any]")
    (tmp_path / "broken.py").write_text(broken)
    (tmp_path / "fixed.py").write_text(FIXED_HANDLER)
    state = use_fake(monkeypatch, tmp_path / "state", "broken_then_fixed", broken_code_file=str(tmp_path / "broken.py"),
                     fixed_code_file=str(tmp_path / "fixed.py"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    out = run(ws, contract_description="Computes order totals", node_type="Compute", framework="omnibase",
              python=str(onex_python), output_path="nodes/node_x_compute", backend="claude")
    folder = ws / "nodes" / "node_x_compute"
    assert out["validation_passed"] and out["implementation"] == "claude" and out["skeleton"] is False
    assert (folder / "handler.py").read_text() == FIXED_HANDLER
    checks = {c["name"]: c for c in out["checks"]}
    assert checks["framework_process"]["message"].startswith("process() ran the handler; result")
    first, second = calls(state)
    assert "Framework: omnibase_core" in first["prompt"] and "node.py" in first["prompt"]
    assert "no_any" in second["prompt"]  # the failed check went back into the same session
    assert sorted(p.name for p in (ws / "nodes").iterdir()) == ["node_x_compute"]  # no staging left


def test_a_derived_name_avoids_the_words_onex_validate_rejects(ws: Path, onex_python: Path) -> None:
    out = run(ws, contract_description="Processes payments through the payments endpoint", node_type="Effect",
              framework="omnibase", python=str(onex_python), output_path="nodes/payments")
    assert out["class_name"] == "NodePaymentProcessingEffect"  # not ...Processor...: a "class_anti_pattern"
    assert {c["name"]: c["passed"] for c in out["checks"]}["onex_validate"] is True
