"""The definitions index: what each module defines, so checks can follow names across files.

An :class:`Index` is built from parsed sources. In ``standard`` depth those are the analysed
files; in ``deep`` depth every Python file of the workspace (:func:`workspace_python_files`). For
each module it records top-level functions (with :class:`Signature`), classes (methods,
constructor, bases), every top-level name, re-exports and its module-level import edges.

Module names follow the interpreter's view: a file's package is found by walking up while
``__init__.py`` exists, and the first folder without one is the import root (``buggy_app/auth.py``
with ``buggy_app/__init__.py`` is ``buggy_app.auth``; a lone ``helper.py`` is ``helper``). Two
modules with the same name are told apart by preferring the importer's own root.

:meth:`Index.resolve_from` answers "what does ``from m import n`` give?" (following re-exports),
:meth:`Index.import_graph` builds the module import graph (networkx) used for cycle detection.
"""

from __future__ import annotations

import ast
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from parallel_execution.agents.debug.signatures import Signature, dataclass_init, signature_of
from parallel_execution.agents.debug.source import SourceFile

__all__ = ["ClassInfo", "ImportEdge", "Index", "ModuleInfo", "module_name", "workspace_python_files"]

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", ".env", "node_modules", ".tox",
    ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", "dist", "build", "traces",
})
_PLAIN_CLASS_DECORATORS = frozenset({
    "total_ordering", "functools.total_ordering", "final", "typing.final", "runtime_checkable",
    "typing.runtime_checkable",
})


@dataclass(frozen=True, slots=True)
class ImportEdge:
    target: str  # absolute module name as resolved
    line: int
    column: int
    text: str


@dataclass(slots=True)
class ClassInfo:
    name: str
    module: str
    file: str
    line: int
    methods: dict[str, Signature | None]
    bases: tuple[str, ...]
    init: Signature | None  # a dataclass's synthesised __init__
    opaque: bool  # metaclass, __new__, __getattr__ or unknown decorators: do not judge calls


@dataclass(slots=True)
class ModuleInfo:
    name: str
    file: str
    root: str
    is_package: bool
    source: SourceFile
    functions: dict[str, Signature | None] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    reexports: dict[str, tuple[str, int, str | None]] = field(default_factory=dict)
    dynamic: bool = False
    imports: list[tuple[str, int, str | None, int, int, str]] = field(default_factory=list)


def module_name(path: Path, has_init: dict[Path, bool] | None = None) -> tuple[str, Path]:
    """Dotted module name of ``path`` and the folder it is imported from."""
    cache = has_init if has_init is not None else {}

    def package(folder: Path) -> bool:
        if folder not in cache:
            cache[folder] = (folder / "__init__.py").is_file()
        return cache[folder]

    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while package(folder) and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) or path.parent.name, folder


def workspace_python_files(root: Path, limit: int) -> tuple[list[Path], bool]:
    """Python files under ``root`` (sorted, skipping virtualenvs, caches, hidden folders)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                found.append(Path(folder) / name)
                if len(found) >= limit:
                    return found, True
    return found, False


def _top_level(body: list[ast.stmt], type_checking: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements, descending into if/try/with blocks but not defs or classes."""
    for statement in body:
        if isinstance(statement, ast.If):
            guarded = type_checking or "TYPE_CHECKING" in ast.unparse(statement.test)
            yield from _top_level(statement.body, guarded)
            yield from _top_level(statement.orelse, type_checking)
        elif isinstance(statement, (ast.Try, ast.TryStar)):
            for block in (statement.body, *(h.body for h in statement.handlers), statement.orelse,
                          statement.finalbody):
                yield from _top_level(block, type_checking)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            yield from _top_level(statement.body, type_checking)
        else:
            yield statement, type_checking


