"""The coder's name, import and arity checks: the shared analysis layer's findings as named checks.

The validator gets its diagnostics from :func:`parallel_execution.analysis.source_check.check_source`
(ruff + mypy at ``standard`` depth, the debug agent's engine and classification), so the coder and
the debug agent can never disagree about the same file. Each gated check is one layer rule:

==================  ===========================  ===============================================
check               layer rule                   tools
==================  ===========================  ===============================================
undefined_names     ``undefined-name``           ruff F821 (mypy ``name-defined`` under ``*``)
missing_imports     ``missing-import``           the same, when an import is known: the line to add
imports_resolvable  ``unresolved-import``        mypy ``import-not-found``, ``Module has no attribute``
call_arity          ``call-arity``               mypy ``call-arg``, in Python's ``TypeError`` words
unused_imports      ``unused-import`` (warning)  ruff F401
==================  ===========================  ===============================================

What stays here is what no tool does (each has a test in ``tests/test_coder_validator.py``):

- **optional imports**: an import guarded by ``try: ... except ImportError`` is optional by design,
  so its ``unresolved-import`` does not reject the code;
- **relative imports** are rejected with the reason (the node module is imported on its own, not
  as part of a package), whatever mypy made of them;
- **lazy packages**: a module answering any name through ``__getattr__`` (pydantic) makes mypy
  accept ``from pydantic import BaseModell``; the names the module really defines decide;
- **Python's wording** of an arity error (``f() missing 1 required positional argument(s): 'x'``),
  so repair prompts read like the traceback the code would raise.

When ruff or mypy is missing or fails, these checks are warnings saying so ("not checked: ...").
"""

from __future__ import annotations

import ast
import re

from parallel_execution.agents.coder.report import Check, issues_check
from parallel_execution.agents.coder.resolve import ImportResolver
from parallel_execution.analysis.catalogue import import_for
from parallel_execution.analysis.diagnostics import Diagnostic
from parallel_execution.analysis.engine import Report, import_hints

__all__ = ["GATED_RULES", "arity_message", "tool_checks"]

Issue = tuple[int, str]
GATED_RULES = ("undefined-name", "missing-import", "unresolved-import", "call-arity", "unused-import")
_NAMES = ("undefined_names", "missing_imports", "imports_resolvable", "call_arity", "unused_imports")
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_RELATIVE = "relative import: the module is imported on its own, not as part of a package; use an absolute import"


