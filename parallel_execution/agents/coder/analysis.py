"""The coder's name and import checks, from the shared analysis layer (ruff + mypy).

``shared_checks`` runs :func:`parallel_execution.analysis.source_check.check_source` on the
generated text (as if it lived at its target path, imports resolving from the target's folder and
the import roots) and turns the diagnostics into the validator's named checks, so the coder and the
debug agent can never disagree about the same file:

- ``undefined_names``: ruff ``F821`` / mypy ``name-defined`` with no known import;
- ``missing_imports``: the same with a known import (``catalogue.import_for``: a standard-library
  module, a well-known name, a module the project's interpreter can import), the line to add named;
- ``imports_resolvable``: mypy ``import-not-found`` and ``Module "m" has no attribute "n"`` on an
  import line, except imports guarded by ``try/except ImportError`` (optional by design: the one
  idiom the tools do not know), and relative imports (the module is imported on its own);
  plus, for modules that answer any name through ``__getattr__`` (lazy packages: mypy accepts every
  name there), the names the module really exports;
- ``call_arity``: mypy ``call-arg`` in Python's own ``TypeError`` wording (:mod:`.arity`);
- ``unused_imports`` (a warning): ruff ``F401``.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import lru_cache
from pathlib import Path

from parallel_execution.agents.coder.arity import arity_message
from parallel_execution.agents.coder.report import Check, issues_check
from parallel_execution.agents.coder.resolve import ImportResolver
from parallel_execution.analysis.catalogue import import_for
from parallel_execution.analysis.diagnostics import Diagnostic
from parallel_execution.analysis.engine import Report
from parallel_execution.analysis.procs import run_sync
from parallel_execution.analysis.source_check import check_source

__all__ = ["shared_checks"]

Issue = tuple[int, str]
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@lru_cache(maxsize=32)
def _report(source: str, filename: str, roots: tuple[str, ...]) -> Report:
    return run_sync(check_source(source, filename, search_path=[Path(r) for r in roots]))


def _roots(resolver: ImportResolver) -> tuple[str, ...]:
    return tuple(p for p in resolver.search_path if p not in sys.path and Path(p).is_dir())


def shared_checks(tree: ast.Module, source: str, filename: str, resolver: ImportResolver) -> list[Check]:
    """``undefined_names``, ``missing_imports``, ``imports_resolvable``, ``call_arity``, ``unused_imports``."""
    report = _report(source, filename, _roots(resolver))
    failed = [c for c in report.failures() if c.tool in ("ruff", "mypy")]
    if failed:
        note = "; ".join(f"{c.tool} {c.status}: {(c.detail or '').strip()[:200]}" for c in failed)
        return [Check(name=n, passed=False, severity="warning", message=f"not checked: {note}")
                for n in ("undefined_names", "missing_imports", "imports_resolvable", "call_arity")] + [
            Check(name="unused_imports", passed=False, severity="warning", message=f"not checked: {note}")]
    optional = _optional_import_lines(tree)
    undefined: set[Issue] = set()
    missing: set[Issue] = set()
    unresolved: set[Issue] = set()
    arity: set[Issue] = set()
    unused: set[Issue] = set()
    seen_names: set[tuple[int, str]] = set()
    for diag in report.diagnostics:
        if diag.rule in ("undefined-name", "missing-import") and diag.symbol:
            if (diag.line, diag.symbol) in seen_names:
                continue
            seen_names.add((diag.line, diag.symbol))
            statement = import_for(diag.symbol, {}) or _third_party(diag.symbol, report)
            if statement:
                missing.add((diag.line, f"{diag.symbol!r} is used but never imported: add '{statement}'"))
            else:
                undefined.add((diag.line, f"name {diag.symbol!r} is not defined"))
        elif diag.rule == "unresolved-import" and diag.line not in optional:
            unresolved.add((diag.line, _import_message(diag, tree)))
        elif diag.rule == "call-arity":
            arity.add((diag.line, arity_message(diag, tree)))
        elif diag.rule == "unused-import" and diag.tool == "ruff" and diag.code == "F401":
            bound = re.search(r"`([\w.]+)`", diag.message)
            name = (bound.group(1) if bound else diag.symbol or "?").split(".")[0]
            unused.add((diag.line, f"{name!r} is imported but unused"))
    unresolved |= _lazy_module_names(tree, resolver, optional, {line for line, _ in unresolved})
    return [
        issues_check("undefined_names", sorted(undefined), "every name used is defined, imported or a builtin"),
        issues_check("missing_imports", sorted(missing), "every module and library name used is imported"),
        issues_check("imports_resolvable", sorted(unresolved), "every import resolves in this environment"),
        issues_check("call_arity", sorted(arity), "every call to a known function matches its signature"),
        issues_check("unused_imports", sorted(unused), "every import is used", severity="warning"),
    ]


def _third_party(name: str, report: Report) -> str | None:
    return f"import {name}" if name.isidentifier() and report.interpreter.has_module(name) else None


def _import_message(diag: Diagnostic, tree: ast.Module) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.lineno == diag.line and node.level:
            return "relative import: the module is imported on its own, not as part of a package; use an absolute import"
    if (missing := re.search(r'module named "([\w.]+)"', diag.message)) is not None:
        return f"No module named {missing.group(1)!r}"
    if (name := re.match(r'Module "([\w.]+)" has no attribute "(\w+)"', diag.message)) is not None:
        return f"cannot import name {name.group(2)!r} from {name.group(1)!r}"
    return diag.message


def _lazy_module_names(tree: ast.Module, resolver: ImportResolver, optional: set[int],
                       flagged: set[int]) -> set[Issue]:
    """``from m import n`` where ``m`` answers any name through a module ``__getattr__`` (lazy packages
    such as pydantic), so mypy accepts every name: the names ``m`` really exports decide."""
    issues: set[Issue] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module or node.lineno in optional | flagged:
            continue
        names = resolver.module_names(node.module)
        if names is None or names.open or not names.has_getattr:
            continue
        for alias in node.names:
            if alias.name != "*" and not names.has(alias.name) and not resolver.has_submodule(node.module, alias.name):
                issues.add((node.lineno, f"cannot import name {alias.name!r} from {node.module!r}"))
    return issues


def _optional_import_lines(tree: ast.Module) -> set[int]:
    """Lines of imports guarded by ``try: ... except ImportError`` (optional by design)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Try, ast.TryStar)) and any(_catches_import_error(h) for h in node.handlers):
            lines |= {sub.lineno for stmt in node.body for sub in ast.walk(stmt)
                      if isinstance(sub, (ast.Import, ast.ImportFrom))}
    return lines


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in _IMPORT_ERRORS for k in kinds)