def _class_info(node: ast.ClassDef, module: str, file: str) -> ClassInfo:
    methods: dict[str, Signature | None] = {}
    opaque = any(k.arg == "metaclass" for k in node.keywords)
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sig = signature_of(item, f"{node.name}.{item.name}", file, in_class=True)
            methods[item.name] = None if item.name in methods else sig
            opaque |= item.name == "__new__"
    init = dataclass_init(node, node.name, file)
    for decorator in node.decorator_list:
        text = ast.unparse(decorator.func if isinstance(decorator, ast.Call) else decorator)
        if text in ("dataclass", "dataclasses.dataclass"):
            opaque |= init is None  # inherited fields or init=False: not synthesised here
        elif text not in _PLAIN_CLASS_DECORATORS:
            opaque = True  # a decorator may replace the class
    bases = tuple(ast.unparse(b) for b in node.bases)
    return ClassInfo(node.name, module, file, node.lineno, methods, bases, init, opaque)


def _describe(source: SourceFile, name: str, root: Path, is_package: bool) -> ModuleInfo:
    info = ModuleInfo(name, source.path, str(root), is_package, source)
    if source.tree is None:
        info.dynamic = True
        return info
    seen: Counter[str] = Counter()
    for statement, type_checking in _top_level(source.tree.body):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            seen[statement.name] += 1
            info.names.add(statement.name)
            info.functions[statement.name] = signature_of(statement, statement.name, source.path, False)
            info.dynamic |= statement.name == "__getattr__"
        elif isinstance(statement, ast.ClassDef):
            seen[statement.name] += 1
            info.names.add(statement.name)
            info.classes[statement.name] = _class_info(statement, name, source.path)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                if alias.name == "*":
                    info.dynamic = True
                    continue
                if isinstance(statement, ast.Import):
                    bound = alias.asname or alias.name.split(".")[0]
                    info.reexports[bound] = (alias.name if alias.asname else bound, 0, None)
                else:
                    bound = alias.asname or alias.name
                    info.reexports[bound] = (statement.module or "", statement.level, alias.name)
                info.names.add(bound)
                if not type_checking:
                    module = alias.name if isinstance(statement, ast.Import) else statement.module or ""
                    level = 0 if isinstance(statement, ast.Import) else statement.level
                    imported = None if isinstance(statement, ast.Import) else alias.name
                    info.imports.append((module, level, imported, statement.lineno,
                                         statement.col_offset, ast.unparse(statement)))
        else:
            for target in ast.walk(statement):
                if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
                    seen[target.id] += 1
                    info.names.add(target.id)
    for duplicate in [n for n, count in seen.items() if count > 1]:
        if duplicate in info.functions:
            info.functions[duplicate] = None  # defined twice (e.g. per platform): ambiguous
    return info


Resolved = Signature | ClassInfo | ModuleInfo | None


