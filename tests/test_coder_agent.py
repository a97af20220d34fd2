"""The coder agent: input validation, writing, overwrite protection, rejection, backends, examples."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.coder import CoderAgent, CoderInput
from parallel_execution.agents.registry import load_agent
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePolicy

REPO = Path(__file__).resolve().parent.parent
CONTRACT = "Effect node that writes user data to PostgreSQL users table with validation"
OUTPUT_KEYS = {"generated_file", "rejected_file", "node_name", "class_name", "node_type", "validation_level",
               "validation_passed", "checks", "warnings", "implementation", "todo", "context_used", "bytes",
               "sha256", "framework", "interpreter", "skeleton", "conventions"}


def parse(ws: Path, **data: Any) -> CoderInput:
    fields = {"contract_description": CONTRACT, "node_type": "Effect", "output_path": "out/node.py", **data}
    return CoderInput.model_validate(fields, context=WorkspacePolicy.create(ws).as_context())


def context(ws: Path, task_id: str = "gen") -> TaskContext:
    return TaskContext(task_id=task_id, dispatch_id="d-1", description="", attempt=1,
                       workspace=WorkspacePolicy.create(ws), artifacts_dir=ws / ".traces")


def run(ws: Path, **data: Any) -> dict[str, Any]:
    return asyncio.run(CoderAgent().run(parse(ws, **data), context(ws)))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def test_registered_as_coder() -> None:
    agent = load_agent("coder")
    assert agent is CoderAgent
    assert (agent.write_fields, agent.read_fields) == (("output_path",), ("context_files",))
    assert agent.task_uses_model({"backend": "claude"}) and not agent.task_uses_model({})


@pytest.mark.parametrize("level", ["lenient", "moderate", "strict"])
def test_writes_the_file_and_reports_it(ws: Path, level: str) -> None:
    out = run(ws, validation_level=level)
    target = ws / "out" / "node.py"
    data = target.read_bytes()
    assert set(out) == OUTPUT_KEYS
    assert out["generated_file"] == str(target) and out["rejected_file"] is None
    assert (out["node_name"], out["class_name"], out["node_type"], out["validation_level"]) == (
        "user_writer", "NodeUserWriterEffect", "Effect", level)
    assert out["validation_passed"] is True
    assert (out["bytes"], out["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert (out["implementation"], out["todo"]) == ("scaffold", ["with validation"])
    assert all(c["passed"] for c in out["checks"])
    assert len(out["checks"]) == {"lenient": 2, "moderate": 10, "strict": 13}[level]
    orjson.dumps(out)  # JSON-serialisable as it stands


def test_same_input_same_bytes(ws: Path) -> None:
    first = run(ws, output_path="a/node.py", node_name="user_writer")
    second = run(ws, output_path="b/node.py", node_name="user_writer")
    assert first["sha256"] == second["sha256"]
    assert (ws / "a/node.py").read_bytes() == (ws / "b/node.py").read_bytes()


def test_existing_file_is_never_silently_replaced(ws: Path) -> None:
    target = ws / "out" / "node.py"
    target.parent.mkdir()
    target.write_text("# hand-written, keep me\n")
    with pytest.raises(TaskFailure, match=r"""output file 'out/node.py' already exists and "overwrite" is false""") as err:
        run(ws)
    assert err.value.retryable is False
    assert target.read_text() == "# hand-written, keep me\n"
    out = run(ws, overwrite=True)
    assert target.read_bytes().startswith(b'"""NodeUserWriterEffect') and out["generated_file"] == str(target)


def _failing_context(ws: Path) -> None:
    """A context model whose module raises at import: the strict import check must reject the node."""
    (ws / "context").mkdir()
    (ws / "context" / "models.py").write_text(
        "from pydantic import BaseModel\n\nclass User(BaseModel):\n    email: str\n\n"
        "raise RuntimeError('the models module is broken')\n")


