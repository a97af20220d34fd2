"""Static checks on names: undefined names, missing imports, unresolvable imports, unused imports.
The code being checked is parsed, never run (call arity lives in :mod:`.arity`).

- **Scopes** come from :mod:`symtable` (the compiler's own symbol table), so comprehension and
  class-body scoping are exactly Python's. A name used in some scope that resolves to the module
  scope, is bound nowhere there and is not a builtin is undefined. Annotations are checked as well
  (also string annotations): pydantic evaluates them at class creation.
- An undefined name that is a findable module (``sys``) or a well-known importable name (``Any``,
  ``BaseModel``) is reported as a **missing import** with the line to add.
- **Imports** are resolved with :class:`~.resolve.ImportResolver` (``from m import n`` also checks that
  ``m`` defines ``n``). Imports guarded by ``try/except ImportError`` are optional and skipped.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import collections.abc
import symtable
import typing
from collections.abc import Iterator

from parallel_execution.agents.coder.report import Check, issues_check
from parallel_execution.agents.coder.resolve import ImportResolver
from parallel_execution.analysis import astsafe

__all__ = ["import_checks", "name_checks", "unused_imports_check"]

Issue = tuple[int, str]

_BUILTINS = frozenset(dir(builtins))
_MODULE_DUNDERS = frozenset(
    {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
     "__path__", "__annotations__", "__dict__", "__cached__"}
)
_CLASS_DUNDERS = frozenset({"__module__", "__qualname__"})
_KNOWN_HOMES: dict[str, str] = {
    **{name: "typing" for name in typing.__all__},
    **{name: "collections.abc" for name in collections.abc.__all__},
    **dict.fromkeys(("BaseModel", "Field", "ConfigDict", "ValidationError", "field_validator",
                     "model_validator"), "pydantic"),
    **dict.fromkeys(("dataclass", "field"), "dataclasses"),
    **dict.fromkeys(("partial", "reduce", "wraps", "lru_cache", "cache"), "functools"),
    **dict.fromkeys(("defaultdict", "OrderedDict", "Counter", "deque", "namedtuple"), "collections"),
    **dict.fromkeys(("ABC", "abstractmethod"), "abc"),
    "Path": "pathlib",
    "Enum": "enum",
}
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


# ----------------------------------------------------------------------------- names


def name_checks(tree: ast.Module, source: str, filename: str, resolver: ImportResolver) -> list[Check]:
    """``undefined_names`` and ``missing_imports``."""
    table = symtable.symtable(source, filename, "exec")
    defined = _module_bindings(table)
    star_unknown: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            names = resolver.module_names(node.module or "") if node.level == 0 else None
            if names is None or names.open:
                star_unknown.append(node.module or "." * node.level)
            else:
                defined |= names.names
    if star_unknown:
        note = f"not checked: 'from {star_unknown[0]} import *' hides which names exist"
        return [Check(name=n, passed=False, severity="warning", message=note)
                for n in ("undefined_names", "missing_imports")]

    used = _referenced_globals(table) | _annotation_names(tree)
    unknown = sorted(used - defined - _BUILTINS - _MODULE_DUNDERS)
    first_line = _first_lines(tree)
    missing: list[Issue] = []
    undefined: list[Issue] = []
    for name in unknown:
        line = first_line.get(name, 1)
        home = _home_of(name, resolver)
        if home is None:
            undefined.append((line, f"name {name!r} is not defined"))
        elif home == name:
            missing.append((line, f"{name!r} is used but never imported: add 'import {name}'"))
        else:
            missing.append((line, f"{name!r} is used but never imported: add 'from {home} import {name}'"))
    return [
        issues_check("undefined_names", undefined, "every name used is defined, imported or a builtin"),
        issues_check("missing_imports", missing, "every module and library name used is imported"),
    ]


def _module_bindings(table: symtable.SymbolTable) -> set[str]:
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for child in _all_tables(table):
        bound |= {s.get_name() for s in child.get_symbols() if s.is_declared_global() and s.is_assigned()}
    return bound


def _referenced_globals(table: symtable.SymbolTable) -> set[str]:
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced() and not s.is_assigned()
            and not s.is_imported()}
    for child in _all_tables(table):
        allowed = _CLASS_DUNDERS if child.get_type() == "class" else frozenset()
        used |= {s.get_name() for s in child.get_symbols()
                 if s.is_referenced() and s.is_global() and s.get_name() not in allowed}
    return used


def _all_tables(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    for child in table.get_children():
        yield child
        yield from _all_tables(child)


def _annotation_names(tree: ast.Module) -> set[str]:
    """Names in annotations evaluated at definition time (module and class level, signatures)."""
    found: set[str] = set()
    class_locals: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                class_locals.add(node.name)
                class_locals.update(_stored_names(node.body))
                visit(node.body)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                    if arg is not None and arg.annotation is not None:
                        found.update(_names_in_annotation(arg.annotation))
                if node.returns is not None:
                    found.update(_names_in_annotation(node.returns))
            elif isinstance(node, ast.AnnAssign):
                found.update(_names_in_annotation(node.annotation))

    visit(tree.body)
    return found - class_locals


def _stored_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        for sub in ast.walk(node) if isinstance(node, (ast.Assign, ast.AnnAssign)) else ():
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
    return names


def _names_in_annotation(annotation: ast.expr) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(annotation):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                inner = astsafe.parse(sub.value.strip(), mode="eval")
            except SyntaxError:
                continue
            names |= {n.id for n in ast.walk(inner) if isinstance(n, ast.Name)}
    return names


def _first_lines(tree: ast.Module) -> dict[str, int]:
    lines: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            lines[node.id] = min(lines.get(node.id, node.lineno), node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and hasattr(node, "lineno"):
            for name in _names_in_annotation(node) if node.value.isidentifier() else ():
                lines.setdefault(name, node.lineno)
    return lines


def _home_of(name: str, resolver: ImportResolver) -> str | None:
    if resolver.find(name) is not None:
        return name
    return _KNOWN_HOMES.get(name)


# ----------------------------------------------------------------------------- imports


def import_checks(tree: ast.Module, resolver: ImportResolver) -> Check:
    """``imports_resolvable``: every (non-optional) import finds its module and names."""
    issues: list[Issue] = []
    for node in _required_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if resolver.find(alias.name) is None:
                    issues.append((node.lineno, f"No module named {alias.name!r}"))
            continue
        if node.level:
            issues.append((node.lineno, "relative import: the module is imported on its own, not as part "
                                        "of a package; use an absolute import"))
            continue
        module = node.module or ""
        if module == "__future__":
            bad = [a.name for a in node.names if a.name not in __future__.all_feature_names]
            issues.extend((node.lineno, f"future feature {name!r} is not defined") for name in bad)
            continue
        names = resolver.module_names(module)
        if names is None:
            issues.append((node.lineno, f"No module named {module!r}"))
            continue
        for alias in node.names:
            if alias.name != "*" and not names.has(alias.name) and not resolver.has_submodule(module, alias.name):
                issues.append((node.lineno, f"cannot import name {alias.name!r} from {module!r}"))
    return issues_check("imports_resolvable", issues, "every import resolves in this environment")


def _required_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports not guarded by ``try: ... except ImportError``."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Try, ast.TryStar)) and any(_catches_import_error(h) for h in node.handlers):
            optional |= {id(sub) for stmt in node.body for sub in ast.walk(stmt)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in optional:
            yield node


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in _IMPORT_ERRORS for k in kinds)


def unused_imports_check(tree: ast.Module) -> Check:
    """``unused_imports`` (a warning): imported names never referenced."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            used |= _names_in_annotation(node)  # string annotations and __all__ entries
    issues: list[Issue] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name != "*" and bound not in used:
                    issues.append((node.lineno, f"{bound!r} is imported but unused"))
    return issues_check("unused_imports", issues, "every import is used", severity="warning")
