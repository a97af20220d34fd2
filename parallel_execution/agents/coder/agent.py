"""The ``coder`` agent: contract in, one validated ONEX node file out.

Flow of one task (each step a separate module, so every backend shares the same guarantees)::

    input (paths already inside the workspace) ─ refuse an existing file unless overwrite
      → read context files (ast)          context.py
      → node spec (names, fields, steps)  spec.py / contract.py
      → source from the backend           backends.py (scaffold: deterministic, offline)
      → validate at validation_level      validator.py
      → passed:   write output_path atomically           → output, status success
        rejected: write <stem>.rejected.py beside it     → TaskFailure carrying the same output

Generated code is never reported valid unless every error-severity check passed, and rejected
code never replaces a good file. The output keys (stable; reports and the dispatcher agent read
them): ``generated_file``, ``rejected_file``, ``node_name``, ``class_name``, ``node_type``,
``validation_level``, ``validation_passed``, ``checks``, ``warnings``, ``implementation``,
``todo``, ``context_used``, ``bytes``, ``sha256`` (plus ``unchanged: true`` when the file already
held exactly this code: rerunning a finished task - a resume after a crash - is not an error even
with ``overwrite`` false).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.coder.backends import (
    DETERMINISTIC_BACKENDS,
    BackendName,
    GenerationRequest,
    generate,
)
from parallel_execution.agents.coder.context import ContextFileError, read_context_files
from parallel_execution.agents.coder.naming import NODE_TYPES, NodeType, snake_case
from parallel_execution.agents.coder.report import Level
from parallel_execution.agents.coder.scaffold import todo_lines
from parallel_execution.agents.coder.spec import build_spec
from parallel_execution.agents.coder.validator import validate_source
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePath, resolve_in_workspace
from parallel_execution.traces.fsio import atomic_write_bytes

__all__ = ["CoderAgent", "CoderInput"]


class CoderInput(AgentInput):
    """The quick start's CoderAgent schema, plus ``node_name``, ``overwrite`` and ``backend``."""

    contract_description: str = Field(min_length=1, description="what the node must do, in plain words")
    node_type: NodeType = Field(description="Effect | Compute | Reducer | Orchestrator")
    output_path: WorkspacePath = Field(description="the .py file to write, inside the workspace")
    context_files: list[WorkspacePath] = Field(default_factory=list, description="files to read and use")
    validation_level: Level = "moderate"
    node_name: str | None = Field(default=None, description="snake_case name; derived from the contract")
    overwrite: bool = Field(default=False, description="replace an existing output file")
    backend: BackendName = "scaffold"
    repair_attempts: int = Field(default=1, ge=0, le=5, description="claude backend: rounds of fixing failed checks")
    model: str | None = Field(default=None, description="claude backend: the model (default: the CLI's)")

    @field_validator("node_type", mode="before")
    @classmethod
    def _node_type_any_case(cls, value: Any) -> Any:
        if isinstance(value, str):
            return next((t for t in NODE_TYPES if t.lower() == value.strip().lower()), value)
        return value

    @field_validator("contract_description")
    @classmethod
    def _contract_has_words(cls, value: str) -> str:
        if not re.search(r"[A-Za-z]", value):
            raise ValueError("contract_description must describe the node in words")
        return value

    @field_validator("output_path")
    @classmethod
    def _python_file(cls, value: str) -> str:
        if not value.endswith(".py"):
            raise ValueError(f"output_path must name a .py file, got {value!r}")
        return value

    @field_validator("node_name")
    @classmethod
    def _node_name_words(cls, value: str | None) -> str | None:
        if value is not None and not re.search(r"[A-Za-z]", snake_case(value)):
            raise ValueError(f"node_name {value!r} must contain letters")
        return value

    @model_validator(mode="after")
    def _output_is_not_context(self) -> CoderInput:
        if self.output_path in self.context_files:
            raise ValueError(f"output_path {self.output_path!r} is also listed in context_files")
        return self


