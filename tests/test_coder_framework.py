"""framework auto-detection, the project's interpreter for standalone imports, conflicts, racing writers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.coder import CoderAgent, CoderInput
from parallel_execution.agents.coder.context import read_context_files
from parallel_execution.agents.coder.framework import choose_framework
from parallel_execution.errors import InvalidInput, TaskFailure
from parallel_execution.inputs.paths import WorkspacePolicy
from parallel_execution.inputs.validate import build_plan, parse_input

CONTRACT = "Effect node that writes user data to the users table"


def ctx(ws: Path, task_id: str = "gen") -> TaskContext:
    return TaskContext(task_id=task_id, dispatch_id="d-1", description="", attempt=1,
                       workspace=WorkspacePolicy.create(ws), artifacts_dir=ws.parent / "traces")


def parse(ws: Path, **data: Any) -> CoderInput:
    fields = {"contract_description": CONTRACT, "node_type": "Effect", "output_path": "nodes/node_x_effect.py",
              **data}
    return CoderInput.model_validate(fields, context=WorkspacePolicy.create(ws).as_context())


def run(ws: Path, **data: Any) -> dict[str, Any]:
    return asyncio.run(CoderAgent().run(parse(ws, **data), ctx(ws)))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "nodes").mkdir(parents=True)
    return root


def choose(ws: Path, output: str = "nodes/node_x_effect.py", context: list[Path] | None = None) -> tuple[str, str]:
    files = read_context_files(context or [], workspace_root=ws, search_roots=[ws])
    choice = choose_framework("auto", target=ws / output, workspace=ws, context_files=files)
    return choice.mode, choice.reason


@pytest.mark.parametrize(("setup", "expected"), [
    ({}, ("standalone", "no omnibase-core dependency declared")),
    ({"pyproject.toml": '[project]\nname = "p"\ndependencies = ["omnibase-core>=0.47"]\n'},
     ("omnibase", "pyproject.toml declares omnibase-core")),
    ({"pyproject.toml": '[project]\nname = "p"\n# we might use omnibase-core one day\n'}, ("standalone", "no omnibase")),
    ({"requirements-dev.txt": "pytest\nomnibase_core==0.47.57\n"},
     ("omnibase", "requirements-dev.txt declares omnibase-core")),
    ({"nodes/node_a_effect/contract.yaml": "name: a\nnode_type: EFFECT_GENERIC\n"},
     ("omnibase", "sibling node folder node_a_effect/ holds an ONEX contract.yaml")),
    ({"nodes/helpers.py": "from omnibase_core.nodes import NodeEffect\n"},
     ("omnibase", "sibling helpers.py imports omnibase_core")),
])
def test_auto_chooses_on_the_projects_evidence(ws: Path, setup: dict[str, str], expected: tuple[str, str]) -> None:
    for rel, text in setup.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    mode, reason = choose(ws)
    assert (mode, reason[: len(expected[1])]) == expected


def test_auto_follows_a_context_file_and_a_folder_output(ws: Path) -> None:
    (ws / "lib.py").write_text("import omnibase_core\n")
    assert choose(ws, context=[ws / "lib.py"]) == ("omnibase", "context file lib.py imports omnibase_core")
    assert choose(ws, output="nodes/node_x_effect") == ("omnibase", "output_path 'node_x_effect' names a node folder")


def test_an_installed_framework_is_not_a_signal(ws: Path) -> None:
    out = run(ws, validation_level="lenient")
    assert out["framework"]["mode"] == "standalone" and "installed package alone is not a signal" in \
        out["framework"]["reason"]
    assert "standalone ONEX-style Effect node (no omnibase_core)" in (ws / "nodes" / "node_x_effect.py").read_text()


def test_standalone_rejects_a_folder_output(ws: Path) -> None:
    with pytest.raises(ValueError, match=r'framework "standalone" writes one \.py file'):
        parse(ws, framework="standalone", output_path="nodes/node_x_effect")


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its own virtual environment and no pydantic in it."""
    project = tmp_path_factory.mktemp("bare") / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "bare"\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True, timeout=120)
    return project


def test_standalone_imports_are_judged_in_the_projects_interpreter(bare_venv: Path) -> None:
    (bare_venv / "nodes").mkdir(exist_ok=True)
    with pytest.raises(TaskFailure, match=r"imports_resolvable") as err:
        run(bare_venv, validation_level="moderate", output_path="nodes/node_x_effect.py", overwrite=True)
    out = err.value.output
    assert out["interpreter"].endswith("workspace venv)") and ".venv" in out["interpreter"]
    failed = {c["name"]: c["message"] for c in out["checks"] if not c["passed"]}
    assert "pydantic" in failed["imports_resolvable"]
    assert not (bare_venv / "nodes" / "node_x_effect.py").exists()
    # The same code passes where the project has pydantic (here: the runner's interpreter, configured).
    ok = run(bare_venv, validation_level="moderate", python=sys.executable, overwrite=True)
    assert ok["validation_passed"] and ok["interpreter"].endswith("configured)")


def test_a_missing_configured_python_fails_the_task(ws: Path) -> None:
    with pytest.raises(TaskFailure, match=r"configured python 'no/such/python' does not exist"):
        run(ws, python="no/such/python")


def test_two_coders_racing_for_one_output_never_both_succeed(ws: Path) -> None:
    async def both() -> list[Any]:
        agents = [CoderAgent().run(parse(ws, validation_level="moderate", node_name=f"n{i}"), ctx(ws, f"t{i}"))
                  for i in range(2)]
        return await asyncio.gather(*agents, return_exceptions=True)

    results = asyncio.run(both())
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, TaskFailure)]
    assert len(won) == 1 and len(lost) == 1 and "already exists" in str(lost[0])
    assert won[0]["class_name"] in (ws / "nodes" / "node_x_effect.py").read_text()


def test_the_node_folder_counts_as_the_tasks_write(ws: Path) -> None:
    tasks = [
        {"task_id": "gen", "agent": "coder", "input_data": {
            "contract_description": CONTRACT, "node_type": "Effect", "output_path": "nodes/node_x_effect.py"}},
        {"task_id": "edit", "agent": "echo", "writes": ["nodes/node_x_effect/handler.py"], "input_data": {}},
    ]
    with pytest.raises(InvalidInput, match="conflict on") as err:
        build_plan(parse_input({"tasks": tasks, "config": {"workspace": str(ws)}}))
    assert "node_x_effect" in str(err.value)
    tasks[0]["input_data"]["framework"] = "standalone"  # one file, no folder: no conflict
    build_plan(parse_input({"tasks": tasks, "config": {"workspace": str(ws)}}))
