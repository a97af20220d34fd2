"""The ``coder`` agent: contract in, one validated ONEX node out (a file or a node folder).

Flow of one task (each step a separate module, so every backend shares the same guarantees)::

    input (paths already inside the workspace)
      → read context files (ast)             context.py
      → framework: omnibase or standalone    framework.py (auto: the project's evidence, said why)
      → the project's interpreter            analysis.interpreter (python, workspace venv, ...)
      → node spec (names, fields, steps)     spec.py / contract.py
      omnibase:   node folder, validated, installed atomically        omnibase/flow.py
      standalone: source from the backend    backends.py (scaffold: deterministic, offline)
        → validate at validation_level       validator.py (imports judged in the project's interpreter)
        → passed:   write output_path (no clobber in one atomic step, via directory handles)
          rejected: write <stem>.rejected.py beside it   → TaskFailure carrying the same output

Generated code is never reported valid unless every error-severity check passed, and rejected
code never replaces a good file. The output keys (stable; reports and the dispatcher agent read
them): ``generated_file``, ``rejected_file``, ``node_name``, ``class_name``, ``node_type``,
``framework``, ``interpreter``, ``validation_level``, ``validation_passed``, ``checks``,
``warnings``, ``implementation``, ``skeleton``, ``todo``, ``context_used``, ``conventions``,
``bytes``, ``sha256`` (plus ``unchanged: true`` when the output already held exactly this code:
rerunning a finished task - a resume after a crash - is not an error even with ``overwrite``
false); omnibase adds ``generated_folder``, ``files`` and ``validation_seconds``.
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

from parallel_execution.agents.base import Agent, AgentInput, TaskContext, brief
from parallel_execution.agents.coder.backends import (
    DETERMINISTIC_BACKENDS,
    BackendName,
    GenerationRequest,
    generate,
)
from parallel_execution.agents.coder.context import ContextFile, ContextFileError, conventions, read_context_files
from parallel_execution.agents.coder.framework import Framework, choose_framework
from parallel_execution.agents.coder.naming import NODE_TYPES, NodeType, snake_case
from parallel_execution.agents.coder.omnibase.flow import run_omnibase
from parallel_execution.agents.coder.report import Level
from parallel_execution.agents.coder.safe_write import UnsafePath, read_file, remove_file, write_file
from parallel_execution.agents.coder.scaffold import todo_lines
from parallel_execution.agents.coder.spec import build_spec
from parallel_execution.agents.coder.validator import validate_source
from parallel_execution.analysis.interpreter import InterpreterNotFound, find_project_interpreter
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePath, resolve_in_workspace

__all__ = ["CoderAgent", "CoderInput"]

_MAX_SIBLINGS = 5


class CoderInput(AgentInput):
    """The quick start's CoderAgent schema, plus ``node_name``, ``overwrite``, ``backend``, ``framework``
    and ``python``."""

    contract_description: str = Field(min_length=1, description="what the node must do, in plain words")
    node_type: NodeType = Field(description="Effect | Compute | Reducer | Orchestrator")
    output_path: WorkspacePath = Field(description="the .py file to write (standalone), or the node folder "
                                                   "(omnibase; a .py path names the folder beside it by its stem)")
    context_files: list[WorkspacePath] = Field(default_factory=list, description="files to read and use")
    validation_level: Level = "moderate"
    node_name: str | None = Field(default=None, description="snake_case name; derived from the contract")
    overwrite: bool = Field(default=False, description="replace an existing output file or folder")
    backend: BackendName = "scaffold"
    framework: Framework = Field(default="auto", description="auto | omnibase | standalone (see the README)")
    python: str | None = Field(default=None, min_length=1, description="the project's interpreter; default: found "
                                                                       "from the workspace (its venv)")
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
    def _python_file_or_folder(cls, value: str) -> str:
        name = os.path.basename(value.rstrip("/"))
        if "." in name and not name.endswith(".py"):
            raise ValueError(f"output_path must name a .py file or a node folder, got {value!r}")
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
        if self.framework == "standalone" and not self.output_path.endswith(".py"):
            raise ValueError(f'framework "standalone" writes one .py file; output_path {self.output_path!r} names a '
                             'folder (use framework "omnibase" or "auto" for a node folder)')
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

    @classmethod
    def summarise(cls, output: dict[str, Any]) -> list[str] | None:
        if "generated_file" not in output:
            return None
        parts = []
        # a skeleton says so first, before a long path can hide it (older traces: any scaffold)
        if output.get("skeleton", output.get("implementation") == "scaffold"):
            parts.append(f"SKELETON ({len(output.get('todo') or [])} contract line(s) left)")
        parts.append(str(output["generated_file"]))
        if "validation_passed" in output:
            parts.append("valid" if output["validation_passed"] else "NOT valid")
        if output.get("implementation"):
            parts.append(f"implementation: {brief(output['implementation'], 30)}")
        return parts

    @classmethod
    def extra_writes(cls, data: Mapping[str, Any]) -> list[str]:
        """The node folder a ``.py`` output_path names in omnibase mode (auto may choose it at run time)."""
        path = data.get("output_path")
        if isinstance(path, str) and path.endswith(".py") and data.get("framework", "auto") != "standalone":
            return [path[: -len(".py")]]
        return []

    async def run(self, data: CoderInput, ctx: TaskContext) -> dict[str, Any]:
        policy = ctx.workspace
        try:
            target = resolve_in_workspace(data.output_path, policy)
            context_paths = [resolve_in_workspace(p, policy) for p in data.context_files]
        except PathOutsideWorkspace as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        shown = _relative(target, policy.root)
        try:
            context = await asyncio.to_thread(read_context_files, context_paths, workspace_root=policy.root,
                                              search_roots=[target.parent, policy.root])
        except ContextFileError as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        siblings = await asyncio.to_thread(_sibling_modules, target, policy.root, context_paths)
        choice = choose_framework(data.framework, target=target, workspace=policy.root, context_files=context)
        try:
            interpreter = await asyncio.to_thread(find_project_interpreter, policy.root, data.python)
        except InterpreterNotFound as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        ctx.event("coder.framework", **choice.to_json(), interpreter=interpreter.describe())
        folder = target.with_suffix("") if target.suffix == ".py" else target
        node_name = data.node_name or (_name_from_folder(folder.name, data.node_type)
                                       if choice.mode == "omnibase" else None)
        spec = build_spec(data.contract_description, data.node_type, node_name=node_name, context_files=context)
        if choice.mode == "omnibase" and node_name is None and (renamed := _onex_name(spec.names.snake)):
            spec = build_spec(data.contract_description, data.node_type, node_name=renamed, context_files=context)
        ctx.event("coder.spec", node_name=spec.names.snake, class_name=spec.names.class_name,
                  context_used=[n.name for n in spec.context_used])
        if choice.mode == "omnibase":
            if data.backend not in DETERMINISTIC_BACKENDS and not data.overwrite and os.path.lexists(folder):
                raise TaskFailure(f'output folder {_relative(folder, policy.root)!r} already exists and "overwrite" '
                                  "is false", retryable=False)
            return await run_omnibase(ctx, spec, folder, level=data.validation_level, overwrite=data.overwrite,
                                      backend=data.backend, interpreter=interpreter, choice=choice,
                                      repair_attempts=data.repair_attempts, model=data.model)
        if target.is_dir():
            raise TaskFailure(f"output_path {shown!r} is a directory", retryable=False)
        if data.backend not in DETERMINISTIC_BACKENDS:  # fail before paying for a model session
            _refuse_existing(target, shown, data.overwrite)
        request = GenerationRequest(spec, data.backend, str(target), data.validation_level,
                                    repair_attempts=data.repair_attempts, model=data.model, interpreter=interpreter)
        source = await generate(request, ctx)
        encoded = source.encode("utf-8")
        ctx.event("coder.generated", backend=data.backend, bytes=len(encoded))
        report = await validate_source(source, data.node_type, data.validation_level, node_name=spec.names.snake,
                                       path=target, import_roots=[policy.root], interpreter=interpreter)
        ctx.event("coder.validated", passed=report.passed, failed=[c.name for c in report.failed])

        todo = todo_lines(source)
        output: dict[str, Any] = {
            "generated_file": None,
            "rejected_file": None,
            "node_name": spec.names.snake,
            "class_name": spec.names.class_name,
            "node_type": data.node_type,
            "framework": choice.to_json(),
            "interpreter": interpreter.describe(),
            "validation_level": data.validation_level,
            "validation_passed": report.passed,
            "checks": [c.model_dump() for c in report.checks],
            "warnings": [*spec.warnings, *report.warnings],
            "implementation": data.backend,
            "skeleton": bool(todo),
            "todo": todo,
            "context_used": [n.to_json() for n in spec.context_used],
            "conventions": conventions([*spec.context_files, *siblings]),
            "bytes": len(encoded),
            "sha256": hashlib.sha256(encoded).hexdigest(),
        }
        rejected = target.with_name(f"{target.stem}.rejected.py")
        if report.passed:
            if read_file(policy.root, target) == encoded:  # a rerun (resume, retry) of work already done
                output["unchanged"] = True
            else:
                await _write(policy.root, target, encoded, shown, overwrite=data.overwrite)
            remove_file(policy.root, rejected)  # left by an earlier failed run; it no longer describes this file
            output["generated_file"] = str(target)
            return output

        await _write(policy.root, rejected, encoded, _relative(rejected, policy.root), overwrite=True)
        output["rejected_file"] = str(rejected)
        failed = ", ".join(c.name for c in report.failed)
        raise TaskFailure(
            f"{spec.names.class_name} failed {data.validation_level} validation ({failed}): {report.summary()}; "
            f"the code was written to {_relative(rejected, policy.root)!r} for inspection, not to {shown!r}",
            output=output,
            retryable=data.backend not in DETERMINISTIC_BACKENDS,
        )


async def _write(root: Path, path: Path, data: bytes, shown: str, *, overwrite: bool) -> None:
    """No-clobber check and write in one atomic step, through directory handles (see safe_write)."""
    try:
        await asyncio.to_thread(write_file, root, path, data, overwrite=overwrite)
    except FileExistsError:
        raise TaskFailure(
            f'output file {shown!r} already exists and "overwrite" is false; set "overwrite": true to replace it',
            retryable=False,
        ) from None
    except UnsafePath as exc:
        raise TaskFailure(f"refusing to write {shown!r}: {exc.filename} {exc.strerror}", retryable=False) from None
    except OSError as exc:
        where = f": {exc.filename!r}" if exc.filename else ""
        raise TaskFailure(f"cannot write {shown!r}: {exc.strerror or exc}{where}", retryable=False) from None


def _refuse_existing(target: Path, shown: str, overwrite: bool) -> None:
    if not overwrite and os.path.lexists(target):
        raise TaskFailure(
            f'output file {shown!r} already exists and "overwrite" is false; set "overwrite": true to replace it',
            retryable=False,
        )


def _sibling_modules(target: Path, root: Path, declared: list[Path]) -> list[ContextFile]:
    """Up to a few Python modules beside the output: the project's conventions where it will live."""
    try:
        candidates = sorted(p for p in target.parent.glob("*.py") if p.is_file() and not p.is_symlink()
                            and p != target and p not in declared and not p.name.endswith(".rejected.py"))
    except OSError:
        return []
    found: list[ContextFile] = []
    for path in candidates[:_MAX_SIBLINGS]:
        try:
            found.extend(read_context_files([path], workspace_root=root, search_roots=[target.parent, root]))
        except ContextFileError:
            continue
    return found


# `onex validate` rejects class names containing these words; a name the runner derived avoids them.
_ONEX_ANTI_PATTERNS = {"processor": "processing", "handler": "handling", "manager": "management",
                       "helper": "help", "utility": "utilities", "util": "utils", "service": "serving",
                       "controller": "control", "worker": "work"}


def _onex_name(snake: str) -> str | None:
    words = snake.split("_")
    renamed = [_ONEX_ANTI_PATTERNS.get(w, w) for w in words]
    return "_".join(renamed) if renamed != words else None


def _name_from_folder(name: str, node_type: str) -> str | None:
    """``node_user_writer_effect`` -> ``user_writer``: the folder names the node in omnibase mode."""
    match = re.fullmatch(rf"node_([a-z0-9_]+?)_{node_type.lower()}", name)
    return match.group(1) if match else None


def _relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)
