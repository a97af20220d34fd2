"""The debug agent end to end: input contract, files, depths, hypotheses, fixes, examples."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.debug import DebugAgent, DebugInput, analyse
from parallel_execution.agents.debug import agent as agent_module
from parallel_execution.agents.debug.agent import AnalysisCancelled
from parallel_execution.agents.registry import load_agent
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePolicy

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "debug_corpus"
EXAMPLE_WORKSPACE = REPO / "examples" / "workspace"


def context(root: Path) -> TaskContext:
    return TaskContext(task_id="t", dispatch_id="d", description="", attempt=1,
                       workspace=WorkspacePolicy.create(root), artifacts_dir=root)


def validate(root: Path, **data: Any) -> DebugInput:
    return DebugInput.model_validate(data, context=WorkspacePolicy.create(root).as_context())


def run_agent(root: Path, **data: Any) -> dict[str, Any]:
    return asyncio.run(DebugAgent().run(validate(root, **data), context(root)))


def corpus_case(tmp_path: Path, case: str) -> tuple[Path, str]:
    """Copy a corpus case into ``tmp_path`` and return it with its real traceback."""
    workspace = tmp_path / case
    shutil.copytree(CORPUS / case, workspace)
    run = json.loads((workspace / "expected.json").read_text())["run"]
    proc = subprocess.run([sys.executable, "-B", run], cwd=workspace, capture_output=True, text=True, timeout=60)
    return workspace, proc.stderr


def test_registered_by_name_and_reads_affected_files() -> None:
    assert load_agent("debug") is DebugAgent
    assert DebugAgent.read_fields == ("affected_files",)
    assert DebugAgent.task_uses_model({"backend": "claude"}) and not DebugAgent.task_uses_model({})


@pytest.mark.parametrize("data, match", [
    ({"affected_files": ["a.py"]}, "problem_description\n  Field required"),
    ({"problem_description": "x", "affected_files": []}, "affected_files\n  List should have at least 1 item"),
    ({"problem_description": "x", "affected_files": ["../outside.py"]}, "outside the workspace"),
    ({"problem_description": "x", "affected_files": ["/etc/passwd"]}, "outside the workspace"),
    ({"problem_description": "x", "affected_files": ["a.py"], "analysis_depth": "thorough"},
     "Input should be 'quick', 'standard' or 'deep'"),
    ({"problem_description": "x", "affected_files": ["a.py"], "backend": "gpt"}, "Input should be 'static' or 'claude'"),
    ({"problem_description": "x", "affected_files": ["a.py"], "verbose": True}, "Extra inputs are not permitted"),
])
def test_invalid_input_is_rejected_at_validation(tmp_path: Path, data: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        validate(tmp_path, **data)


def test_valid_input_defaults_and_resolved_paths(tmp_path: Path) -> None:
    data = validate(tmp_path, problem_description="x", affected_files=["pkg/*.py", "a.py"], error_traces="one trace")
    assert data.affected_files == [str(tmp_path / "pkg/*.py"), str(tmp_path / "a.py")]
    assert (data.error_traces, data.analysis_depth, data.hypothesis, data.backend) == (["one trace"], "standard", None, "static")


def test_claude_backend_without_credentials_fails_without_retry(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_claude.harness import use_fake

    use_fake(monkeypatch, tmp_path / "state", "not_logged_in")
    (tmp_path / "a.py").write_text("x = 1\n")
    with pytest.raises(TaskFailure, match=r"^Claude Code is not authenticated: Not logged in") as info:
        run_agent(tmp_path, problem_description="x", affected_files=["a.py"], backend="claude")
    assert info.value.retryable is False


def test_files_dirs_globs_missing_and_skipped(tmp_path: Path) -> None:
    for name in ["pkg/a.py", "pkg/sub/b.py", "pkg/.venv/lib/c.py", "pkg/__pycache__/d.py", "notes.txt", "tool"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("#!/usr/bin/env python3\nx = 1\n" if name == "tool" else "x = 1\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "link.py").symlink_to(outside / "secret.py")
    out = run_agent(tmp_path, problem_description="x",
                    affected_files=["pkg", "pkg/**/*.py", "notes.txt", "tool", "gone.py", "nothing/*.py"])
    assert out["files_analysed"] == sorted(str(tmp_path / n) for n in ["pkg/a.py", "pkg/sub/b.py", "tool"])
    assert out["missing_files"] == [str(tmp_path / "gone.py"), str(tmp_path / "nothing/*.py")]
    reasons = {Path(s["file"]).name: s["reason"] for s in out["skipped_files"]}
    assert reasons["notes.txt"] == "not a Python file"
    assert "outside the workspace" in reasons["link.py"] or "outside the workspace" in reasons["secret.py"]


def test_no_readable_file_fails_the_task_with_the_missing_list(tmp_path: Path) -> None:
    with pytest.raises(TaskFailure, match=r"none of the affected files can be read \(2 missing, 0 skipped\)") as info:
        run_agent(tmp_path, problem_description="x", affected_files=["a.py", "b.py"])
    assert info.value.retryable is False
    assert info.value.output == {"missing_files": [str(tmp_path / "a.py"), str(tmp_path / "b.py")], "skipped_files": []}


def test_missing_files_are_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import os\n")
    out = run_agent(tmp_path, problem_description="x", affected_files=["a.py", "b.py"])
    assert out["missing_files"] == [str(tmp_path / "b.py")]
    assert [f["rule"] for f in out["findings"]] == ["unused-import"]


def test_quick_mode_parses_maps_and_shows_code_without_static_checks(tmp_path: Path) -> None:
    workspace, trace = corpus_case(tmp_path, "03_call_arity_missing")
    out = run_agent(workspace, problem_description="x", affected_files=["main.py"], error_traces=[trace],
                    analysis_depth="quick")
    assert out["findings"] == [] and out["summary"]["index_modules"] == 0
    assert [(f["line"], f["function"], f["in_workspace"], f["affected"]) for f in out["frames"]] == [
        (12, "<module>", True, True), (9, "register", True, True)]
    root = out["root_cause"]
    assert (root["rule"], root["line"]) == ("call-arity", 9)
    assert out["suggested_fix"]["description"] == "pass the missing argument `salt`"
    (ctx,) = [c for c in out["code_context"] if c["role"] == "root-cause"]
    assert ">  9 |     return {\"user\": username, \"hash\": hash_password(password)}" in ctx["snippet"]


def test_depths_mean_cost_not_blindness_each_lists_the_checks_it_ran(tmp_path: Path) -> None:
    """quick: ruff + core; standard: + mypy using the imported module's types; deep: + bandit, whole package."""
    workspace, trace = corpus_case(tmp_path, "05_call_arity_cross_module")
    common = {"problem_description": "x", "affected_files": ["main.py"], "error_traces": [trace]}
    runs = {depth: run_agent(workspace, **common, analysis_depth=depth) for depth in ("quick", "standard", "deep")}
    tools = {depth: [c["tool"] for c in out["checks"]] for depth, out in runs.items()}
    assert tools == {"quick": ["ruff", "core"], "standard": ["ruff", "mypy", "core"],
                     "deep": ["ruff", "mypy", "bandit", "core"]}
    assert all(c["status"] == "ok" and c["rules"] for out in runs.values() for c in out["checks"])
    assert all(c["version"] for out in runs.values() for c in out["checks"] if c["tool"] != "core")
    assert runs["quick"]["findings"] == []
    for depth in ("standard", "deep"):
        (finding,) = runs[depth]["findings"]
        assert (finding["rule"], finding["line"], finding["tool"], finding["code"]) == ("call-arity", 5, "mypy",
                                                                                        "call-arg")
        assert runs[depth]["root_cause"]["line"] == 5
    assert runs["deep"]["summary"]["index_modules"] == 2


