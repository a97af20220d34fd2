"""ONEX node conventions as diagnostics: the coder's checks, seen through the analysis layer.

The coder's :mod:`~parallel_execution.agents.coder.conventions` (``find_node_class``,
``moderate_checks``, ``strict_checks``) is the one definition of the conventions; this adapter
finds the node type of a module (a top-level class ``Node<Name><Type>``, or a file named
``node_*.py`` / under a ``nodes`` folder, checked as every type until one fits) and turns each failed
check into a :class:`Diagnostic` (``tool`` ``onex``, ``code`` the check name, rule
``onex-convention``), so the debug agent can "validate all ONEX nodes in nodes/".

``is_node_module`` decides which files the ``auto`` setting checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from parallel_execution.analysis.diagnostics import CheckRun, Diagnostic

__all__ = ["NODE_TYPES", "is_node_module", "onex_check_run", "onex_diagnostics"]

NODE_TYPES = ("Effect", "Compute", "Reducer", "Orchestrator")
_NODE_CLASS = re.compile(rf"^Node[A-Z0-9]\w*({'|'.join(NODE_TYPES)})$")
MODERATE = ("node_class", "io_models", "entry_point")
STRICT = ("purity", "type_hints", "docstrings")


def node_type_of(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and (match := _NODE_CLASS.match(node.name)):
            return match.group(1)
    return None


def is_node_module(file: str, tree: ast.Module) -> bool:
    path = Path(file)
    return node_type_of(tree) is not None or path.name.startswith("node_") or "nodes" in path.parts[:-1]


def onex_diagnostics(file: str, tree: ast.Module, *, strict: bool = False) -> list[Diagnostic]:
    """Failed ONEX convention checks of one module (moderate; strict adds purity, hints, docstrings)."""
    from parallel_execution.agents.coder.conventions import moderate_checks, strict_checks

    node_type = node_type_of(tree)
    if node_type is None:
        return [Diagnostic("onex", "node_class", file, 1, 1, "no ONEX node class: expected a top-level class "
                           f"Node<Name><Type> with Type one of {', '.join(NODE_TYPES)}", "warning",
                           rule="onex-convention")]
    checks = moderate_checks(tree, node_type, None)
    if strict:
        checks += strict_checks(tree, node_type)
    return [Diagnostic("onex", c.name, file, c.line or 1, 1, c.message,
                       "warning" if c.severity == "warning" else "error", rule="onex-convention")
            for c in checks if not c.passed]


def onex_check_run(files: int, strict: bool) -> CheckRun:
    return CheckRun("onex", None, MODERATE + (STRICT if strict else ()), files)