def test_rejected_code_goes_beside_the_target_never_over_it(ws: Path) -> None:
    _failing_context(ws)
    target = ws / "out" / "node.py"
    target.parent.mkdir()
    target.write_text("GOOD = True\n")
    with pytest.raises(TaskFailure) as err:
        run(ws, validation_level="strict", overwrite=True, context_files=["context/models.py"])
    failure = err.value
    assert str(failure).startswith("NodeUserWriterEffect failed strict validation (import_and_instantiate): "
                                   "import_and_instantiate: importing the module failed: RuntimeError: the "
                                   "models module is broken; the code was written to 'out/node.rejected.py'")
    assert failure.retryable is False  # the scaffold is deterministic: a retry gives the same code
    out = failure.output
    assert out is not None and set(out) == OUTPUT_KEYS
    assert (out["generated_file"], out["validation_passed"]) == (None, False)
    rejected = ws / "out" / "node.rejected.py"
    assert out["rejected_file"] == str(rejected)
    assert hashlib.sha256(rejected.read_bytes()).hexdigest() == out["sha256"]
    assert target.read_text() == "GOOD = True\n"
    assert [c["name"] for c in out["checks"] if not c["passed"]] == ["import_and_instantiate"]

    # the same task at moderate level passes: the broken import is only seen when importing
    (ws / "context" / "models.py").write_text("from pydantic import BaseModel\n\nclass User(BaseModel):\n    email: str\n")
    out = run(ws, validation_level="strict", overwrite=True, context_files=["context/models.py"])
    assert out["validation_passed"] and not rejected.exists()  # the stale rejected file is gone


def test_context_files_are_used(ws: Path) -> None:
    (ws / "context").mkdir()
    (ws / "context" / "models.py").write_text(
        "from pydantic import BaseModel\n\nclass User(BaseModel):\n    email: str\n\ndef normalise_email(raw):\n    return raw\n")
    (ws / "context" / "schema.sql").write_text("CREATE TABLE users (email text);\n")
    out = run(ws, validation_level="strict", contract_description=CONTRACT + " using normalise_email",
              context_files=["context/models.py", "context/schema.sql"])
    source = (ws / "out" / "node.py").read_text()
    assert "from context.models import User\n" in source and "    user: User = Field(" in source
    assert "normalise_email" in source
    assert [(c["name"], c["kind"], c["file"], c["imported_from"]) for c in out["context_used"]] == [
        ("User", "model", "context/models.py", "context.models"),
        ("normalise_email", "function", "context/models.py", "context.models")]
    assert out["warnings"] == ["context file context/schema.sql not a Python file: read as text, no names taken"]


@pytest.mark.parametrize(("files", "message"), [
    (["context/missing.py"], r"context file 'context/missing.py' does not exist"),
    (["context"], r"context file 'context' is not a regular file"),
])
def test_bad_context_file_fails_the_task(ws: Path, files: list[str], message: str) -> None:
    (ws / "context").mkdir()
    with pytest.raises(TaskFailure, match=message) as err:
        run(ws, context_files=files)
    assert err.value.retryable is False
    assert not (ws / "out").exists()


def test_unwritable_target_fails_clearly(ws: Path) -> None:
    (ws / "out").write_text("a file where a folder should be\n")
    with pytest.raises(TaskFailure, match=r"refusing to write 'out/node.py': .*/ws/out is not a folder$") as err:
        run(ws, validation_level="lenient")
    assert err.value.retryable is False