def test_workspace_files_in_the_traceback_are_analysed_too(tmp_path: Path) -> None:
    workspace, trace = corpus_case(tmp_path, "05_call_arity_cross_module")
    out = run_agent(workspace, problem_description="x", affected_files=["billing.py"], error_traces=[trace])
    assert out["files_analysed"] == [str(workspace / "billing.py")]
    assert out["trace_files"] == [str(workspace / "main.py")]
    assert [(Path(f["file"]).name, f["line"], f["rule"]) for f in out["findings"]] == [("main.py", 5, "call-arity")]
    assert (Path(out["root_cause"]["file"]).name, out["root_cause"]["line"]) == ("main.py", 5)


def test_frames_from_another_machine_map_by_path_suffix(tmp_path: Path) -> None:
    workspace, trace = corpus_case(tmp_path, "01_missing_import_sys")
    moved = trace.replace(str(workspace), "/home/ci/build/project")
    out = run_agent(workspace, problem_description="x", affected_files=["main.py"], error_traces=[moved])
    frame = out["frames"][-1]
    assert (frame["file"], frame["original_file"], frame["in_workspace"]) == (
        str(workspace / "main.py"), "/home/ci/build/project/main.py", True)
    assert (out["root_cause"]["rule"], out["root_cause"]["line"]) == ("missing-import", 6)


