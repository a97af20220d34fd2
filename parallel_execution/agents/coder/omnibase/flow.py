"""One coder task in omnibase mode: render (or have Claude write) the node folder, validate, install.

::

    names (folder, package, classes)   names.py      ValueError (folder not importable) -> task failure
      → files from the scaffold          layout.py     claude backend: the session writes handler.py,
                                                       the rest of the folder stays the scaffold's
      → validate_folder at the level     validate.py   static, then (strict) the framework's own checks
      → passed:   install_folder         staged beside the target, renamed into place in one step,
                                         no clobber unless overwrite (one atomic rename)
        rejected: files kept in the trace folder (``<task>.rejected/``), nothing in the workspace

The output has the standalone keys plus ``generated_folder`` and ``files``; ``generated_file`` is
the folder too, so readers that only know that key still find the output.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.coder.context import conventions
from parallel_execution.agents.coder.framework import FrameworkChoice
from parallel_execution.agents.coder.omnibase.layout import render_folder
from parallel_execution.agents.coder.omnibase.names import OmnibaseNames, import_root, omnibase_names
from parallel_execution.agents.coder.omnibase.prompt import omnibase_instructions
from parallel_execution.agents.coder.omnibase.validate import validate_folder
from parallel_execution.agents.coder.report import Level, ValidationReport
from parallel_execution.agents.coder.safe_write import UnsafePath, install_folder, read_file
from parallel_execution.agents.coder.scaffold import todo_lines
from parallel_execution.agents.coder.spec import NodeSpec
from parallel_execution.analysis.interpreter import ProjectInterpreter
from parallel_execution.errors import TaskFailure
from parallel_execution.traces.fsio import atomic_write_text

__all__ = ["run_omnibase"]


async def run_omnibase(
    ctx: TaskContext,
    spec: NodeSpec,
    folder: Path,
    *,
    level: Level,
    overwrite: bool,
    backend: str,
    interpreter: ProjectInterpreter,
    choice: FrameworkChoice,
    repair_attempts: int = 1,
    model: str | None = None,
) -> dict[str, Any]:
    """Generate, validate and install the node folder at ``folder``; raises TaskFailure when rejected."""
    root = ctx.workspace.root
    shown = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
    if folder.exists() and not folder.is_dir():
        raise TaskFailure(f"output folder {shown!r} exists and is not a folder", retryable=False)
    try:
        names = omnibase_names(spec.names, folder, root, verb=spec.reading.verb, entity=spec.reading.entity)
    except ValueError as exc:
        raise TaskFailure(str(exc), retryable=False) from None
    files = dict(render_folder(spec, names).files)
    package_root = import_root(folder, root)

    verdicts: dict[str, tuple[ValidationReport, dict[str, float]]] = {}

    async def check(handler: str) -> tuple[ValidationReport, dict[str, float]]:
        # Memoised: the claude loop's last round already validated the handler it returns.
        if handler not in verdicts:
            verdicts[handler] = await validate_folder({**files, "handler.py": handler}, names, spec.node_type,
                                                      level, interpreter=interpreter, import_root=package_root)
        return verdicts[handler]

    if backend == "claude":
        files["handler.py"] = await _claude_handler(ctx, spec, names, files, folder, level, check,
                                                    repair_attempts=repair_attempts, model=model)
    report, timings = await check(files["handler.py"])
    ctx.event("coder.validated", passed=report.passed, failed=[c.name for c in report.failed], timings_s=timings)
    encoded = {rel: text.encode("utf-8") for rel, text in files.items()}
    todo = todo_lines(files["handler.py"])
    skeleton = bool(todo) or any(c.message.startswith("SKELETON:") for c in report.checks)
    output: dict[str, Any] = {
        "generated_file": None, "generated_folder": None, "rejected_file": None,
        "files": sorted(encoded), "node_name": names.snake, "class_name": names.class_name,
        "node_type": spec.node_type, "framework": choice.to_json(), "interpreter": interpreter.describe(),
        "validation_level": level, "validation_passed": report.passed,
        "checks": [c.model_dump() for c in report.checks], "validation_seconds": timings,
        "warnings": [*spec.warnings, *report.warnings], "implementation": backend,
        "skeleton": skeleton, "todo": todo, "context_used": [n.to_json() for n in spec.context_used], "conventions": conventions(spec.context_files),
        "bytes": sum(len(b) for b in encoded.values()), "sha256": _digest(encoded),
    }
    if not report.passed:
        rejected = ctx.artifacts_dir / f"{ctx.task_id}.rejected" / names.folder
        await asyncio.to_thread(_keep_rejected, rejected, files)
        output["rejected_file"] = str(rejected)
        raise TaskFailure(
            f"{names.class_name} failed {level} validation ({', '.join(c.name for c in report.failed)}): "
            f"{report.summary()}; nothing was written to {shown!r}, the files are in {str(rejected)!r}",
            output=output, retryable=backend != "scaffold")
    if await asyncio.to_thread(_same_folder, root, folder, encoded):
        output["unchanged"] = True
    else:
        try:
            await asyncio.to_thread(install_folder, root, folder, encoded, overwrite=overwrite)
        except FileExistsError:
            raise TaskFailure(f'output folder {shown!r} already exists and "overwrite" is false; set "overwrite": '
                              "true to replace it", retryable=False) from None
        except UnsafePath as exc:
            raise TaskFailure(f"refusing to write {shown!r}: {exc.filename} {exc.strerror}", retryable=False) from None
        except OSError as exc:
            raise TaskFailure(f"cannot write {shown!r}: {exc.strerror or exc}", retryable=False) from None
    output["generated_file"] = output["generated_folder"] = str(folder)
    return output


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return digest.hexdigest()


def _same_folder(root: Path, folder: Path, files: dict[str, bytes]) -> bool:
    """Whether ``folder`` already holds exactly ``files`` (a rerun of finished work)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    return present == set(files) and all(read_file(root, folder / rel) == data for rel, data in files.items())


def _keep_rejected(rejected: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        atomic_write_text(rejected / rel, text)


async def _claude_handler(ctx: TaskContext, spec: NodeSpec, names: OmnibaseNames, files: dict[str, str], folder: Path,
                          level: Level, check: Any, *, repair_attempts: int, model: str | None) -> str:
    """handler.py written by a Claude session, checked with the whole folder at every round."""
    from parallel_execution.claude_code.backends import generate_code  # only loaded for model-backed tasks

    async def validate(code: str) -> tuple[bool, list[dict[str, Any]]]:
        report, _ = await check(code)
        return report.passed, [c.model_dump() for c in report.checks]

    # The session writes one file beside the folder (never inside it: a rejected attempt must not
    # leave a half folder); the runner installs it as handler.py with the rest of the folder.
    handler_path = folder.with_name(f"{names.folder}.handler.py")
    result = await generate_code(
        ctx, contract=spec.contract, node_type=spec.node_type, output_path=handler_path,
        context_files=[str(f.path) for f in spec.context_files], validate=validate,
        repair_attempts=repair_attempts, node_name=spec.names.snake, validation_level=level, model=model,
        overwrite=True, write_output=False, instructions=omnibase_instructions(spec, names, files, folder))
    ctx.event("coder.claude", **{k: result.get(k) for k in ("session_id", "num_turns", "total_cost_usd")})
    return str(result["source"])
