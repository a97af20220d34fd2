"""``backend: "claude"`` through the real coder and debug agents and the dispatcher (stand-in CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_claude.harness import calls, use_fake

from parallel_execution import dispatch


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "generated").mkdir(parents=True)
    return ws


def scaffold_of(workspace: Path, tmp_path: Path) -> str:
    """A valid ONEX Compute node (the scaffold backend's), to play the model's repaired code."""
    task = {"task_id": "s", "agent": "coder", "input_data": {
        "contract_description": "Compute node that totals order lines", "node_type": "Compute",
        "node_name": "order_total", "output_path": "scaffold/node_order_total_compute.py"}}
    result = dispatch([task], {"workspace": str(workspace), "trace_dir": str(tmp_path / "t0")})
    return Path(result.results[0].output["generated_file"]).read_text()


def test_coder_claude_backend_repairs_and_only_validated_code_lands(tmp_path, workspace, monkeypatch):
    good = scaffold_of(workspace, tmp_path)
    broken = good.replace("from pydantic import", "from pydantic_typo import", 1)
    (tmp_path / "good.py").write_text(good)
    (tmp_path / "broken.py").write_text(broken)
    state = use_fake(monkeypatch, tmp_path / "state", "broken_then_fixed",
                     broken_code_file=str(tmp_path / "broken.py"), fixed_code_file=str(tmp_path / "good.py"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    task = {"task_id": "gen", "agent": "coder", "input_data": {
        "contract_description": "Compute node that totals order lines", "node_type": "Compute",
        "node_name": "order_total", "output_path": "generated/node_order_total_compute.py",
        "validation_level": "moderate", "backend": "claude"}}
    result = dispatch([task], {"workspace": str(workspace), "trace_dir": str(tmp_path / "t"), "budget_usd": 1.0})
    (r,) = result.results
    assert r.status == "success", r.error
    assert r.output["implementation"] == "claude" and r.output["validation_passed"] is True
    assert (workspace / "generated" / "node_order_total_compute.py").read_text() == good
    _, second = calls(state)
    assert "--resume" in second["argv"]  # the failed checks went back into the same session
    assert r.cost_usd == result.summary.total_cost_usd == 0.04


def test_debug_claude_backend_merges_the_model_diagnosis(tmp_path, workspace, monkeypatch):
    (workspace / "app.py").write_text("def login(user):\n    return sys.argv\n")
    diagnosis = {"root_cause": {"file": "app.py", "line": 2, "summary": "sys is never imported"},
                 "findings": [{"rule": "model-note", "file": "app.py", "line": 99, "message": "made up"}]}
    text = "Checked app.py.\n\n```json\n" + json.dumps(diagnosis) + "\n```"
    use_fake(monkeypatch, tmp_path / "state", "success", result=text)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    task = {"task_id": "dbg", "agent": "debug", "input_data": {
        "problem_description": "login crashes", "affected_files": ["app.py"], "backend": "claude"}}
    result = dispatch([task], {"workspace": str(workspace), "trace_dir": str(tmp_path / "t")})
    (r,) = result.results
    assert r.status == "success", r.error
    assert r.output["claude"]["narrative"] == "Checked app.py."
    assert [(f["rule"], f["line"], f["source"]) for f in r.output["findings"]] == [("missing-import", 2, "static")]
    assert [f["line"] for f in r.output.get("unverified_findings", [])] == [99]  # no line 99 in app.py


def test_model_tasks_are_skipped_once_the_budget_is_spent(tmp_path, workspace, monkeypatch):
    use_fake(monkeypatch, tmp_path / "state", "expensive")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    # Each session costs $0.60: the first spends the $0.50 cap (its own --max-budget-usd stops it),
    # so the others never start.
    tasks = [{"task_id": f"c{i}", "agent": "claude", "input_data": {"prompt": "review"}} for i in range(3)]
    result = dispatch(tasks, {"workspace": str(workspace), "trace_dir": str(tmp_path / "t"), "budget_usd": 0.5,
                              "max_workers": 1})
    first, *rest = result.results
    assert first.status == "error" and first.error.startswith("stopped at the budget limit")
    assert [r.status for r in rest] == ["skipped", "skipped"]
    assert all(r.error.startswith("skipped: budget_exhausted") for r in rest)
    assert result.summary.total_cost_usd == first.cost_usd == 0.6


