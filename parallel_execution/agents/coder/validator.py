"""Validate generated node source at a level; the same checks apply to every backend's code.

==========  ==================================================================================
level       checks (each later level includes the earlier ones)
==========  ==================================================================================
lenient     ``syntax`` (``ast.parse``), ``compiles`` (``compile``)
moderate    ``undefined_names``, ``missing_imports``, ``imports_resolvable``, ``call_arity``,
            ``unused_imports`` (warning only), ``node_class``, ``io_models``, ``entry_point``
strict      ``purity`` (Compute/Reducer), ``type_hints``, ``docstrings``, and
            ``import_and_instantiate``: a fresh process of the project's interpreter imports the
            module and instantiates the node class with no arguments
==========  ==================================================================================

Static checks never execute the code. The name, import and arity checks come from the shared
analysis layer (:mod:`.findings`: ruff and mypy through ``analysis.source_check`` at ``standard``
depth, the debug agent's engine), so the coder and the debug agent report the same findings for the
same file; the report's ``findings`` are those diagnostics (tool, code, rule, line). Concurrent
validations share one ruff and one mypy run (``source_check`` batches them), and mypy's cache of
the standard library and installed packages is kept per interpreter, so a new text costs one warm
mypy start. Imports are judged by the project's interpreter (``interpreter``; the runner's own when
none is given) with the target folder and ``import_roots`` (the workspace) first on the search path.
The strict import runs that interpreter in its own session with a timeout (killed on timeout or
cancellation), ``cwd`` the target folder, the same search order; the source is imported from a
private temporary copy, so nothing is written next to the target before the verdict, and
``PYTHONDONTWRITEBYTECODE`` keeps ``__pycache__`` out of the workspace.

Example::

    report = await validate_source(source, "Effect", "strict", node_name="user_writer",
                                   path=Path("generated/node_user_writer_effect.py"))
    report.passed, report.failed, report.warnings
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import platform
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson

from parallel_execution.agents.coder.conventions import find_node_class, moderate_checks, strict_checks
from parallel_execution.agents.coder.findings import tool_checks
from parallel_execution.agents.coder.naming import NodeNames, NodeType, node_names
from parallel_execution.agents.coder.project import project_search_path
from parallel_execution.agents.coder.report import Check, Level, ValidationReport
from parallel_execution.agents.coder.resolve import ImportResolver
from parallel_execution.analysis import astsafe
from parallel_execution.analysis.diagnostics import Diagnostic
from parallel_execution.analysis.interpreter import ProjectInterpreter
from parallel_execution.analysis.source_check import check_source

__all__ = ["DEFAULT_IMPORT_TIMEOUT", "static_checks", "validate_source"]

DEFAULT_IMPORT_TIMEOUT = 20.0
_RUNNER = ProjectInterpreter(Path(sys.executable), "runner", platform.python_version())
_MARKER = "@@coder-import-check@@"

# Runs in the fresh interpreter: argv = source file, module name, class name, pascal name, roots...
_IMPORT_SCRIPT = r"""
import importlib.util, json, sys
path, module_name, class_name, pascal, *roots = sys.argv[1:]
sys.path[:1] = roots
result = {"imported": False, "instantiated": False, "not_models": []}
try:
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    result["imported"] = True
    if class_name:
        getattr(module, class_name)()
        result["instantiated"] = True
    if pascal:
        from pydantic import BaseModel
        for model in ("Model%sInput" % pascal, "Model%sOutput" % pascal):
            value = getattr(module, model, None)
            if not (isinstance(value, type) and issubclass(value, BaseModel)):
                result["not_models"].append(model)
except BaseException as exc:
    result["error"] = "%s: %s" % (type(exc).__name__, exc)
