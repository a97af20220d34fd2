"""Static import resolution: find a module and its top-level names without importing it.

The validator must say whether ``from x.y import z`` would work in this environment, but it must
not run the code it checks (nor import arbitrary installed packages into the dispatcher). So a
module is located with :class:`importlib.machinery.PathFinder` (which reads directories, never
executes), and its names are read from its source with :mod:`ast`: top-level ``def``/``class``,
assignments, imports (also inside top-level ``if``/``try``/``with``), a literal ``__all__``, and
``from m import *`` followed recursively. A module whose names cannot be known statically
(compiled, or with a module ``__getattr__`` and no literal ``__all__``) is reported as *open*:
any name is accepted.

Search order mirrors how the generated file will be imported: the file's own folder, then the
extra roots (the workspace), then the project interpreter's ``sys.path`` (``search_path``; this
interpreter's when not given) minus the current directory (the generated module is never
imported from the dispatcher's cwd).

Example::

    resolver = ImportResolver([Path("generated"), Path(".")])
    resolver.find("pydantic") is not None         # True when installed
    resolver.module_names("json").has("dumps")    # True
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.machinery import ModuleSpec
from pathlib import Path

from parallel_execution.analysis import astsafe

__all__ = ["ImportResolver", "ModuleNames", "top_level_definitions"]

_MAX_STAR_DEPTH = 4
_MAX_SOURCE_BYTES = 2_000_000


@dataclass(slots=True)
class ModuleNames:
    """The names a module defines at top level; ``open`` means others may exist too."""

    names: set[str] = field(default_factory=set)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    open: bool = False
    # A module ``__getattr__`` may serve any name, unless a literal ``__all__`` lists the public ones.
    has_getattr: bool = False
    has_all: bool = False

    def has(self, name: str) -> bool:
        return self.open or name in self.names


def top_level_definitions(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.ImportFrom]]:
    """Top-level statements, descending into ``if``/``try``/``with`` blocks; plus star imports."""
    statements: list[ast.stmt] = []
    stars: list[ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.If):
            pending[:0] = [*node.body, *node.orelse]
        elif isinstance(node, (ast.Try, ast.TryStar)):
            handlers = [stmt for handler in node.handlers for stmt in handler.body]
            pending[:0] = [*node.body, *handlers, *node.orelse, *node.finalbody]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            pending[:0] = list(node.body)
        else:
            statements.append(node)
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                stars.append(node)
    return statements, stars


class ImportResolver:
    """Locates modules and reads their top-level names; results are cached per instance."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]] = (), *,
                 search_path: Sequence[str] | None = None) -> None:
        cwd = os.getcwd()
        first = [str(Path(r)) for r in roots]
        # search_path: another interpreter's sys.path (the project's), instead of this one's.
        base = sys.path if search_path is None else search_path
        rest = [p for p in base if p not in ("", ".", cwd) and p not in first]
        self.search_path: list[str] = first + rest
        self._specs: dict[str, ModuleSpec | None] = {}
        self._names: dict[str, ModuleNames] = {}

    def find(self, dotted: str) -> ModuleSpec | None:
        """The spec of module ``dotted`` (e.g. ``"a.b"``), or None when it cannot be found."""
        if dotted in self._specs:
            return self._specs[dotted]
        head = dotted.rpartition(".")[0]
        spec: ModuleSpec | None
        if not head:
            spec = self._find_top(dotted)
        else:
            parent = self.find(head)
            locations = parent.submodule_search_locations if parent is not None else None
            spec = importlib.machinery.PathFinder.find_spec(dotted, list(locations)) if locations else None
        self._specs[dotted] = spec
        return spec

    def _find_top(self, name: str) -> ModuleSpec | None:
        if name in sys.builtin_module_names:
            return importlib.machinery.BuiltinImporter.find_spec(name)
        spec = importlib.machinery.PathFinder.find_spec(name, self.search_path)
        if spec is None:
            spec = importlib.machinery.FrozenImporter.find_spec(name)
        return spec

    def module_names(self, dotted: str, _depth: int = 0) -> ModuleNames | None:
        """Top-level names of ``dotted``; None when the module cannot be found."""
        if dotted in self._names:
            return self._names[dotted]
        spec = self.find(dotted)
        if spec is None:
            return None
        result = ModuleNames()
        self._names[dotted] = result  # placeholder guards against star-import cycles
        summary = _summary_of(spec.origin)
        if summary is None:
            result.open = True
            return result
        own, stars = summary
        result.names |= own.names
        result.functions.update(own.functions)
        result.has_getattr, result.has_all = own.has_getattr, own.has_all
        result.open = result.has_getattr and not result.has_all
        for star in stars:
            target = self.absolute_name(star, dotted, is_package=spec.submodule_search_locations is not None)
            inner = self.module_names(target, _depth + 1) if target and _depth < _MAX_STAR_DEPTH else None
            if inner is None or inner.open:
                result.open = True
            else:
                result.names |= {n for n in inner.names if not n.startswith("_")}
                result.functions.update(inner.functions)
        return result

    def has_submodule(self, dotted: str, name: str) -> bool:
        spec = self.find(dotted)
        return bool(spec and spec.submodule_search_locations and self.find(f"{dotted}.{name}"))

    @staticmethod
    def absolute_name(node: ast.ImportFrom, current: str, *, is_package: bool) -> str | None:
        """The absolute module name of ``from ... import`` written inside module ``current``."""
        if node.level == 0:
            return node.module
        parts = current.split(".") if is_package else current.split(".")[:-1]
        if node.level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (node.level - 1)]
        if node.module:
            base.append(node.module)
        return ".".join(base) or None



def _summary_of(origin: str | None) -> tuple[ModuleNames, list[ast.ImportFrom]] | None:
    """A module file's own names and star imports; None without Python source."""
    if not origin or not origin.endswith((".py", ".pyi")):
        return None
    try:
        stat = os.stat(origin)
    except OSError:
        return None
    return _summary_cached(origin, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _summary_cached(origin: str, mtime_ns: int, size: int) -> tuple[ModuleNames, list[ast.ImportFrom]] | None:
    # Keyed on mtime and size, so an edited file is read again; installed packages are parsed once
    # per process however many coder tasks validate code importing them.
    if size > _MAX_SOURCE_BYTES:
        return None
    try:
        tree = astsafe.parse(Path(origin).read_bytes(), filename=origin)
    except (OSError, SyntaxError, ValueError):
        return None
    own = ModuleNames()
    statements, stars = top_level_definitions(tree)
    for node in statements:
        _collect(node, own)
    return own, stars


def _collect(node: ast.stmt, into: ModuleNames) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        into.names.add(node.name)
        if node.name == "__getattr__":
            into.has_getattr = True
        elif not node.decorator_list:
            into.functions[node.name] = node
    elif isinstance(node, ast.ClassDef):
        into.names.add(node.name)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if alias.name != "*":
                into.names.add(alias.asname or alias.name.split(".")[0])
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    into.names.add(sub.id)
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            exported = _literal_strings(node.value)
            into.names |= exported
            into.has_all = into.has_all or bool(exported)


def _literal_strings(value: ast.expr | None) -> set[str]:
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return {e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()
