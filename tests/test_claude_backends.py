"""The claude backend of coder (write, validate, repair by resuming) and debug (diagnose from evidence)."""

from __future__ import annotations

import ast
import asyncio
import builtins
import json
from pathlib import Path
from typing import Any

import pytest
from fake_claude.harness import calls, events, make_ctx, use_fake

from parallel_execution.agents.base import TaskContext
from parallel_execution.claude_code.backends import diagnose, generate_code
from parallel_execution.errors import TaskFailure

REPO = Path(__file__).resolve().parent.parent


def names_resolve(code: str) -> tuple[bool, list[dict[str, Any]]]:
    """A small stand-in for the coder's validator: the code parses and every loaded name is bound."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return False, [{"name": "syntax", "passed": False, "message": str(exc)}]
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    missing = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound)
    check = {"name": "names_resolve", "passed": not missing,
             "message": f"undefined names: {', '.join(missing)}" if missing else "all names resolve"}
    return not missing, [{"name": "syntax", "passed": True, "message": "parses"}, check]


def generate(ctx: TaskContext, **kwargs: Any) -> dict[str, Any]:
    args = {"contract": "Serialise a user to JSON", "node_type": "Compute", "output_path": "nodes/dump.py",
            "validate": names_resolve, **kwargs}
    return asyncio.run(generate_code(ctx, **args))


def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, **env: str) -> tuple[Path, TaskContext]:
    state = use_fake(monkeypatch, tmp_path / "state", scenario, **env)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    ctx = make_ctx(tmp_path, budget=5.0)
    (ctx.workspace.root / "nodes").mkdir()
    return state, ctx


def test_broken_code_is_repaired_in_the_same_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, ctx = workspace(tmp_path, monkeypatch, "broken_then_fixed")
    out = generate(ctx, context_files=["nodes/base.py"])
    target = ctx.workspace.root / "nodes" / "dump.py"
    assert out["validation_passed"] is True and out["generated_file"] == str(target)
    assert "import json" in target.read_text()
    assert out["repair_rounds"] == 1
    assert [c["passed"] for c in out["checks"]] == [True, True]
    first, second = calls(state)
    session_id = first["argv"][first["argv"].index("--session-id") + 1]
    assert second["argv"][second["argv"].index("--resume") + 1] == session_id == out["session_id"]
    assert "undefined names: json" in second["prompt"]  # the failed check went back into the session
    # The session wrote a staging copy with the same file name; the target only got validated code.
    task_input = json.loads(first["prompt"].split("```json\n")[1].split("\n```")[0])
    assert Path(task_input["output_path"]).name == "dump.py" and task_input["output_path"] != str(target)
    assert task_input["context_files"] == ["nodes/base.py"]
    assert task_input["contract_description"] == "Serialise a user to JSON"
    assert not (ctx.workspace.root / "nodes" / ".dispatch-staging").exists()
    assert out["report"]["generated_file"] == str(target)
    assert out["files_changed"] == {"created": ["nodes/dump.py"], "modified": [], "deleted": []}
    assert out["unexpected_changes"] == []
    assert out["total_cost_usd"] == 0.04 and ctx.cost_usd == 0.04
    assert [(e["round"], e["passed"], e["failed"]) for e in events(ctx, "claude_validation")] == [
        (0, False, ["names_resolve"]), (1, True, [])]
    # The coder definition is the system prompt; its write tools are approved in the staging folder only.
    coder_body = (REPO / "agents" / "coder.md").read_text().split("\n---\n", 1)[1].strip()
    assert first["system_prompt"] == coder_body
    assert first["argv"][first["argv"].index("--permission-mode") + 1] == "default"
    assert first["argv"][first["argv"].index("--allowedTools") + 1] == \
        "Read,Grep,Glob,Edit(nodes/.dispatch-staging/t1.1/**)"


def test_code_that_stays_broken_never_reaches_the_output_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, ctx = workspace(tmp_path, monkeypatch, "broken_then_fixed", fix="never")
    with pytest.raises(TaskFailure, match=r"^generated code failed validation after 2 repair round\(s\): names_resolve$") as info:
        generate(ctx, repair_attempts=2)
    assert not (ctx.workspace.root / "nodes" / "dump.py").exists()
    output = info.value.output
    assert output["validation_passed"] is False and output["generated_file"] is None
    assert "json.dumps" in Path(output["rejected_file"]).read_text()
    assert output["rejected_file"] == str(tmp_path / "traces" / "t1.rejected.py")
    assert len(calls(state)) == 3 and output["total_cost_usd"] == 0.06
    assert output["report"]["generated_file"] is None


def test_no_repair_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, ctx = workspace(tmp_path, monkeypatch, "broken_then_fixed")
    with pytest.raises(TaskFailure, match=r"after 0 repair round\(s\): names_resolve$"):
        generate(ctx, repair_attempts=0)
    assert len(calls(state)) == 1


def test_a_session_that_writes_nothing_fails_the_file_written_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, ctx = workspace(tmp_path, monkeypatch, "success")
    with pytest.raises(TaskFailure, match=r"after 1 repair round\(s\): file_written$") as info:
        generate(ctx)
    assert info.value.output["checks"][0]["message"].endswith("dump.py was not written: the session did not write it")
    assert "rejected_file" not in info.value.output
    assert len(calls(state)) == 2


def test_existing_output_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, ctx = workspace(tmp_path, monkeypatch, "broken_then_fixed")
    (ctx.workspace.root / "nodes" / "dump.py").write_text("keep me")
    with pytest.raises(TaskFailure, match=r"nodes/dump\.py already exists and overwrite is false$"):
        generate(ctx)
    assert calls(state) == [] and (ctx.workspace.root / "nodes" / "dump.py").read_text() == "keep me"
    out = generate(ctx, overwrite=True)
    assert out["files_changed"]["modified"] == ["nodes/dump.py"]


def test_output_path_outside_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, ctx = workspace(tmp_path, monkeypatch, "broken_then_fixed")
    with pytest.raises(TaskFailure, match=r"^output_path: path '\.\./evil\.py' resolves to"):
        generate(ctx, output_path="../evil.py")


DIAGNOSIS = {
    "root_cause": {"rule": "undefined-name", "file": "src/login.py", "line": 2, "summary": "check is not defined",
                   "confidence": 0.9, "why": ["the trace says so"]},
    "findings": [],
    "hypothesis_check": {"hypothesis": "renamed", "verdict": "supported", "supported": True, "explanation": "yes"},
}


def test_diagnose_passes_evidence_and_returns_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    text = "I read login.py.\n\n```json\n" + json.dumps(DIAGNOSIS) + "\n```"
    state, ctx = workspace(tmp_path, monkeypatch, "success", result=text)
    evidence = {"findings": [{"rule": "undefined-name", "file": "src/login.py", "line": 2}]}
    out = asyncio.run(diagnose(ctx, evidence=evidence, problem_description="login fails", hypothesis="renamed",
                               affected_files=["src/login.py"], error_traces=["NameError: check"], max_turns=5))
    assert out["diagnosis"] == DIAGNOSIS and out["narrative"] == "I read login.py."
    assert out["report_error"] is None and out["backend"] == "claude" and out["total_cost_usd"] == 0.0123
    [call] = calls(state)
    blocks = [json.loads(b.split("\n```")[0]) for b in call["prompt"].split("```json\n")[1:]]
    assert blocks[0] == {"problem_description": "login fails", "affected_files": ["src/login.py"],
                         "error_traces": ["NameError: check"], "analysis_depth": "standard", "hypothesis": "renamed"}
    assert blocks[1] == evidence
    assert call["argv"][call["argv"].index("--allowedTools") + 1] == "Read,Grep,Glob"
    assert "--permission-mode" not in call["argv"]  # headless default: anything but the allowed tools is denied
    assert call["argv"][call["argv"].index("--max-turns") + 1] == "5"
    assert call["system_prompt"].startswith("You find out why something fails")


def test_diagnose_without_a_json_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, ctx = workspace(tmp_path, monkeypatch, "success", result="It is probably the cache.")
    out = asyncio.run(diagnose(ctx, evidence={}, problem_description="slow"))
    assert out["diagnosis"] is None and out["narrative"] == "It is probably the cache."
    assert out["report_error"] == "the session's final message has no JSON report"


def test_diagnose_failure_is_a_task_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, ctx = workspace(tmp_path, monkeypatch, "not_logged_in")
    with pytest.raises(TaskFailure, match=r"^Claude Code is not authenticated: Not logged in"):
        asyncio.run(diagnose(ctx, evidence={}, problem_description="slow"))


def test_async_validator_and_returning_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # As the coder agent would: its validator is a coroutine and it writes files itself.
    _, ctx = workspace(tmp_path, monkeypatch, "broken_then_fixed")
    seen: list[str] = []

    async def validate(code: str) -> tuple[bool, list[dict[str, Any]]]:
        seen.append(code)
        await asyncio.sleep(0)
        return names_resolve(code)

    out = generate(ctx, validate=validate, write_output=False)
    assert len(seen) == 2 and out["source"] == seen[-1] and "import json" in out["source"]
    assert out["generated_file"] is None and out["validation_passed"] is True
    assert not (ctx.workspace.root / "nodes" / "dump.py").exists()