def test_output_is_deterministic_sorted_json_with_absolute_paths(tmp_path: Path) -> None:
    workspace = EXAMPLE_WORKSPACE
    data = {"problem_description": "security review", "affected_files": ["buggy_app"], "analysis_depth": "deep"}
    first, second = run_agent(workspace, **data), run_agent(workspace, **data)
    for out in (first, second):  # timings and cache hits are the only fields that may differ
        out["checks"] = [{k: v for k, v in c.items() if k not in ("seconds", "cached")} for c in out["checks"]]
    assert orjson.dumps(first) == orjson.dumps(second)
    keys = [(f["file"], f["line"], f["column"], f["rule"]) for f in first["findings"]]
    assert keys == sorted(keys) and len(keys) >= 11
    assert all(os.path.isabs(f["file"]) for f in first["findings"])
    assert all(os.path.isabs(p) for p in first["files_analysed"])
    assert [h["rank"] for h in first["hypotheses"]] == list(range(1, len(first["hypotheses"]) + 1))
    confidences = [h["confidence"] for h in first["hypotheses"]]
    assert confidences == sorted(confidences, reverse=True)


DEMO_TRACE = json.loads((REPO / "examples" / "02_debug_then_fix.json").read_text())["tasks"][0]["input_data"][
    "error_traces"]


@pytest.mark.parametrize("hypothesis, verdict, supported", [
    ("hash_password is called without the user's salt", "supported", True),
    ("sys is never imported in auth.py", "partially_supported", False),
    ("a typo in a variable name", "not_supported", False),
    ("the database is down", "inconclusive", None),
])
def test_hypothesis_is_checked_against_the_evidence(hypothesis: str, verdict: str, supported: bool | None) -> None:
    out = run_agent(EXAMPLE_WORKSPACE, problem_description="login fails", affected_files=["buggy_app/auth.py"],
                    error_traces=DEMO_TRACE, hypothesis=hypothesis)
    assert (out["hypothesis_check"]["verdict"], out["hypothesis_supported"]) == (verdict, supported)


def test_no_hypothesis_no_verdict_and_review_without_traces_supports_any_finding() -> None:
    out = run_agent(EXAMPLE_WORKSPACE, problem_description="review", affected_files=["buggy_app/sessions.py"],
                    hypothesis="")
    assert out["hypothesis_check"] is None and out["hypothesis_supported"] is None
    out = run_agent(EXAMPLE_WORKSPACE, problem_description="review", affected_files=["buggy_app/sessions.py"],
                    hypothesis="cookies are unpickled")
    assert (out["hypothesis_check"]["verdict"], out["hypothesis_check"]["matched"]) == ("supported", ["pickle-loads"])


@pytest.mark.parametrize("checkout", ["as recorded", "/elsewhere/repo"])
def test_example_traceback_root_cause_is_the_original_exception_of_the_chain(checkout: str) -> None:
    traces = DEMO_TRACE if checkout == "as recorded" else [t.replace("/work/main", checkout) for t in DEMO_TRACE]
    out = run_agent(EXAMPLE_WORKSPACE, problem_description="login fails", affected_files=["buggy_app/auth.py"],
                    error_traces=traces)
    assert [(e["type"], e["relation"]) for e in out["exceptions"]] == [
        ("TypeError", None), ("buggy_app.auth.AuthenticationError", "cause")]
    root = out["root_cause"]
    assert (Path(root["file"]).name, root["line"], root["rule"]) == ("auth.py", 24, "call-arity")
    assert "pass the missing argument `salt`" in root["summary"]
    assert out["trace_files"] == [str(EXAMPLE_WORKSPACE / "buggy_app" / "demo_login.py")]


@pytest.mark.parametrize("case", ["01_missing_import_sys", "02_undefined_name_typo", "04_call_arity_keyword_method",
                                  "06_missing_await", "10_none_comparison"])