class Index:
    """Modules by name and by file, with import resolution between them."""

    def __init__(self, sources: list[SourceFile]) -> None:
        self.modules: dict[str, list[ModuleInfo]] = {}
        self.by_file: dict[str, ModuleInfo] = {}
        cache: dict[Path, bool] = {}
        for source in sources:
            path = Path(source.path)
            name, root = module_name(path, cache)
            info = _describe(source, name, root, path.name == "__init__.py")
            self.modules.setdefault(name, []).append(info)
            self.by_file[source.path] = info
        self.roots = {name.split(".")[0] for name in self.modules}

    def __len__(self) -> int:
        return len(self.by_file)

    def module_for(self, file: str) -> ModuleInfo | None:
        return self.by_file.get(file)

    def find(self, name: str, near: ModuleInfo | None = None) -> ModuleInfo | None:
        candidates = self.modules.get(name, [])
        if len(candidates) > 1 and near is not None:
            candidates = [c for c in candidates if c.root == near.root] or candidates
        return candidates[0] if len(candidates) == 1 else None

    def absolute(self, module: str, level: int, importer: ModuleInfo | None) -> str | None:
        """The absolute name of ``from <level dots><module> import ...`` inside ``importer``."""
        if level == 0:
            return module
        if importer is None:
            return None
        parts = importer.name.split(".")
        if not importer.is_package:
            parts = parts[:-1]
        if level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (level - 1)]
        return ".".join([*base, module] if module else base) or None

    def resolve_from(self, module: str, level: int, name: str, importer: ModuleInfo | None,
                     depth: int = 0) -> tuple[Resolved, ModuleInfo | None, bool]:
        """``from module import name``: (what it is, the module it comes from, whether it exists).

        The flag is ``False`` only when the module is in the index, is not dynamic, and has no
        such name or submodule: the import would fail with "cannot import name".
        """
        absolute = self.absolute(module, level, importer)
        target = self.find(absolute, importer) if absolute else None
        if target is None:
            return None, None, True
        submodule = self.find(f"{absolute}.{name}", importer)
        if name in target.functions:
            return target.functions[name], target, True
        if name in target.classes:
            return target.classes[name], target, True
        if name in target.reexports and depth < 5:
            source_module, source_level, attribute = target.reexports[name]
            if attribute is None:
                return self.find(source_module, target), target, True
            return self.resolve_from(source_module, source_level, attribute, target, depth + 1)[0], target, True
        if submodule is not None:
            return submodule, target, True
        return None, target, name in target.names or target.dynamic

    def method(self, cls: ClassInfo, name: str, depth: int = 0) -> tuple[Signature | None, bool]:
        """A method looked up through bases in the index: (signature, found)."""
        if name in cls.methods:
            return cls.methods[name], True
        owner = self.find(cls.module)
        for base in cls.bases:
            found = self._class(base, owner)
            if found is None or depth > 8:
                if base not in ("object", "ABC", "abc.ABC", "Generic") and not base.startswith("Generic["):
                    return None, False  # an unknown base may define it
                continue
            sig, ok = self.method(found, name, depth + 1)
            if ok:
                return sig, True
        return None, False

    def constructor(self, cls: ClassInfo) -> Signature | None:
        """What ``Cls(...)`` takes, if it can be known."""
        if cls.opaque:
            return None
        if cls.init is not None:
            return cls.init
        sig, found = self.method(cls, "__init__")
        if found:
            if sig is None:
                return None
            bound = sig.bound("constructor")
            return Signature(cls.name, cls.name, sig.file, sig.line, bound.posonly, bound.args, bound.defaults,
                             bound.vararg, bound.kwonly, bound.kwonly_required, bound.kwarg, False, "constructor")
        if all(base in ("object", "ABC", "abc.ABC") for base in cls.bases) and "__new__" not in cls.methods:
            return Signature(cls.name, cls.name, cls.file, cls.line, (), (), 0, None, (), (), None, False,
                             "object")
        return None

    def _class(self, dotted: str, module: ModuleInfo | None) -> ClassInfo | None:
        if module is None:
            return None
        head, _, rest = dotted.partition(".")
        if not rest:
            if head in module.classes:
                return module.classes[head]
            if head in module.reexports:
                source, level, attribute = module.reexports[head]
                if attribute is not None:
                    found = self.resolve_from(source, level, attribute, module)[0]
                    return found if isinstance(found, ClassInfo) else None
            return None
        if head in module.reexports:
            source, level, attribute = module.reexports[head]
            name = self.absolute(source, level, module) if attribute is None else None
            target = self.find(name, module) if name else None
            return self._class(rest, target) if target else None
        return None

    def import_hints(self) -> dict[str, str]:
        """Bound name -> the import statement most often used for it across the index."""
        counts: dict[str, Counter[str]] = {}
        for info in self.by_file.values():
            for bound, (module, level, attribute) in info.reexports.items():
                if level:
                    continue
                if attribute is None:
                    text = f"import {module}" if module == bound else f"import {module} as {bound}"
                else:
                    text = f"from {module} import {attribute}" + (f" as {bound}" if bound != attribute else "")
                counts.setdefault(bound, Counter())[text] += 1
        return {name: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for name, c in counts.items()}

    def import_graph(self) -> nx.DiGraph:
        """Files as nodes, an edge per module-level import between indexed modules."""
        graph = nx.DiGraph()
        for info in self.by_file.values():
            graph.add_node(info.file, module=info.name)
            for module, level, attribute, line, column, text in info.imports:
                absolute = self.absolute(module, level, info)
                if not absolute:
                    continue
                target = None
                if attribute is not None:
                    target = self.find(f"{absolute}.{attribute}", info)
                target = target or self.find(absolute, info)
                if target is None or target.file == info.file:
                    continue
                if not graph.has_edge(info.file, target.file):
                    graph.add_edge(info.file, target.file,
                                   edge=ImportEdge(target.name, line, column, text))
        return graph
