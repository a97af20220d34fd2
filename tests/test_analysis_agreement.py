"""One analysis layer: a source text checked before it is written (``analysis.source_check``, the
coder's pre-write view) and the same file analysed by the debug agent afterwards report the same
defects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from parallel_execution.agents.debug.agent import analyse
from parallel_execution.analysis.source_check import check_source
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

GATED = {"undefined-name", "missing-import", "call-arity", "unused-import"}


@pytest.mark.xfail(reason="flaky after the merge with main: the pre-write and post-write sets differ on some runs; "
                   "under investigation", strict=False)
def test_before_and_after_writing_the_same_defects_are_reported(tmp_path: Path) -> None:
    target = tmp_path / "node_demo_compute.py"
    before = asyncio.run(check_source(SOURCE, str(target), search_path=[tmp_path]))
    assert all(d.file == str(target) for d in before.diagnostics)
    assert [c.status for c in before.checks] == ["ok", "ok", "ok"], [c.to_json() for c in before.checks]
    pre = {(d.rule, d.line, d.tool, d.code) for d in before.diagnostics if d.rule in GATED}
    assert {(rule, line) for rule, line, *_ in pre} == {("undefined-name", 31), ("missing-import", 30),
                                                       ("call-arity", 31), ("unused-import", 3)}
    target.write_text(SOURCE)
    debug = asyncio.run(analyse("review", [target.name], [], "standard", None, WorkspacePolicy.create(tmp_path)))
    post = {(f.rule, f.line, f.tool, f.code) for f in debug.findings if f.rule in GATED}
    assert post == pre