class CoderAgent(Agent[CoderInput]):
    """Generates one ONEX node file from a contract and validates it before writing."""

    name = "coder"
    Input = CoderInput
    write_fields = ("output_path",)
    read_fields = ("context_files",)

    @classmethod
    def task_uses_model(cls, data: Mapping[str, Any]) -> bool:
        return data.get("backend") == "claude"

    async def run(self, data: CoderInput, ctx: TaskContext) -> dict[str, Any]:
        policy = ctx.workspace
        try:
            target = resolve_in_workspace(data.output_path, policy)
            context_paths = [resolve_in_workspace(p, policy) for p in data.context_files]
        except PathOutsideWorkspace as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        shown = _relative(target, policy.root)
        if target.is_dir():
            raise TaskFailure(f"output_path {shown!r} is a directory", retryable=False)
        if data.backend not in DETERMINISTIC_BACKENDS:  # fail before paying for a model session
            _refuse_existing(target, shown, data.overwrite)
        try:
            context = await asyncio.to_thread(read_context_files, context_paths, workspace_root=policy.root,
                                              search_roots=[target.parent, policy.root])
        except ContextFileError as exc:
            raise TaskFailure(str(exc), retryable=False) from None

        spec = build_spec(data.contract_description, data.node_type, node_name=data.node_name,
                          context_files=context)
        ctx.event("coder.spec", node_name=spec.names.snake, class_name=spec.names.class_name,
                  context_used=[n.name for n in spec.context_used])
        request = GenerationRequest(spec, data.backend, str(target), data.validation_level,
                                    repair_attempts=data.repair_attempts, model=data.model)
        source = await generate(request, ctx)
        encoded = source.encode("utf-8")
        ctx.event("coder.generated", backend=data.backend, bytes=len(encoded))
        report = await validate_source(source, data.node_type, data.validation_level, node_name=spec.names.snake,
                                       path=target, import_roots=[policy.root])
        ctx.event("coder.validated", passed=report.passed, failed=[c.name for c in report.failed])

        output: dict[str, Any] = {
            "generated_file": None,
            "rejected_file": None,
            "node_name": spec.names.snake,
            "class_name": spec.names.class_name,
            "node_type": data.node_type,
            "validation_level": data.validation_level,
            "validation_passed": report.passed,
            "checks": [c.model_dump() for c in report.checks],
            "warnings": [*spec.warnings, *report.warnings],
            "implementation": data.backend,
            "todo": todo_lines(source),
            "context_used": [n.to_json() for n in spec.context_used],
            "bytes": len(encoded),
            "sha256": hashlib.sha256(encoded).hexdigest(),
        }
        rejected = target.with_name(f"{target.stem}.rejected.py")
        if report.passed:
            if _same_content(target, encoded):  # a rerun (resume, retry) of work already done
                output["unchanged"] = True
            else:
                _refuse_existing(target, shown, data.overwrite)
                await _write(target, encoded, shown)
            if rejected.is_file():  # left by an earlier failed run; it no longer describes this file
                rejected.unlink()
            output["generated_file"] = str(target)
            return output

        await _write(rejected, encoded, _relative(rejected, policy.root))
        output["rejected_file"] = str(rejected)
        failed = ", ".join(c.name for c in report.failed)
        raise TaskFailure(
            f"{spec.names.class_name} failed {data.validation_level} validation ({failed}): {report.summary()}; "
            f"the code was written to {_relative(rejected, policy.root)!r} for inspection, not to {shown!r}",
            output=output,
            retryable=data.backend not in DETERMINISTIC_BACKENDS,
        )


async def _write(path: Path, data: bytes, shown: str) -> None:
    try:
        await asyncio.to_thread(atomic_write_bytes, path, data)
    except OSError as exc:
        where = f": {exc.filename!r}" if exc.filename else ""
        raise TaskFailure(f"cannot write {shown!r}: {exc.strerror or exc}{where}", retryable=False) from None


def _refuse_existing(target: Path, shown: str, overwrite: bool) -> None:
    if not overwrite and os.path.lexists(target):
        raise TaskFailure(
            f'output file {shown!r} already exists and "overwrite" is false; set "overwrite": true to replace it',
            retryable=False,
        )


def _same_content(target: Path, data: bytes) -> bool:
    try:
        return target.is_file() and not target.is_symlink() and target.read_bytes() == data
    except OSError:
        return False


def _relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)
