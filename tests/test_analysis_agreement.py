"""One analysis layer: the coder's validator, checking a text before it is written, and the debug agent,
analysing the written file, report the same findings (tool, rule, line), and the coder's named checks
are made of exactly those findings. Texts checked together are still judged one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from parallel_execution.agents.coder.validator import validate_source
from parallel_execution.agents.debug.agent import analyse
from parallel_execution.analysis import engine
from parallel_execution.analysis.source_check import check_source, check_sources
from parallel_execution.inputs.paths import WorkspacePolicy

SOURCE = '''"""A Compute node with one defect of each kind the coder gates on."""

import json

from pydantic import BaseModel


def _scale(v: int, factor: int) -> int:
    return v * factor


class ModelDemoInput(BaseModel):
    """Input."""

    value: int = 0


class ModelDemoOutput(BaseModel):
    """Output."""

    result: int = 0


class NodeDemoCompute:
    """Scales the value."""

    def execute_compute(self, input_data: ModelDemoInput) -> ModelDemoOutput:
        """Compute the result."""
        if input_data.value < 0:
            sys.exit(1)
        return ModelDemoOutput(result=_scale(input_data.value) + helper_not_defined())
'''

SEEDED = {("ruff", "unused-import", 3), ("ruff", "missing-import", 30), ("mypy", "call-arity", 31),
          ("ruff", "undefined-name", 31)}


def test_the_coder_and_the_debug_agent_report_the_same_findings(tmp_path: Path) -> None:
    target = tmp_path / "node_demo_compute.py"
    report = asyncio.run(validate_source(SOURCE, "Compute", "moderate", node_name="demo", path=target))
    assert not target.exists()  # judged before writing
    coder = {(f["tool"], f["rule"], f["line"]) for f in report.findings}
    assert coder >= SEEDED, report.findings  # the coder's findings are the tools' (none if it used its own checks)
    assert {(c.name, c.line) for c in report.checks if not c.passed} == {
        ("unused_imports", 3), ("missing_imports", 30), ("call_arity", 31), ("undefined_names", 31)}

    target.write_text(SOURCE)
    debug = asyncio.run(analyse("review", [target.name], [], "standard", None, WorkspacePolicy.create(tmp_path)))
    assert {c["tool"]: c["status"] for c in debug.checks if c["tool"] in ("ruff", "mypy")} == {"ruff": "ok",
                                                                                              "mypy": "ok"}
    theirs = {(f.tool, f.rule, f.line) for f in debug.findings if f.tool != "onex"}  # conventions: the coder's checks
    assert coder == theirs


def test_texts_checked_together_are_judged_one_by_one(tmp_path: Path) -> None:
    """Two same-named texts in one batch: one ruff and one mypy run, each text only its own findings (a name
    imported by one text is no missing import in the other), then both answered from the cache."""
    first = "from typing import Final as ZZ_HELPER\n\n\ndef f(x: int) -> int:\n    return x\n\n\nf()\nprint(ZZ_HELPER)\n"
    second = "def f(x: int) -> int:\n    return x\n\n\nf(1)\nprint(ZZ_HELPER)\n"
    tag = f"# {tmp_path}\n"  # texts new to the per-text cache, which outlives test runs
    items = [(tag + first, str(tmp_path / "a" / "node.py")), (tag + second, str(tmp_path / "b" / "node.py"))]
    one, two = asyncio.run(check_sources(items))
    assert {(d.tool, d.rule, d.line) for d in one.diagnostics} == {("mypy", "call-arity", 9)}
    assert {(d.tool, d.rule, d.line) for d in two.diagnostics} == {("ruff", "undefined-name", 7)}
    assert all(d.file == items[1][1] for d in two.diagnostics)
    assert [(c.tool, c.files, c.cached) for c in one.checks if c.tool in ("ruff", "mypy")] == [
        ("ruff", 2, False), ("mypy", 2, False)]
    again = asyncio.run(check_sources(items[::-1]))
    assert [{(d.rule, d.line) for d in r.diagnostics} for r in again] == [{("undefined-name", 7)},
                                                                          {("call-arity", 9)}]
    assert all(c.cached for r in again for c in r.checks)


def test_concurrent_checks_share_one_batch() -> None:
    """Parallel coder tasks: check_source calls arriving together are answered by one ruff and one mypy run."""
    texts = [f"def f{i}(x: int) -> int:\n    return x\n\n\nf{i}()\n" for i in range(3)]

    async def together() -> list[engine.Report]:
        return list(await asyncio.gather(*(check_source(t, f"/nowhere/node_{i}.py") for i, t in enumerate(texts))))

    reports = asyncio.run(together())
    assert [{(d.rule, d.line) for d in r.diagnostics} for r in reports] == [{("call-arity", 5)}] * 3
    assert all([(c.tool, c.files) for c in r.checks if c.tool in ("ruff", "mypy")] == [("ruff", 3), ("mypy", 3)]
               for r in reports)
