"""The scaffold backend: every node type validates at every level, imports in plain Python,
is byte-for-byte deterministic, and its generated control flow really works."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from parallel_execution.agents.coder.context import read_context_files
from parallel_execution.agents.coder.scaffold import render_source, todo_lines
from parallel_execution.agents.coder.spec import build_spec
from parallel_execution.agents.coder.validator import validate_source

CONTRACTS = {
    "Effect": "Effect node that writes user data to PostgreSQL users table with validation",
    "Compute": "Compute node that optimizes database queries by analyzing and rewriting query plans",
    "Reducer": "Reducer node that implements Redis caching for API responses with TTL management",
    "Orchestrator": "Orchestrator node that coordinates user signup: create the account, then send a welcome email",
}
REPO = Path(__file__).resolve().parent.parent


def generate(tmp_path: Path, node_type: str, contract: str | None = None, **kwargs: Any) -> tuple[Path, str]:
    spec = build_spec(contract or CONTRACTS[node_type], node_type, **kwargs)  # type: ignore[arg-type]
    source = render_source(spec)
    path = tmp_path / spec.names.file_name
    path.write_text(source)
    return path, source


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("level", ["lenient", "moderate", "strict"])
@pytest.mark.parametrize("node_type", list(CONTRACTS))
def test_every_node_type_passes_every_level(node_type: str, level: str, tmp_path: Path) -> None:
    path, source = generate(tmp_path, node_type)
    report = asyncio.run(validate_source(source, node_type, level, node_name=path.stem[5:-len(node_type) - 1],  # type: ignore[arg-type]
                                         path=path))
    assert report.passed, report.summary()
    assert all(c.passed for c in report.checks), [c for c in report.checks if not c.passed]  # not even warnings
    if level == "strict":  # Python itself agrees: a fresh interpreter imports it and builds the node
        class_name = report.class_name
        proc = subprocess.run([sys.executable, "-c", f"import {path.stem} as m; m.{class_name}()"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


def test_same_input_same_bytes_across_processes(tmp_path: Path) -> None:
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "models.py").write_text(
        "from pydantic import BaseModel\n\nclass User(BaseModel):\n    email: str\n\nclass Audit:\n    pass\n")
    script = (
        "import hashlib, sys\nfrom pathlib import Path\n"
        "from parallel_execution.agents.coder.context import read_context_files\n"
        "from parallel_execution.agents.coder.scaffold import render_source\n"
        "from parallel_execution.agents.coder.spec import build_spec\n"
        f"root = Path({str(tmp_path)!r})\n"
        "files = read_context_files([root / 'context/models.py'], workspace_root=root, search_roots=[root])\n"
        "for t in ('Effect', 'Compute', 'Reducer', 'Orchestrator'):\n"
        "    spec = build_spec('writes user data with validation, then records an Audit', t, context_files=files)\n"
        "    print(hashlib.sha256(render_source(spec).encode()).hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        digests.add(proc.stdout)
    assert len(digests) == 1
    assert len(set(next(iter(digests)).split())) == 4  # four different node types, four different files


def test_todo_names_the_contract_lines(tmp_path: Path) -> None:
    expected = {
        "Effect": ["with validation"],
        "Compute": ["Compute node that optimizes database queries", "by analyzing and rewriting query plans"],
        "Reducer": ["Reducer node that implements Redis caching for API responses", "with TTL management"],
        "Orchestrator": ["create the account", "send a welcome email"],
    }
    for node_type, lines in expected.items():
        _, source = generate(tmp_path, node_type)
        assert todo_lines(source) == lines
        for line in lines:
            assert f"    - {line}" in source  # listed in the module docstring too


def test_todo_lines_from_any_backend() -> None:
    source = ('def f():\n    raise NotImplementedError(f"X: implement the contract line: sends mail")\n'
              'def g():\n    raise NotImplementedError("TODO: caching")\n'
              'def h():\n    raise NotImplementedError\n')
    assert todo_lines(source) == ["sends mail", "TODO: caching"]
    assert todo_lines("def broken(:\n") == []


class FakeClient:
    """Fails the first ``failures`` calls with ``error``, or sleeps ``delay`` seconds, then answers."""

    def __init__(self, failures: int = 0, error: type[BaseException] = ConnectionError, delay: float = 0.0) -> None:
        self.failures, self.error, self.delay = failures, error, delay
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def execute(self, operation: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, target, payload))
        if len(self.calls) <= self.failures:
            raise self.error("transient")
        await asyncio.sleep(self.delay)
        return {"rows": 1}


def test_effect_io_retries_and_times_out(tmp_path: Path) -> None:
    path, _ = generate(tmp_path, "Effect", "Effect node that writes order data to the orders table")
    module = load(path)
    fast = module.ModelRetryPolicy(max_attempts=3, initial_delay_seconds=0.0)
    request = module.ModelOrderWriterInput(order={"id": 7})

    client = FakeClient(failures=2)
    out = asyncio.run(module.NodeOrderWriterEffect(client).execute_effect(request, retry_policy=fast))
    assert (out.success, out.attempts, out.operation, out.target, out.result) == (True, 3, "write", "orders", {"rows": 1})
    assert client.calls[0] == ("write", "orders", {"order": {"id": 7}})

    client = FakeClient(failures=5)
    with pytest.raises(ConnectionError):
        asyncio.run(module.NodeOrderWriterEffect(client).execute_effect(request, retry_policy=fast))
    assert len(client.calls) == 3

    slow = FakeClient(delay=5.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(module.NodeOrderWriterEffect(slow).execute_effect(request, timeout_seconds=0.05, retry_policy=fast))
    assert len(slow.calls) == 3 and time.monotonic() - started < 2

    with pytest.raises(RuntimeError, match=r"NodeOrderWriterEffect needs a client"):
        asyncio.run(module.NodeOrderWriterEffect().execute_effect(request))
    assert module.ModelRetryPolicy(initial_delay_seconds=1, backoff_factor=3, max_delay_seconds=5) \
        .delay_before_retry(3) == 5.0


def test_effect_steps_run_before_and_after_the_io(tmp_path: Path) -> None:
    path, _ = generate(tmp_path, "Effect", "Effect node that updates order status with validation with event emission")
    module = load(path)
    client = FakeClient()
    node = module.NodeOrderUpdaterEffect(client)
    request = module.ModelOrderUpdaterInput(order_id="o-1", status="paid")
    with pytest.raises(NotImplementedError, match=r"_step_validation is a scaffold; implement the contract line: "
                                                  r"with validation$"):
        asyncio.run(node.execute_effect(request))
    assert client.calls == []  # validation comes before any I/O

    class Done(module.NodeOrderUpdaterEffect):  # type: ignore[name-defined]
        def _step_validation(self, input_data: Any) -> None:
            pass

        async def _step_event_emission(self, input_data: Any, result: dict[str, Any]) -> dict[str, Any]:
            return {**result, "emitted": input_data.status}

    out = asyncio.run(Done(client).execute_effect(request))
    assert out.result == {"rows": 1, "emitted": "paid"}
    assert client.calls == [("update", "orders", {"order_id": "o-1", "status": "paid"})]


def test_compute_and_reducer_fold(tmp_path: Path) -> None:
    path, _ = generate(tmp_path, "Reducer", "Reducer that counts page views per user")
    module = load(path)
    with pytest.raises(NotImplementedError, match=r"implement the contract line: Reducer that counts page views"):
        module.NodePageCounterReducer().execute_reduction(module.ModelPageCounterOutput(),
                                                          module.ModelPageCounterInput(event_type="view", key="u1"))

    class Counter(module.NodePageCounterReducer):  # type: ignore[name-defined]
        def _step_count_page_views_user(self, entries: dict[str, Any], event: Any) -> dict[str, Any]:
            entries[event.key] = entries.get(event.key, 0) + 1
            return entries

    initial = module.ModelPageCounterOutput(entries={"u0": 4})
    events = [module.ModelPageCounterInput(event_type="view", key=k) for k in ("u1", "u2", "u1")]
    state = Counter().reduce_events(events, initial)
    assert (state.entries, state.version) == ({"u0": 4, "u1": 2, "u2": 1}, 3)
    assert initial.entries == {"u0": 4}  # the fold never mutates its input

    path, _ = generate(tmp_path, "Compute", "Compute node that scores products, then ranks them")
    compute = load(path)

    class Ranker(compute.NodeProductScorerCompute):  # type: ignore[name-defined]
        def _step_score_products(self, input_data: Any, result: dict[str, Any]) -> dict[str, Any]:
            return {"scores": {k: len(k) for k in input_data.product}}

        def _step_rank_them(self, input_data: Any, result: dict[str, Any]) -> dict[str, Any]:
            return {**result, "ranked": sorted(result["scores"], key=result["scores"].get)}

    out = Ranker().execute_compute(compute.ModelProductScorerInput(product={"abc": 1, "a": 2}))
    assert out.result["ranked"] == ["a", "abc"]


@pytest.mark.parametrize(("contract", "overlap"), [
    ("Orchestrator node that coordinates checkout: reserve stock, then charge the card", False),
    ("Orchestrator node that runs in parallel: fetch prices, fetch stock", True),
])
def test_orchestrator_runs_steps_in_order_or_concurrently(tmp_path: Path, contract: str, overlap: bool) -> None:
    path, _ = generate(tmp_path, "Orchestrator", contract, node_name="shop")
    module = load(path)
    running: list[int] = [0]
    peak: list[int] = [0]

    async def step(self: Any, input_data: Any, results: dict[str, Any]) -> Any:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.05)
        running[0] -= 1
        return sorted(results)

    overrides = {f"_step_{name}": step for name in module.NodeShopOrchestrator.steps}
    node_class = type("Done", (module.NodeShopOrchestrator,), overrides)
    (payload_field,) = module.ModelShopInput.model_fields  # named after the contract's entity
    out = asyncio.run(node_class().execute_orchestration(module.ModelShopInput(**{payload_field: {}})))
    assert out.completed_steps == list(module.NodeShopOrchestrator.steps)
    assert (peak[0] > 1) is overlap
    if not overlap:  # each step sees the results of the steps before it
        assert list(out.results.values()) == [[], [out.completed_steps[0]]]


def test_context_model_types_the_payload_and_imports(tmp_path: Path) -> None:
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "models.py").write_text(
        '"""Models."""\nfrom pydantic import BaseModel\n\n\nclass User(BaseModel):\n    """A user."""\n\n    email: str\n')
    out = tmp_path / "generated"
    out.mkdir()
    files = read_context_files([tmp_path / "context" / "models.py"], workspace_root=tmp_path,
                               search_roots=[out, tmp_path])
    spec = build_spec(CONTRACTS["Effect"], "Effect", context_files=files)
    source = render_source(spec)
    assert "from context.models import User\n" in source
    assert "    user: User = Field(" in source
    assert "- User: class User(BaseModel) (context/models.py, line 5); types the user field" in source
    path = out / spec.names.file_name
    report = asyncio.run(validate_source(source, "Effect", "strict", node_name="user_writer", path=path,
                                         import_roots=[tmp_path]))
    assert report.passed, report.summary()
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert hashlib.sha256(render_source(build_spec(CONTRACTS["Effect"], "Effect", context_files=files))
                          .encode()).hexdigest() == digest


@pytest.mark.parametrize("contract", [
    'Effect node that writes """quoted""" data \\ with a backslash and "quotes"',
    "Compute node that scores\n\n- first line\n- second: with detail",
    "Effect node that writes données to the café table",
])
def test_awkward_contracts_still_give_valid_code(tmp_path: Path, contract: str) -> None:
    node_type = contract.split()[0]
    path, source = generate(tmp_path, node_type, contract)
    report = asyncio.run(validate_source(source, node_type, "strict", path=path))  # type: ignore[arg-type]
    assert report.passed, report.summary()
    assert contract.strip() == load(path).CONTRACT
