"""Strict level of an omnibase node: the framework's own checks, in the project's interpreter.

Runs concurrently, each as a bounded subprocess of the project's Python on the staged copy of the
folder (nothing is written into the workspace before the verdict):

=============================  ============================================================
check                          what runs
=============================  ============================================================
``framework_installed``        the project's interpreter can import ``omnibase_core``; if not,
                               this fails naming what to install, and nothing else runs
``framework_*``,               :mod:`.harness_script`: import, container with stand-in
``contract_model*``,           services, ``initialize()``, typed contract model, Reducer FSM /
``handler_call``               Orchestrator workflow + ``validate_contract()``, one ``process``
``onex_validate``              ``onex validate --strict`` (architecture, unions, contracts, patterns)
``onex_compliance``            ``onex compliance check`` (8 structural checks, handler resolution)
``onex_any_type``              ``validator_any_type``
``onex_pydantic``              ``validator_pydantic_conventions`` (it exits 0 on findings: its
                               ``[ERROR]`` lines decide)
``onex_purity``                ``validator_node_purity`` (Compute and Reducer)
=============================  ============================================================

Not run, because they are broken in omnibase-core 0.47.57 and would reject correct nodes:
``validator_contract_linter`` (its default config contradicts its own guardrail) and the deep
compliance scan's node-kind check.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from parallel_execution.agents.coder.omnibase.names import OmnibaseNames
from parallel_execution.agents.coder.project import Completed, run_bounded
from parallel_execution.agents.coder.report import Check
from parallel_execution.analysis.interpreter import ProjectInterpreter

__all__ = ["DEFAULT_FRAMEWORK_TIMEOUT", "framework_checks"]

DEFAULT_FRAMEWORK_TIMEOUT = 90.0
_HARNESS = Path(__file__).with_name("harness_script.py")
_MARKER = "@@onex-harness@@"
_ONEX = "import sys; from omnibase_core.cli.cli_commands import cli; sys.argv[0] = 'onex'; sys.exit(cli())"


async def framework_checks(staged: Path, names: OmnibaseNames, node_type: str, *, interpreter: ProjectInterpreter,
                           import_root: Path, timeout: float = DEFAULT_FRAMEWORK_TIMEOUT,
                           ) -> tuple[list[Check], dict[str, float]]:
    """The framework's verdict on the folder staged at ``staged``, and each run's seconds."""
    python = str(interpreter.path)
    if not await asyncio.to_thread(interpreter.has_module, "omnibase_core"):
        return [Check(name="framework_installed", passed=False,
                      message=f"the project's interpreter {interpreter.describe()} has no omnibase_core: install it "
                              f"there ({python} -m pip install omnibase-core) or set \"python\" to one that has it")], {}
    checks = [Check(name="framework_installed", passed=True, message=f"omnibase_core importable in {interpreter.describe()}")]
    base = [python, "-I", "-B"]
    with tempfile.TemporaryDirectory(prefix="onex-report-") as scratch:
        runs = {
            "harness": [*base, str(_HARNESS), str(staged), names.package, node_type, names.class_name, str(import_root)],
            "onex_validate": [*base, "-c", _ONEX, "-v", "validate", "--strict", str(staged)],
            "onex_compliance": [*base, "-c", _ONEX, "compliance", "check", "--repo-root", str(staged),
                                "--output", str(Path(scratch) / "compliance.yaml")],
            "onex_any_type": [*base, "-m", "omnibase_core.validation.validator_any_type", str(staged)],
            "onex_pydantic": [*base, "-m", "omnibase_core.validation.validator_pydantic_conventions", str(staged)],
        }
        if node_type in ("Compute", "Reducer"):
            runs["onex_purity"] = [*base, "-m", "omnibase_core.validation.validator_node_purity", str(staged)]
        done = await asyncio.gather(*(run_bounded(argv, cwd=staged, timeout=timeout) for argv in runs.values()))
    results = dict(zip(runs, done, strict=True))
    timings = {name: round(r.seconds, 3) for name, r in results.items()}
    checks += _harness_checks(results.pop("harness"), timeout)
    checks += [_validator_check(name, result, timeout) for name, result in results.items()]
    return checks, timings


def _tail(result: Completed, lines: int = 12) -> str:
    text = [ln for ln in (result.stdout + "\n" + result.stderr).splitlines() if ln.strip() and not ln.startswith("{")]
    return " | ".join(ln.strip() for ln in text[-lines:]) or f"exit code {result.returncode}"


def _harness_checks(result: Completed, timeout: float) -> list[Check]:
    if result.returncode is None:
        return [Check(name="framework_harness", passed=False, message=f"did not finish within {timeout:g} s")]
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(_MARKER)]
    if not lines:
        return [Check(name="framework_harness", passed=False, message=f"ended without a verdict: {_tail(result, 3)}")]
    found = []
    for item in json.loads(lines[-1][len(_MARKER):]):
        message = str(item["message"])
        if item.get("skeleton"):
            message = f"SKELETON: {message}"
        found.append(Check(name=str(item["name"]), passed=bool(item["passed"]), message=message))
    return found


def _validator_check(name: str, result: Completed, timeout: float) -> Check:
    if result.returncode is None:
        return Check(name=name, passed=False, message=f"did not finish within {timeout:g} s")
    if name == "onex_pydantic":
        errors = [ln.strip() for ln in result.stdout.splitlines() if "[ERROR]" in ln]
        if errors or result.returncode != 0:
            return Check(name=name, passed=False, message=" | ".join(errors[:8]) or _tail(result))
    elif result.returncode != 0:
        return Check(name=name, passed=False, message=_tail(result))
    summary = next((ln.strip() for ln in reversed(result.stdout.splitlines()) if ln.strip()), "passed")
    return Check(name=name, passed=True, message=f"passed ({result.seconds:.1f} s): {summary}"[:300])