def tool_checks(report: Report, tree: ast.Module, resolver: ImportResolver) -> list[Check]:
    """``undefined_names``, ``missing_imports``, ``imports_resolvable``, ``call_arity``, ``unused_imports``."""
    failed = [c for c in report.failures() if c.tool in ("ruff", "mypy")]
    if failed:
        note = "; ".join(f"{c.tool} {c.status}: {(c.detail or '').strip()[:200]}" for c in failed)
        return [Check(name=n, passed=False, severity="warning", message=f"not checked: {note}") for n in _NAMES]
    optional = _optional_import_lines(tree)
    relative = {n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    hints = import_hints({"": tree})
    issues: dict[str, set[Issue]] = {n: set() for n in _NAMES}
    for diag in report.diagnostics:
        if diag.rule == "undefined-name" and diag.symbol:
            issues["undefined_names"].add((diag.line, f"name {diag.symbol!r} is not defined"))
        elif diag.rule == "missing-import" and diag.symbol:
            statement = import_for(diag.symbol, hints) or f"import {diag.symbol}"
            issues["missing_imports"].add((diag.line, f"{diag.symbol!r} is used but never imported: add "
                                                      f"'{statement}'"))
        elif diag.rule == "unresolved-import" and diag.line not in optional | relative:
            issues["imports_resolvable"].add((diag.line, _import_message(diag)))
        elif diag.rule == "call-arity":
            issues["call_arity"].add((diag.line, arity_message(diag, tree)))
        elif diag.rule == "unused-import" and diag.tool == "ruff":
            bound = re.search(r"`([\w.]+)`", diag.message)
            name = (bound.group(1) if bound else diag.symbol or "?").split(".")[0]
            issues["unused_imports"].add((diag.line, f"{name!r} is imported but unused"))
    issues["imports_resolvable"] |= {(line, _RELATIVE) for line in relative}
    flagged = {line for line, _ in issues["imports_resolvable"]}
    issues["imports_resolvable"] |= _lazy_module_names(tree, resolver, optional | flagged)
    return [
        issues_check("undefined_names", sorted(issues["undefined_names"]),
                     "every name used is defined, imported or a builtin"),
        issues_check("missing_imports", sorted(issues["missing_imports"]),
                     "every module and library name used is imported"),
        issues_check("imports_resolvable", sorted(issues["imports_resolvable"]),
                     "every import resolves in this environment"),
        issues_check("call_arity", sorted(issues["call_arity"]), "every call to a known function matches its signature"),
        issues_check("unused_imports", sorted(issues["unused_imports"]), "every import is used", severity="warning"),
    ]


def _import_message(diag: Diagnostic) -> str:
    if (missing := re.search(r'module named "([\w.]+)"', diag.message)) is not None:
        return f"No module named {missing.group(1)!r}"
    if (name := re.match(r'Module "([\w.]+)" has no attribute "(\w+)"', diag.message)) is not None:
        return f"cannot import name {name.group(2)!r} from {name.group(1)!r}"
    return diag.message


def _lazy_module_names(tree: ast.Module, resolver: ImportResolver, skip: set[int]) -> set[Issue]:
    """``from m import n`` where ``m`` answers any name through a module ``__getattr__`` (lazy packages
    such as pydantic), so mypy accepts every name: the names ``m`` really defines decide."""
    issues: set[Issue] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module or node.lineno in skip:
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


# ----------------------------------------------------------------------------- arity, in Python's words


def _call_at(tree: ast.Module, line: int, column: int) -> ast.Call | None:
    best: ast.Call | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == line:
            if node.col_offset + 1 == column:
                return node
            best = best or node
    return best


def _positional_count(tree: ast.Module, name: str) -> int | None:
    short = name.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == short:
            count = len(node.args.posonlyargs) + len(node.args.args)
            return count - 1 if name.startswith(("self.", "cls.")) else count
    return None


def arity_message(diag: Diagnostic, tree: ast.Module) -> str:
    """mypy's ``call-arg`` verdict worded as the ``TypeError`` the call would raise."""
    call = _call_at(tree, diag.line, diag.column)
    label = ast.unparse(call.func) if call is not None else (diag.symbol or "call")
    message = diag.message
    if (m := re.match(r"Missing positional arguments? (.+?) in call to ", message)) is not None:
        names = re.findall(r'"(\w+)"', m.group(1))
        return f"{label}() missing {len(names)} required positional argument(s): {', '.join(map(repr, names))}"
    if (m := re.match(r"Missing named arguments? (.+?) for ", message)) is not None:
        names = re.findall(r'"(\w+)"', m.group(1))
        return f"{label}() missing {len(names)} required keyword-only argument(s): {', '.join(map(repr, names))}"
    if (m := re.match(r'Unexpected keyword argument "(\w+)"', message)) is not None:
        return f"{label}() got an unexpected keyword argument {m.group(1)!r}"
    if (m := re.search(r'gets multiple values for keyword argument "(\w+)"', message)) is not None:
        return f"{label}() got multiple values for argument {m.group(1)!r}"
    if message.startswith("Too many") and call is not None:
        takes = _positional_count(tree, label)
        if takes is not None:
            return f"{label}() takes {takes} positional argument(s) but {len(call.args)} were given"
        return f"{label}() takes fewer positional arguments than the {len(call.args)} given"
    return f"{label}(): {message}"