print("@@coder-import-check@@" + json.dumps(result), flush=True)
"""


async def static_checks(
    source: str,
    node_type: NodeType,
    level: Level,
    *,
    names: NodeNames | None = None,
    folder: Path | None = None,
    import_roots: Sequence[Path] = (),
    filename: str = "<generated>",
    search_path: Sequence[str] | None = None,
    interpreter: ProjectInterpreter | None = None,
) -> tuple[list[Check], list[Diagnostic]]:
    """Every check of ``level`` except the strict import, and the layer's findings behind them;
    stops early when the code cannot parse."""
    checks, tree = await asyncio.to_thread(_parse_checks, source, filename)
    if tree is None or level == "lenient":
        return checks, []
    python = interpreter or _RUNNER
    roots = [r for r in ([folder] if folder else []) + list(import_roots) if r.is_dir()]
    report = await check_source(source, filename, search_path=roots, depth="standard", python=python)
    resolver = ImportResolver([*([folder] if folder else []), *import_roots], search_path=search_path)

    def conclude() -> list[Check]:
        found = tool_checks(report, tree, resolver) + moderate_checks(tree, node_type, names)
        return found + (strict_checks(tree, node_type) if level == "strict" else [])

    return checks + await asyncio.to_thread(conclude), report.diagnostics


def _parse_checks(source: str, filename: str) -> tuple[list[Check], ast.Module | None]:
    try:
        tree = astsafe.parse(source, filename=filename)
    except SyntaxError as exc:
        where = f"line {exc.lineno}, column {exc.offset}" if exc.lineno else "unknown position"
        return [Check(name="syntax", passed=False, message=f"{exc.msg} ({where})", line=exc.lineno)], None
    checks = [Check(name="syntax", passed=True, message="source parses")]
    try:
        compile(tree, filename, "exec")
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        message = getattr(exc, "msg", str(exc))
        return [*checks, Check(name="compiles", passed=False, message=f"{message} (line {line})", line=line)], None
    return [*checks, Check(name="compiles", passed=True, message="source compiles")], tree


async def validate_source(
    source: str,
    node_type: NodeType,
    level: Level,
    *,
    node_name: str | None = None,
    path: str | os.PathLike[str] | None = None,
    import_roots: Sequence[str | os.PathLike[str]] = (),
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    interpreter: ProjectInterpreter | None = None,
) -> ValidationReport:
    """Run every check of ``level`` on ``source`` meant to live at ``path``; never raises for bad code.

    ``node_name`` fixes the expected class name (``NodeUserWriterEffect`` for ``user_writer``);
    without it any ``Node...<Type>`` class is accepted. Imports resolve from ``path``'s folder,
    then ``import_roots``, then the ``sys.path`` of ``interpreter`` (the project's; this
    interpreter's when None), and the strict import runs in that interpreter.
    """
    search_path = await asyncio.to_thread(project_search_path, interpreter) if interpreter is not None else None
    python = str(interpreter.path) if interpreter is not None else sys.executable
    names = node_names(node_name, node_type) if node_name else None
    target = Path(path).absolute() if path is not None else None
    folder = target.parent if target is not None else None
    roots = [Path(r).absolute() for r in import_roots]
    filename = str(target) if target else "<generated>"
    checks, findings = await static_checks(source, node_type, level, names=names, folder=folder, import_roots=roots,
                                           filename=filename, search_path=search_path, interpreter=interpreter)
    class_name = names.class_name if names else None
    if all(c.passed for c in checks if c.name in ("syntax", "compiles")):
        node_class = find_node_class(astsafe.parse(source), node_type, names)
        class_name = node_class.name if node_class is not None else class_name
        if level == "strict":
            found = node_class.name if node_class is not None else None
            checks.append(await _import_check(source, target, found, node_type, roots, import_timeout, python))
    return ValidationReport(level=level, node_type=node_type, class_name=class_name, checks=checks,
                            findings=[d.to_json() for d in findings])


async def _import_check(
    source: str,
    target: Path | None,
    class_name: str | None,
    node_type: str,
    roots: Sequence[Path],
    timeout: float,
    python: str = sys.executable,
) -> Check:
    stem = target.stem if target is not None else "generated_node"
    module_name = stem if stem.isidentifier() else "generated_node"
    pascal = class_name[len("Node"): -len(node_type)] if class_name else ""
    with tempfile.TemporaryDirectory(prefix="coder-import-") as scratch:
        copy = Path(scratch) / f"{module_name}.py"
        copy.write_text(source, encoding="utf-8")
        folder = target.parent if target is not None and target.parent.is_dir() else Path(scratch)
        search = [str(folder), *(str(r) for r in roots)]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = await asyncio.create_subprocess_exec(
            python, "-c", _IMPORT_SCRIPT, str(copy), module_name, class_name or "", pascal, *search,
            cwd=folder, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        try:
            async with asyncio.timeout(timeout):
                stdout, stderr = await proc.communicate()
        except TimeoutError:
            return Check(name="import_and_instantiate", passed=False,
                         message=f"importing the module did not finish within {timeout:g} s")
        finally:
            if proc.returncode is None:  # timed out or cancelled: kill the whole session
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.shield(proc.wait())
    return _import_verdict(stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
                           class_name, proc.returncode)


def _import_verdict(stdout: str, stderr: str, class_name: str | None, returncode: int | None) -> Check:
    lines = [line for line in stdout.splitlines() if line.startswith(_MARKER)]
    if not lines:
        tail = (stderr.strip().splitlines() or [f"exit code {returncode}"])[-1]
        return Check(name="import_and_instantiate", passed=False,
                     message=f"the import process ended without a verdict: {tail}")
    result = orjson.loads(lines[-1][len(_MARKER):])
    if "error" in result:
        stage = "instantiating " + str(class_name) if result["imported"] else "importing the module"
        return Check(name="import_and_instantiate", passed=False, message=f"{stage} failed: {result['error']}")
    if not class_name:
        return Check(name="import_and_instantiate", passed=False,
                     message="the module imports, but it has no node class to instantiate")
    if result["not_models"]:
        return Check(name="import_and_instantiate", passed=False,
                     message=f"not pydantic models: {', '.join(result['not_models'])}")
    return Check(name="import_and_instantiate", passed=True,
                 message=f"a fresh interpreter imports the module and instantiates {class_name}()")