def test_applying_the_suggested_edit_makes_the_program_run(tmp_path: Path, case: str) -> None:
    workspace, trace = corpus_case(tmp_path, case)
    out = run_agent(workspace, problem_description="x", affected_files=["main.py"], error_traces=[trace])
    fix = out["suggested_fix"]
    assert fix is not None and fix["edit"] is not None
    lines = Path(fix["file"]).read_text().splitlines()
    edit = fix["edit"]
    if edit["kind"] == "insert":
        lines.insert(edit["line"] - 1, edit["new"])
    else:
        assert lines[edit["line"] - 1] == edit["old"]
        lines[edit["line"] - 1] = edit["new"]
    Path(fix["file"]).write_text("\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-B", "main.py"], cwd=workspace, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_analysis_runs_off_the_event_loop_and_records_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    threads: list[threading.Thread] = []
    real_prepare = agent_module._prepare

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread())
        return real_prepare(*args)

    monkeypatch.setattr(agent_module, "_prepare", spy)
    ctx = context(tmp_path)
    asyncio.run(DebugAgent().run(validate(tmp_path, problem_description="x", affected_files=["a.py"]), ctx))
    assert threads and threads[0] is not threading.main_thread() and threads[0].daemon
    assert [e["event"] for e in ctx.events] == ["debug.start", "debug.done"]


def test_a_set_cancel_flag_stops_the_analysis(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(AnalysisCancelled):
        asyncio.run(analyse("x", [str(tmp_path / "a.py")], [], "standard", None, WorkspacePolicy.create(tmp_path),
                            cancel))


def _dispatch(example: str, tmp_path: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "parallel_execution", "run", "--trace-dir", str(tmp_path), "--quiet",
                           str(REPO / "examples" / example)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("example", ["02_debug_then_fix.json", "04_mixed_analysis.json"])
def test_example_debug_inputs_validate(example: str) -> None:
    tasks = json.loads((REPO / "examples" / example).read_text())["tasks"]
    debug = [t for t in tasks if t["agent"] == "debug"]
    assert debug
    for task in debug:
        validate(EXAMPLE_WORKSPACE, **task["input_data"])


def test_example_02_debug_then_fix_through_the_runner(tmp_path: Path) -> None:
    result = _dispatch("02_debug_then_fix.json", tmp_path)
    debug, fix = result["results"]
    assert (debug["status"], fix["status"]) == ("success", "success")
    assert debug["output"]["root_cause"]["line"] == 24
    generated = Path(fix["output"]["generated_file"])
    assert generated.name == "node_auth_fixed_compute.py" and generated.parent.name == "generated"
    text = generated.read_text()
    assert "Fixed auth module" in text and "missing argument `salt`" in text and "import sys" in text


def test_example_04_parallel_security_reviews_through_the_runner(tmp_path: Path) -> None:
    result = _dispatch("04_mixed_analysis.json", tmp_path)
    assert result["status"] == "success"
    summary = {r["task_id"]: r for r in result["results"]}["security-summary"]["output"]["message"]
    sessions = " ".join(summary["sessions"]["findings"])
    for rule in ["hardcoded-secret", "sql-string-format", "pickle-loads", "unsafe-yaml-load", "shell-true"]:
        assert rule in sessions
    authorization = " ".join(summary["authorization"]["findings"])
    for rule in ["mutable-default", "none-comparison", "eval-exec", "bare-except"]:
        assert rule in authorization
    assert summary["authorization"]["hypothesis"] == summary["sessions"]["hypothesis"] == "supported"
    assert "s3cr3t-session-signing-key" not in json.dumps(result)


def test_hostile_inputs_are_survived(tmp_path: Path) -> None:
    (tmp_path / "deep.py").write_text("x = " + " + ".join(["a"] * 20000) + "\n")
    (tmp_path / "latin.py").write_bytes('# -*- coding: latin-1 -*-\nname = "caf\xe9"\n'.encode("latin-1"))
    (tmp_path / "binary.py").write_bytes(b'x = "\xff\xfe"\n')
    (tmp_path / "nul.py").write_bytes(b"x = 1\0\n")
    recursion = "Traceback (most recent call last):\n" + '  File "r.py", line 2, in f\n    return f()\n' * 5000 \
        + "RecursionError: maximum recursion depth exceeded\n"
    out = run_agent(tmp_path, problem_description="x", affected_files=["*.py"], error_traces=[recursion, "x" * 100_000])
    assert out["files_analysed"] == [str(tmp_path / n) for n in ["deep.py", "latin.py", "nul.py"]]
    assert out["skipped_files"] == [{"file": str(tmp_path / "binary.py"),
                                     "reason": "unreadable: cannot decode: invalid or missing encoding declaration"}]
    assert {(Path(f["file"]).name, f["rule"]) for f in out["findings"]} == {("deep.py", "syntax-error"),
                                                                           ("nul.py", "syntax-error")}
    assert [len([f for f in out["frames"] if f["error"] == i]) for i in range(2)] == [200, 0]
    assert len(out["exceptions"][1]["message"]) <= 4000