def test_claude_backend_without_credentials_fails_clearly_and_is_not_retried(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_claude.harness import use_fake

    use_fake(monkeypatch, tmp_path / "state", "not_logged_in")
    with pytest.raises(TaskFailure, match=r"^Claude Code is not authenticated: Not logged in") as err:
        run(ws, backend="claude")
    assert err.value.retryable is False
    assert not list(ws.rglob("*.py"))  # nothing written


@pytest.mark.parametrize(("field", "value", "message"), [
    ("output_path", "../outside.py", r"path '../outside.py' resolves to .*, outside the workspace"),
    ("output_path", "/etc/generated.py", r"path '/etc/generated.py' resolves to '/etc/generated.py', outside"),
    ("output_path", "link/node.py", r"path 'link/node.py' resolves to .*, outside the workspace"),
    ("output_path", "out/node.txt", r"output_path must name a .py file"),
    ("context_files", ["../secret.py"], r"path '../secret.py' resolves to .*, outside the workspace"),
    ("context_files", ["link/models.py"], r"path 'link/models.py' resolves to .*, outside the workspace"),
    ("node_type", "Service", r"Input should be 'Effect', 'Compute', 'Reducer' or 'Orchestrator'"),
    ("validation_level", "paranoid", r"Input should be 'lenient', 'moderate' or 'strict'"),
    ("backend", "gpt", r"Input should be 'scaffold' or 'claude'"),
    ("contract_description", "  ... ", r"contract_description must describe the node in words"),
    ("node_name", "___", r"node_name '___' must contain letters"),
    ("colour", "blue", r"Extra inputs are not permitted"),
])
def test_bad_input_is_refused_at_validation_time(tmp_path: Path, ws: Path, field: str, value: Any,
                                                 message: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, ws / "link")
    with pytest.raises(ValidationError, match=message):
        parse(ws, **{field: value})


def test_output_cannot_be_a_context_file(ws: Path) -> None:
    with pytest.raises(ValidationError, match=r"output_path '.*/out/node.py' is also listed in context_files"):
        parse(ws, context_files=["out/node.py"])


def test_node_type_any_case_and_paths_resolved(ws: Path) -> None:
    data = parse(ws, node_type="orchestrator", context_files=["a.py"])
    assert data.node_type == "Orchestrator"
    assert data.output_path == str(ws.resolve() / "out" / "node.py")
    assert data.context_files == [str(ws.resolve() / "a.py")]


def test_parallel_tasks_do_not_block_the_event_loop(ws: Path) -> None:
    """Three strict tasks at once: the loop keeps ticking while they validate (threads, subprocesses)."""

    async def main() -> tuple[list[dict[str, Any]], int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        started = time.monotonic()
        outs = await asyncio.gather(*(
            CoderAgent().run(parse(ws, output_path=f"out/n{i}.py", validation_level="strict",
                                   contract_description=f"Effect node that writes item{i} data"), context(ws, f"t{i}"))
            for i in range(3)))
        elapsed = time.monotonic() - started
        stop.set()
        await tick_task
        return outs, ticks, elapsed

    outs, ticks, elapsed = asyncio.run(main())
    assert all(o["validation_passed"] for o in outs)
    assert ticks >= (elapsed / 0.01) * 0.3, (ticks, elapsed)


def test_example_01_runs_through_the_dispatcher(tmp_path: Path) -> None:
    from parallel_execution.dispatcher import adispatch

    workspace = tmp_path / "workspace"
    shutil.copytree(REPO / "examples" / "workspace", workspace, ignore=shutil.ignore_patterns("generated"))
    document = orjson.loads((REPO / "examples" / "01_parallel_generation.json").read_bytes())
    document["config"].update(workspace=str(workspace), trace_dir=str(tmp_path / "traces"))
    result = asyncio.run(adispatch(document))
    assert [(r.task_id, r.status) for r in result.results] == [
        ("gen-user-effect", "success"), ("gen-product-effect", "success"), ("gen-order-effect", "success")]
    user = (workspace / "generated" / "node_user_writer_effect.py").read_text()
    assert "from context.models import User" in user and "class NodeUserWriterEffect:" in user
    order = next(r for r in result.results if r.task_id == "gen-order-effect").output
    assert order is not None and order["todo"] == ["with event emission"]
    assert [c["name"] for c in order["context_used"]] == ["OrderStatus", "Order"]
    updater = (workspace / "generated" / "node_order_updater_effect.py").read_text()
    assert "from context.models import OrderStatus" in updater and "    status: OrderStatus = Field(" in updater


def test_sibling_modules_show_the_projects_conventions_too(ws: Path) -> None:
    (ws / "out").mkdir()
    (ws / "out" / "node_other_effect.py").write_text("from dataclasses import dataclass\n\n\n@dataclass\nclass Row:\n"
                                                    "    id: int\n")
    out = run(ws, validation_level="lenient")
    assert out["conventions"] == [{"file": "out/node_other_effect.py", "base_classes": [], "model_style": "dataclass",
                                   "imports": [], "note": None}]
