"""The debug agent against a corpus of real bugs: does the root cause land on the right line?

Each ``tests/debug_corpus/<NN_name>/`` holds a small program with one bug and ``expected.json``
(``rule``, ``file``, ``line`` of the root cause; ``run``: the file to execute, or null for bugs
that never raise, e.g. a hard-coded secret; ``runner``: python or pytest; ``depth``; optional
``affected`` files, default all). The program is copied to a temporary workspace and run with
``sys.executable`` to capture its *real* traceback, which is fed to the agent together with the
files. Every case must put the top-1 root cause on the expected file and line; the accuracy
over the whole corpus is written to ``debug-corpus-report.json`` in pytest's base temp folder.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.debug import DebugAgent
from parallel_execution.agents.debug.rules import RULES
from parallel_execution.inputs.paths import WorkspacePolicy

CORPUS = Path(__file__).parent / "debug_corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())
PROBLEM = "The program fails or misbehaves; find the root cause."


def _run(workspace: Path, expected: dict[str, Any]) -> str | None:
    if not expected.get("run"):
        return None
    if expected.get("runner") == "pytest":
        argv = [sys.executable, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", expected["run"]]
    else:
        argv = [sys.executable, "-B", expected["run"]]
    proc = subprocess.run(argv, cwd=workspace, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, f"{expected['run']} was expected to fail:\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


def _analyse(case: str, tmp: Path) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    workspace = tmp / case
    shutil.copytree(CORPUS / case, workspace)
    expected = json.loads((workspace / "expected.json").read_text())
    trace = _run(workspace, expected)
    affected = expected.get("affected") or sorted(p.name for p in workspace.glob("*.py"))
    policy = WorkspacePolicy.create(workspace)
    data = DebugAgent.Input.model_validate(
        {"problem_description": PROBLEM, "affected_files": affected, "error_traces": [trace] if trace else [],
         "analysis_depth": expected.get("depth", "standard")},
        context=policy.as_context(),
    )
    ctx = TaskContext(task_id=case, dispatch_id="corpus", description="", attempt=1, workspace=policy,
                      artifacts_dir=tmp)
    output = asyncio.run(DebugAgent().run(data, ctx))  # type: ignore[arg-type]
    expected["file"] = str(Path(policy.root) / expected["file"])
    return expected, output, trace


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], dict[str, Any], str | None]]:
    tmp = tmp_path_factory.mktemp("corpus")
    # Two at a time, as a dispatch of debug tasks would run them: most of each case is waiting for
    # ruff, mypy and the program itself, and the suite's other worker is often done by now.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(lambda case: _analyse(case, tmp), CASES), strict=True))


def test_corpus_is_large_and_covers_every_rule() -> None:
    assert len(CASES) >= 15
    rules = {json.loads((CORPUS / c / "expected.json").read_text())["rule"] for c in CASES}
    assert rules == set(RULES) - {"unhandled-exception", "security", "lint", "onex-convention"}


@pytest.mark.parametrize("case", CASES)
def test_root_cause_lands_on_the_bug(case: str, corpus: dict[str, Any]) -> None:
    expected, output, trace = corpus[case]
    root = output["root_cause"]
    assert (root["file"], root["line"]) == (expected["file"], expected["line"]), (
        f"{case}: root cause {root}\nhypotheses: {output['hypotheses']}\ntrace:\n{trace}")
    assert root["rule"] == expected["rule"]
    assert 0 < root["confidence"] <= 0.99
    assert root["why"]
    assert any(f["rule"] == expected["rule"] and f["line"] == expected["line"] for f in output["findings"])
    if expected.get("run"):
        assert output["exceptions"], "the real traceback was parsed"
        assert any(frame["in_workspace"] for frame in output["frames"])


def test_top1_accuracy(corpus: dict[str, Any], record_property: Any,
                       tmp_path_factory: pytest.TempPathFactory) -> None:
    """The accuracy goes to a report file and the junit properties, never into pytest's output."""
    misses = [case for case, (exp, out, _) in corpus.items()
              if (out["root_cause"]["file"], out["root_cause"]["line"]) != (exp["file"], exp["line"])]
    hits = len(corpus) - len(misses)
    record_property("debug_corpus_top1", f"{hits}/{len(corpus)}")
    report = tmp_path_factory.getbasetemp() / "debug-corpus-report.json"
    report.write_text(json.dumps({"top1": hits, "cases": len(corpus), "misses": misses}))
    assert hits == len(corpus), f"top-1 accuracy {hits}/{len(corpus)}; misses: {misses}"


def test_root_causes_hold_with_every_other_corpus_bug_as_a_distractor(corpus: dict[str, Any]) -> None:
    """All cases in one workspace: each traceback must still pick its own bug among all findings."""
    first_expected = next(iter(corpus.values()))[0]
    root = Path(first_expected["file"]).parent.parent
    policy = WorkspacePolicy.create(root)
    hits, total = 0, 0
    for case, (expected, _, trace) in corpus.items():
        if trace is None:
            continue
        total += 1
        data = DebugAgent.Input.model_validate(
            {"problem_description": PROBLEM, "affected_files": ["."], "error_traces": [trace],
             "analysis_depth": "standard"}, context=policy.as_context())  # "." type-checks every file
        ctx = TaskContext(task_id=case, dispatch_id="corpus", description="", attempt=1, workspace=policy,
                          artifacts_dir=root)
        output = asyncio.run(DebugAgent().run(data, ctx))  # type: ignore[arg-type]
        assert len(output["findings"]) >= len(corpus)
        found = (output["root_cause"]["file"], output["root_cause"]["line"])
        assert found == (expected["file"], expected["line"]), case
        hits += 1
    assert hits == total >= 15
