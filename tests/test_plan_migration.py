"""Auto-Claude plans as their own fixtures write them (issue 13, items 18-20): ``chunks``,
``subtask_id``/``title``/``not_started``, plan-level status, stuck plans exit 1, no lock file for
invalid input, deep nesting an input error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_plan_file import run_plan

from parallel_execution.errors import InvalidInput
from parallel_execution.plans.file import parse_plan


def chunk(sid: str, status: str = "not_started", **extra: Any) -> dict[str, Any]:
    return {"subtask_id": sid, "title": f"do {sid}", "description": "", "status": status, "agent": "echo",
            "input_data": {"message": sid}, **extra}


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    plan = tmp_path / "implementation_plan.json"
    plan.write_text(json.dumps(document, indent=2) + "\n")
    return plan


def test_chunks_subtask_ids_titles_and_not_started_are_understood():
    parsed = parse_plan(json.dumps({"phases": [{"phase": 1, "chunks": [chunk("a"), chunk("b")]}]}))
    (phase,) = parsed.model.phases
    assert [(str(s.id), s.description, s.status) for s in phase.subtasks] == [
        ("a", "do a", "pending"), ("b", "do b", "pending")]


def test_an_auto_claude_plan_runs_its_chunks_and_writes_statuses_and_plan_status_back(tmp_path, capsys):
    plan = write(tmp_path, {"feature": "x", "status": "backlog", "planStatus": "pending",
                            "phases": [{"phase": 1, "name": "one", "chunks": [chunk("a"), chunk("b")]},
                                       {"phase": 2, "depends_on": [1], "chunks": [chunk("c")]}]})
    code, result, _ = run_plan(capsys, plan)
    assert code == 0 and [r["task_id"] for r in result["results"]] == ["a", "b", "c"]
    after = json.loads(plan.read_text())
    assert [s["status"] for p in after["phases"] for s in p["chunks"]] == ["completed"] * 3
    assert (after["status"], after["planStatus"]) == ("ai_review", "review")
    assert "subtasks" not in after["phases"][0]  # the file keeps its own shape


def test_a_plan_left_with_blocked_or_unclaimed_in_progress_subtasks_exits_1_naming_them(tmp_path, capsys):
    plan = write(tmp_path, {"phases": [{"phase": 1, "chunks": [chunk("a", "completed"), chunk("b", "blocked"),
                                                               chunk("c", "in_progress")]}]})
    code, result, err = run_plan(capsys, plan)
    assert code == 1
    assert result["summary"]["total_tasks"] == 0
    assert "stuck" in err and "b (" in err and "c (" in err


def test_invalid_plan_input_leaves_no_lock_file(tmp_path, capsys):
    plan = write(tmp_path, {"phases": [{"phase": 1, "chunks": [chunk("a", agent="no-such-agent")]}]})
    code, result, _ = run_plan(capsys, plan)
    assert code == 2 and result["status"] == "invalid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["implementation_plan.json"]


def test_a_plan_nested_100k_deep_is_an_input_error(tmp_path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text('{"phases": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, result, _ = run_plan(capsys, plan)
    assert code == 2 and result["status"] == "invalid"
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse_plan(plan.read_text())
