"""Context files: read them, collect their names with ``ast``, find the ones the contract mentions.

Context files are declared inputs: a missing, unreadable or oversized one fails the task (it is
never silently skipped). A Python file contributes its top-level classes (pydantic models,
dataclasses and TypedDicts are marked ``model``, enums ``enum``), functions and third-party imports; a file that
does not parse, or is not Python, is still read (a backend may show it to a model) but contributes
no names, and the reading says why.

A name is *mentioned* by a text when the text contains it verbatim (``UserRecord``) or as words
(``user record``, ``user records``; single words need four letters or more). A mentioned model that
can be imported from the output file's folder (or the workspace root) becomes a real import in the
generated code; other mentioned names are referenced in docstrings and messages.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from parallel_execution.agents.coder.naming import snake_case
from parallel_execution.agents.coder.resolve import ImportResolver
from parallel_execution.analysis import astsafe
from parallel_execution.errors import DispatchError

__all__ = ["ContextFile", "ContextFileError", "ContextName", "conventions", "mentioned_names", "read_context_files"]

MAX_CONTEXT_BYTES = 2_000_000
NameKind = Literal["model", "enum", "class", "function", "import"]
_MODEL_BASES = frozenset({"BaseModel", "TypedDict", "RootModel"})
_ENUM_BASES = frozenset({"Enum", "StrEnum", "IntEnum"})
_COMMON_IMPORTS = frozenset({"pydantic", "typing_extensions", "__future__"})


class ContextFileError(DispatchError):
    """A declared context file cannot be used (missing, unreadable, too large, not text)."""


@dataclass(frozen=True, slots=True)
class ContextName:
    """A top-level name defined or imported by a context file."""

    name: str
    kind: NameKind
    file: str  # relative to the workspace when inside it
    line: int
    detail: str  # "class User(BaseModel)", "def hash_password(raw, salt)", "import asyncpg"
    module: str | None  # import path of the file, when importable from the output folder

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "file": self.file, "line": self.line,
                "detail": self.detail, "imported_from": self.module}


@dataclass(frozen=True, slots=True)
class ContextFile:
    path: Path
    rel: str
    text: str
    names: tuple[ContextName, ...]
    module: str | None
    note: str | None  # why no names were taken, if none were


def read_context_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    workspace_root: Path,
    search_roots: Sequence[Path],
) -> tuple[ContextFile, ...]:
    """Read every context file in order; raise :class:`ContextFileError` naming the first bad one."""
    resolver = ImportResolver(search_roots)
    return tuple(_read_one(Path(p), workspace_root, search_roots, resolver) for p in paths)


def mentioned_names(files: Iterable[ContextFile], text: str) -> list[ContextName]:
    """Names from ``files`` that ``text`` mentions, in file order, first definition wins."""
    seen: set[str] = set()
    found: list[ContextName] = []
    for context_file in files:
        for item in context_file.names:
            if item.name not in seen and _mentions(item.name, text):
                seen.add(item.name)
                found.append(item)
    return found


def conventions(files: Iterable[ContextFile]) -> list[dict[str, object]]:
    """What each context file shows of the project's conventions, whether or not the contract names
    any of its symbols: base classes of its classes, its model style, its third-party imports."""
    found: list[dict[str, object]] = []
    for context_file in files:
        classes = [n for n in context_file.names if n.kind in ("class", "model", "enum")]
        bases = sorted({b.strip() for n in classes if "(" in n.detail
                        for b in n.detail.split("(", 1)[1].rstrip(")").split(",") if b.strip()})
        models = [n for n in classes if n.kind == "model"]
        style = None
        if models:
            style = "dataclass" if all("(" not in m.detail for m in models) else "pydantic" if any(
                "BaseModel" in m.detail for m in models) else "typed models"
        found.append({
            "file": context_file.rel,
            "base_classes": bases,
            "model_style": style,
            "imports": sorted({n.detail for n in context_file.names if n.kind == "import"}),
            "note": context_file.note,
        })
    return found


def _mentions(name: str, text: str) -> bool:
    if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text):
        return True
    words = [w for w in snake_case(name).split("_") if w]
    if not words or (len(words) == 1 and len(words[0]) < 4):
        return False
    phrase = r"[\s_-]+".join(re.escape(w) for w in words)
    return re.search(rf"\b{phrase}(?:e?s)?\b", text, re.IGNORECASE) is not None


def _read_one(path: Path, workspace_root: Path, roots: Sequence[Path], resolver: ImportResolver) -> ContextFile:
    rel = os.path.relpath(path, workspace_root) if path.is_relative_to(workspace_root) else str(path)
    if not path.exists():
        raise ContextFileError(f"context file {rel!r} does not exist ({path})")
    if not path.is_file():
        raise ContextFileError(f"context file {rel!r} is not a regular file ({path})")
    try:
        size = path.stat().st_size
        if size > MAX_CONTEXT_BYTES:
            raise ContextFileError(f"context file {rel!r} is {size} bytes; the limit is {MAX_CONTEXT_BYTES}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContextFileError(f"context file {rel!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ContextFileError(f"context file {rel!r} cannot be read: {exc.strerror or exc}") from None
    if path.suffix not in (".py", ".pyi"):
        return ContextFile(path, rel, text, (), None, "not a Python file: read as text, no names taken")
    try:
        tree = astsafe.parse(text, filename=str(path))
    except SyntaxError as exc:
        note = f"does not parse (line {exc.lineno}: {exc.msg}): read as text, no names taken"
        return ContextFile(path, rel, text, (), None, note)
    module = _module_path(path, roots, resolver)
    return ContextFile(path, rel, text, tuple(_names(tree, rel, module)), module, None)


def _module_path(path: Path, roots: Sequence[Path], resolver: ImportResolver) -> str | None:
    """The dotted name that imports ``path`` from ``roots`` (checked: it must resolve to this file)."""
    for root in roots:
        if not path.is_relative_to(root):
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        if not parts or not all(p.isidentifier() for p in parts):
            continue
        dotted = ".".join(parts)
        spec = resolver.find(dotted)
        if spec is not None and spec.origin and os.path.realpath(spec.origin) == os.path.realpath(path):
            return dotted
    return None


def _names(tree: ast.Module, rel: str, module: str | None) -> list[ContextName]:
    names: list[ContextName] = []
    models: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [_dotted(b) for b in node.bases]
            decorators = [_dotted(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
            is_model = any(b.split(".")[-1] in _MODEL_BASES or b in models for b in bases) or any(
                d.split(".")[-1] == "dataclass" for d in decorators)
            if is_model:
                models.add(node.name)
            is_enum = any(b.split(".")[-1] in _ENUM_BASES for b in bases)
            kind: NameKind = "model" if is_model else "enum" if is_enum else "class"
            signature = f"class {node.name}({', '.join(bases)})" if bases else f"class {node.name}"
            names.append(ContextName(node.name, kind, rel, node.lineno, signature, module))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            params = ", ".join(a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs])
            prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
            names.append(ContextName(node.name, "function", rel, node.lineno, f"{prefix} {node.name}({params})",
                                     module))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend(_import_names(node, rel))
    return names


def _import_names(node: ast.Import | ast.ImportFrom, rel: str) -> list[ContextName]:
    source = node.module if isinstance(node, ast.ImportFrom) else None
    relative = isinstance(node, ast.ImportFrom) and node.level > 0
    found = []
    for alias in node.names:
        module = source or alias.name
        top = module.split(".")[0]
        if alias.name == "*" or top in sys.stdlib_module_names or top in _COMMON_IMPORTS or relative:
            continue
        detail = f"from {source} import {alias.name}" if source else f"import {alias.name}"
        found.append(ContextName(alias.asname or alias.name, "import", rel, node.lineno, detail, None))
    return found


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        return _dotted(node.value)
    return "?"
