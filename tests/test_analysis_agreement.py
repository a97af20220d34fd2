"""One analysis layer: the coder's validator and the debug agent report the same defects of a file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from parallel_execution.agents.coder.validator import validate_source
from parallel_execution.agents.debug.agent import analyse
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

RULE_OF_CHECK = {"undefined_names": "undefined-name", "missing_imports": "missing-import",
                 "call_arity": "call-arity", "unused_imports": "unused-import"}


def test_coder_and_debug_agree_on_the_same_file(tmp_path: Path) -> None:
    target = tmp_path / "node_demo_compute.py"
    report = asyncio.run(validate_source(SOURCE, "Compute", "moderate", node_name="demo", path=target))
    coder = {(check.name, check.line) for check in report.checks if not check.passed and check.name in RULE_OF_CHECK}
    assert coder == {("undefined_names", 31), ("missing_imports", 30), ("call_arity", 31), ("unused_imports", 3)}
    target.write_text(SOURCE)
    debug = asyncio.run(analyse("review", [target.name], [], "standard", None, WorkspacePolicy.create(tmp_path)))
    found = {(f.rule, f.line) for f in debug.findings}
    assert {(RULE_OF_CHECK[name], line) for name, line in coder} <= found
    assert {(rule, line) for rule, line in found if rule in RULE_OF_CHECK.values()} == {
        (RULE_OF_CHECK[name], line) for name, line in coder}
