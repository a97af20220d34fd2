"""The shared analysis layer: tools as killable subprocesses, failures reported, caches, FIFOs, fixes."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from parallel_execution.agents.debug.agent import analyse as debug_analyse
from parallel_execution.analysis import engine, tools
from parallel_execution.analysis.files import NotRegularFile, read_regular
from parallel_execution.analysis.procs import run_tool
from parallel_execution.inputs.paths import WorkspacePolicy

APP = '''"""App."""
import asyncio


class Cache:
    def __init__(self, token_ttl: int) -> None:
        self.token_ttl = token_ttl

    def ttl_of(self) -> int:
        return self.ttl


async def fetch() -> dict:
    return {}


async def main() -> str:
    data = fetch()
    return data["x"]


print(sys.argv)
'''


def _write(tmp: Path, text: str = APP) -> Path:
    path = tmp / "app.py"
    path.write_text(text)
    return path


def test_each_finding_names_tool_and_rule_and_every_check_is_listed(tmp_path: Path) -> None:
    app = _write(tmp_path)
    report = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="standard"))
    got = {(d.line, d.rule, d.tool, d.code) for d in report.diagnostics}
    assert (10, "attribute-error", "mypy", "attr-defined") in got
    assert (18, "missing-await", "mypy", "index") in got  # moved from the use on line 19 to the call
    assert any(d.line == 22 and d.rule == "missing-import" and d.tool == "ruff" for d in report.diagnostics)
    assert [c.tool for c in report.checks] == ["ruff", "mypy", "core"]
    assert all(c.status == "ok" and c.rules for c in report.checks)


def test_a_missing_tool_is_reported_and_the_others_still_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _write(tmp_path)
    real = tools.available
    monkeypatch.setattr(tools, "available", lambda tool: tool != "mypy" and real(tool))
    report = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="standard"))
    (mypy,) = [c for c in report.checks if c.tool == "mypy"]
    assert mypy.status == "missing" and "not installed" in (mypy.detail or "")
    assert any(d.rule == "missing-import" for d in report.diagnostics)


def test_a_failing_tool_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _write(tmp_path)
    monkeypatch.setattr(tools, "ruff_binary", lambda: str(tmp_path / "no-such-ruff"))
    monkeypatch.setenv("DISPATCH_ANALYSIS_CACHE", str(tmp_path / "cache"))
    report = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="quick"))
    (ruff,) = [c for c in report.checks if c.tool == "ruff"]
    assert ruff.status == "failed" and "cannot start" in (ruff.detail or "")


def test_second_run_is_served_from_the_cache_and_a_change_invalidates_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_ANALYSIS_CACHE", str(tmp_path / "cache"))
    app = _write(tmp_path)
    first = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="standard"))
    second = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="standard"))
    assert not any(c.cached for c in first.checks) and all(c.cached for c in second.checks if c.tool != "core")
    assert second.diagnostics == first.diagnostics
    time.sleep(0.01)
    app.write_text(APP.replace("self.ttl", "self.token_ttl"))
    third = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="standard"))
    assert not any(c.cached for c in third.checks)
    assert not any(d.rule == "attribute-error" for d in third.diagnostics)


def test_cancelling_kills_the_tool_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "pid"

    async def scenario() -> None:
        code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        task = asyncio.create_task(run_tool([sys.executable, "-c", code], cwd=tmp_path, timeout=120))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if marker.exists() and marker.read_text():
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_timeout_is_a_result(tmp_path: Path) -> None:
    run = asyncio.run(run_tool([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, timeout=0.5))
    assert run.error is not None and "did not finish" in run.error


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_py_is_never_read_and_never_hangs(tmp_path: Path) -> None:
    """Issue 13 item 4: a FIFO named *.py, given directly, by a folder or a glob, is skipped at once."""
    os.mkfifo(tmp_path / "trap.py")
    _write(tmp_path)
    with pytest.raises(NotRegularFile):
        read_regular(tmp_path / "trap.py")
    policy = WorkspacePolicy.create(tmp_path)
    started = time.monotonic()
    for affected in (["trap.py", "app.py"], ["."], ["*.py"]):
        out = asyncio.run(debug_analyse("x", affected, [], "quick", None, policy)).to_json()
        assert out["files_analysed"] == [str(tmp_path / "app.py")]
        assert str(tmp_path / "trap.py") not in out["files_analysed"]
    assert time.monotonic() - started < 60


def test_runner_exits_although_a_fifo_is_in_the_folder(tmp_path: Path) -> None:
    """Through the real runner with a short task timeout: the process ends with one JSON document."""
    import json
    import subprocess

    os.mkfifo(tmp_path / "trap.py")
    _write(tmp_path)
    spec = {"tasks": [{"task_id": "d", "agent": "debug", "description": "debug a folder holding a FIFO",
            "input_data": {"problem_description": "x", "affected_files": ["."], "analysis_depth": "quick"}}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "parallel_execution", "run", "--quiet", "--workspace",
                           str(tmp_path), "--timeout", "60", "--trace-dir",
                           str(tmp_path / "traces"), str(tmp_path / "spec.json")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    result = json.loads(proc.stdout)
    assert result["results"][0]["status"] == "success", proc.stdout + proc.stderr


@pytest.mark.parametrize("mode", ["beside", "in_place"])
def test_mechanical_fixes_are_written_and_rechecked(tmp_path: Path, mode: str) -> None:
    app = _write(tmp_path)
    policy = WorkspacePolicy.create(tmp_path)
    out = asyncio.run(debug_analyse("fix it", ["app.py"], [], "standard", None, policy, apply=mode)).to_json()  # type: ignore[arg-type]
    (applied,) = out["applied_fixes"]
    target = Path(applied["written_to"])
    assert target == (tmp_path / "app.fixed.py" if mode == "beside" else app)
    assert {f["rule"] for f in applied["fixed"]} == {"missing-import", "attribute-error", "missing-await"}
    text = target.read_text()
    assert "import sys" in text and "self.token_ttl" in text and "data = await fetch()" in text
    assert sorted(applied["recheck"]["resolved"]) == sorted(f["id"] for f in applied["fixed"])
    assert applied["recheck"]["still_reported"] == []
    if mode == "beside":
        assert app.read_text() == APP
    proc = __import__("subprocess").run([sys.executable, str(target)], capture_output=True, timeout=60)
    assert proc.returncode == 0


def test_no_fixes_written_by_default(tmp_path: Path) -> None:
    _write(tmp_path)
    out = asyncio.run(debug_analyse("x", ["app.py"], [], "quick", None, WorkspacePolicy.create(tmp_path))).to_json()
    assert out["applied_fixes"] == [] and sorted(p.name for p in tmp_path.iterdir()) == ["app.py"]


NODE = '''"""A node."""


class NodeScaleCompute:
    def execute_compute(self, input_data):
        return input_data
'''


def test_onex_conventions_are_checked_for_node_modules(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    (nodes / "node_scale_compute.py").write_text(NODE)
    out: dict[str, Any] = asyncio.run(debug_analyse("validate all ONEX nodes in nodes/", ["nodes"], [], "standard",
                                                    None, WorkspacePolicy.create(tmp_path))).to_json()
    onex = [f for f in out["findings"] if f["tool"] == "onex"]
    assert {f["code"] for f in onex} == {"io_models"} and all(f["rule"] == "onex-convention" for f in onex)
    assert "onex" in [c["tool"] for c in out["checks"]]


CORE = '''import asyncio
import hashlib
import hmac


class Spool:
    def __init__(self, file):
        self._file = file

    def check(self):
        if self._file._rolled:
            return self._file._rolled
        return self._file._roled


async def read(loop, cb):
    f = loop.run_in_executor(None, cb)
    done = await loop.run_in_executor(None, cb)
    return f, done


def verify(secret, body, signature):
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return expected == signature


def same_content(a, b):
    return hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()


def timeout_of(settings):
    return settings["tiemout"] if "timeout" in settings else settings["timeout"]
'''


def test_core_checks_find_what_the_tools_cannot_and_leave_near_names_alone(tmp_path: Path) -> None:
    app = _write(tmp_path, CORE)
    report = asyncio.run(engine.analyse([str(app)], root=tmp_path, depth="quick"))
    core = {(d.line, d.rule, d.code) for d in report.diagnostics if d.tool == "core"}
    assert core == {(13, "attribute-error", "DBG004"), (17, "missing-await", "DBG005"),
                    (24, "insecure-compare", "DBG001"), (32, "dict-key-typo", "DBG002")}


def test_a_module_seen_before_at_another_path_keeps_its_mypy_errors(tmp_path: Path) -> None:
    """mypy's cache replays a fresh module's errors under the path it first saw (here: the other copy, still
    on disk); the engine puts them back on the file it checks, so neither copy loses its finding."""
    text = "def f(x: int) -> int:\n    return x\n\n\nf()\n"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mod.py").write_text(text)
    for name in ("a", "b", "a"):
        file = str(tmp_path / name / "mod.py")
        report = asyncio.run(engine.analyse([file], root=tmp_path / name, depth="standard",
                                            mypy_cache_key="test-replayed-errors"))
        assert {(d.rule, d.line, d.file) for d in report.diagnostics if d.tool == "mypy"} == {("call-arity", 5, file)}
