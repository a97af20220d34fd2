"""Static checks of an omnibase node folder (lenient and moderate levels; strict adds hints/docstrings).

==========  ==================================================================================
level       checks (one :class:`~..report.Check` per rule, over every ``.py`` file of the folder)
==========  ==================================================================================
lenient     ``syntax``, ``compiles``
moderate    ``undefined_names``, ``missing_imports``, ``imports_resolvable`` (judged on the
            *project's* ``sys.path``, with the folder's own package resolved to the generated
            files), ``call_arity``, ``unused_imports`` (warning); ONEX layout: ``node_class``
            (node.py subclasses the framework base), ``thin_node`` (only ``__init__``: no framework
            method shadowed), ``handler_binding`` (handler.py defines ``handle``), ``models``
            (one ``Model*`` per file, ``extra="forbid"``), ``protocols`` (``Protocol*`` names),
            ``no_any``
strict      ``type_hints``, ``docstrings``, ``purity`` (Compute/Reducer handler); the framework's
            own checks are in :mod:`.runtime`
==========  ==================================================================================

Names, imports and arity come from the shared analysis layer (``analysis.source_check.check_folder``:
ruff and mypy over the folder staged as its package, the way the debug agent sees it), turned into
checks by :mod:`..findings`.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path

from parallel_execution.agents.coder.conventions import strict_checks
from parallel_execution.agents.coder.findings import tool_checks
from parallel_execution.agents.coder.omnibase.names import OmnibaseNames
from parallel_execution.agents.coder.report import Check, Level
from parallel_execution.agents.coder.resolve import ImportResolver
from parallel_execution.analysis import astsafe
from parallel_execution.analysis.interpreter import ProjectInterpreter
from parallel_execution.analysis.source_check import check_folder

__all__ = ["FRAMEWORK_METHODS", "folder_static_checks"]

# Methods of the framework's node classes a subclass must not define (it would silently replace them).
FRAMEWORK_METHODS = frozenset({
    "process", "initialize", "cleanup", "execute_effect", "execute_compute", "execute_reduction",
    "execute_orchestration", "execute_fsm_transition", "execute_workflow_from_contract", "validate_contract",
    "register_computation", "get_node_id", "get_node_type", "get_version", "get_state",
})


class _PackageResolver(ImportResolver):
    """An ImportResolver that finds ``package`` in the staged folder instead of the workspace."""

    def __init__(self, roots: Sequence[Path], search_path: Sequence[str] | None, package: str, folder: Path) -> None:
        super().__init__(roots, search_path=search_path)
        self._package, self._folder = package, folder

    def find(self, dotted: str) -> ModuleSpec | None:
        if dotted == self._package and dotted not in self._specs:
            self._specs[dotted] = importlib.util.spec_from_file_location(
                dotted, self._folder / "__init__.py", submodule_search_locations=[str(self._folder)])
        return super().find(dotted)


async def folder_static_checks(
    files: Mapping[str, str],
    names: OmnibaseNames,
    node_type: str,
    level: Level,
    *,
    staged: Path,
    import_root: Path,
    search_path: Sequence[str] | None,
    interpreter: ProjectInterpreter,
) -> list[Check]:
    """Every static check of ``level`` over ``files`` (relative path -> text) staged at ``staged``."""
    trees: dict[str, ast.Module] = {}
    per_rule: dict[str, list[tuple[str, Check]]] = {}

    def add(rel: str, check: Check) -> None:
        per_rule.setdefault(check.name, []).append((rel, check))

    for rel, text in sorted(files.items()):
        if not rel.endswith(".py"):
            continue
        try:
            tree = astsafe.parse(text, filename=rel)
            compile(tree, rel, "exec")
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            add(rel, Check(name="syntax", passed=False, message=f"{getattr(exc, 'msg', exc)} (line {line})", line=line))
            continue
        trees[rel] = tree
        add(rel, Check(name="syntax", passed=True, message="parses"))
        add(rel, Check(name="compiles", passed=True, message="compiles"))
    if level == "lenient" or len(trees) < sum(r.endswith(".py") for r in files):
        return _merge(per_rule)

    reports = await check_folder(files, names.package, search_path=[import_root], python=interpreter)
    resolver = _PackageResolver([import_root], search_path, names.package, staged)

    def conclude() -> None:
        for rel, tree in trees.items():
            for check in tool_checks(reports[rel], tree, resolver):
                add(rel, check)
            add(rel, _no_any(tree))
            if level == "strict":
                for check in strict_checks(tree, node_type if rel == "handler.py" else "Effect"):
                    add(rel, check)

    await asyncio.to_thread(conclude)
    checks = _merge(per_rule)
    checks += [_node_class(trees.get("node.py"), names), _handler(trees.get("handler.py")),
               _models(trees, names), _protocols(trees)]
    return checks


def _merge(per_rule: dict[str, list[tuple[str, Check]]]) -> list[Check]:
    merged = []
    for name, items in per_rule.items():
        failed = [(rel, c) for rel, c in items if not c.passed]
        severity = items[0][1].severity
        if failed:
            message = "; ".join(f"{rel}: {c.message}" for rel, c in failed)
            merged.append(Check(name=name, passed=False, severity=severity, message=message, line=failed[0][1].line))
        else:
            merged.append(Check(name=name, passed=True, severity=severity, message=f"{len(items)} file(s): ok"))
    return merged


def _no_any(tree: ast.Module) -> Check:
    lines = sorted({n.lineno for n in ast.walk(tree)
                    if (isinstance(n, ast.Name) and n.id == "Any") or (isinstance(n, ast.Attribute) and n.attr == "Any")
                    or (isinstance(n, ast.alias) and n.name == "Any")})
    if lines:
        return Check(name="no_any", passed=False, line=lines[0],
                     message=f"uses Any (line {', '.join(map(str, lines[:8]))}); ONEX forbids it: name the type")
    return Check(name="no_any", passed=True, message="no Any")


def _classes(tree: ast.Module | None) -> list[ast.ClassDef]:
    return [n for n in tree.body if isinstance(n, ast.ClassDef)] if tree is not None else []


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Subscript):
        node = node.value
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else "?"


def _node_class(tree: ast.Module | None, names: OmnibaseNames) -> Check:
    found = next((c for c in _classes(tree) if c.name == names.class_name), None)
    if found is None:
        return Check(name="node_class", passed=False, message=f"node.py defines no class {names.class_name}")
    if names.base_class not in {_base_name(b) for b in found.bases}:
        return Check(name="node_class", passed=False, line=found.lineno,
                     message=f"{names.class_name} must subclass omnibase_core's {names.base_class}")
    methods = [m for m in found.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
    shadowed = [m.name for m in methods if m.name in FRAMEWORK_METHODS]
    if shadowed:
        return Check(name="node_class", passed=False, line=found.lineno,
                     message=f"{names.class_name} defines {', '.join(shadowed)}: that silently replaces the "
                             "framework's own method; put the logic in handler.py")
    extra = [m.name for m in methods if m.name != "__init__"]
    message = f"{names.class_name}({names.base_class}) defines only __init__" if not extra else \
        f"{names.class_name}({names.base_class}); also defines {', '.join(extra)} (the logic belongs in handler.py)"
    return Check(name="node_class", passed=True, line=found.lineno, message=message,
                 severity="error" if not extra else "warning")


def _handler(tree: ast.Module | None) -> Check:
    if tree is None:
        return Check(name="handler_binding", passed=False, message="no handler.py beside contract.yaml")
    handle = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and n.name == "handle"), None)
    if handle is None:
        return Check(name="handler_binding", passed=False,
                     message="handler.py defines no module function handle(node, input_data) (contract.yaml binds it)")
    if len(handle.args.args) < 2:
        return Check(name="handler_binding", passed=False, line=handle.lineno,
                     message="handle must take (node, input_data): the framework calls handler(node, input_data)")
    return Check(name="handler_binding", passed=True, line=handle.lineno, message="handler.py defines handle(node, input_data)")


def _models(trees: Mapping[str, ast.Module], names: OmnibaseNames) -> Check:
    issues = []
    for rel, tree in sorted(trees.items()):
        if not rel.startswith("models/") or rel.endswith("__init__.py"):
            continue
        classes = _classes(tree)
        if len(classes) != 1:
            issues.append(f"{rel}: {len(classes)} classes (one model per file)")
        for cls in classes:
            if not cls.name.startswith("Model"):
                issues.append(f"{rel}: {cls.name} does not start with Model")
            if 'extra="forbid"' not in ast.unparse(cls).replace("'", '"'):
                issues.append(f"{rel}: {cls.name} lacks extra=\"forbid\"")
    for wanted in (names.input_module, names.output_module):
        if f"models/{wanted}.py" not in trees:
            issues.append(f"models/{wanted}.py is missing (contract.yaml names it)")
    if issues:
        return Check(name="models", passed=False, message="; ".join(issues))
    return Check(name="models", passed=True, message="one Model* per file under models/, extra=\"forbid\"")


def _protocols(trees: Mapping[str, ast.Module]) -> Check:
    bad = [f"{rel}: {c.name}" for rel, tree in sorted(trees.items()) if rel.startswith("protocols/")
           for c in _classes(tree) if not c.name.startswith("Protocol")]
    if bad:
        return Check(name="protocols", passed=False, message="protocol classes must start with Protocol: " + ", ".join(bad))
    return Check(name="protocols", passed=True, message="protocols under protocols/ start with Protocol")
