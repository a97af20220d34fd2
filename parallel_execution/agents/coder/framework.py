"""Which framework a coder task writes for: ``omnibase`` (real omnibase_core nodes) or ``standalone``.

``framework: "auto"`` (the default) chooses omnibase on evidence that the *project* uses it, and
says which evidence in ``reason``:

1. ``output_path`` names a folder (no ``.py``): only omnibase writes node folders;
2. the project declares ``omnibase-core`` as a dependency (``pyproject.toml`` dependency lists,
   ``requirements*.txt``, ``setup.cfg``, from the output folder up to the project root);
3. a context file imports ``omnibase_core``;
4. a sibling of the output (a ``.py`` file or a node folder beside it) imports ``omnibase_core`` or
   holds an ONEX ``contract.yaml`` (one with a ``node_type`` key).

Merely having the package installed is not a signal: the runner's environment says nothing about
the user's project. Otherwise ``standalone``, with the reason naming what was looked for.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from parallel_execution.agents.coder.context import ContextFile

__all__ = ["Framework", "FrameworkChoice", "choose_framework"]

Framework = Literal["auto", "omnibase", "standalone"]
Mode = Literal["omnibase", "standalone"]

_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_DEPENDENCY = re.compile(r"^\s*omnibase[-_.]core\b", re.IGNORECASE)
_IMPORT = re.compile(r"^\s*(?:from|import)\s+omnibase_core\b", re.MULTILINE)
_NODE_TYPE = re.compile(r"^node_type\s*:", re.MULTILINE)
_MAX_SIBLINGS = 200
_MAX_READ = 256 * 1024


@dataclass(frozen=True, slots=True)
class FrameworkChoice:
    mode: Mode
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"mode": self.mode, "reason": self.reason}


def choose_framework(requested: Framework, *, target: Path, workspace: Path,
                     context_files: Sequence[ContextFile] = ()) -> FrameworkChoice:
    """The mode for a task asking for ``requested`` whose output goes to ``target``."""
    if requested != "auto":
        return FrameworkChoice(requested, f'framework "{requested}" was requested')
    if target.suffix != ".py":
        return FrameworkChoice("omnibase", f"output_path {target.name!r} names a node folder")
    for folder in _folders_up_to_root(target.parent, workspace):
        if (found := _declares_dependency(folder)) is not None:
            return FrameworkChoice("omnibase", f"{_rel(found, workspace)} declares omnibase-core")
    for context in context_files:
        if _IMPORT.search(context.text):
            return FrameworkChoice("omnibase", f"context file {context.rel} imports omnibase_core")
    if (sibling := _omnibase_sibling(target)) is not None:
        return FrameworkChoice("omnibase", sibling)
    return FrameworkChoice(
        "standalone",
        "no omnibase-core dependency declared, no context file or sibling importing omnibase_core and no "
        "sibling ONEX contract.yaml (an installed package alone is not a signal)")


def _rel(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)


def _folders_up_to_root(start: Path, workspace: Path) -> list[Path]:
    folders = []
    for folder in (start, *start.parents):
        folders.append(folder)
        if folder == workspace or any((folder / m).exists() for m in _ROOT_MARKERS):
            break
    return folders


def _read(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_READ:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _declares_dependency(folder: Path) -> Path | None:
    pyproject = folder / "pyproject.toml"
    text = _read(pyproject)
    if text is not None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = {}
        if any(_DEPENDENCY.match(dep) for dep in _pyproject_dependencies(data)):
            return pyproject
    candidates = [folder / "setup.cfg", *sorted(folder.glob("requirements*.txt"))]
    for path in candidates:
        text = _read(path)
        if text is not None and any(_DEPENDENCY.match(line) for line in text.splitlines()):
            return path
    return None


def _pyproject_dependencies(data: dict[str, Any]) -> Iterable[str]:
    project = data.get("project") or {}
    yield from _strings(project.get("dependencies"))
    for group in (project.get("optional-dependencies") or {}).values():
        yield from _strings(group)
    for group in (data.get("dependency-groups") or {}).values():
        yield from _strings(group)
    poetry = (data.get("tool") or {}).get("poetry") or {}
    yield from (str(k) for k in (poetry.get("dependencies") or {}))


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, str))


def _omnibase_sibling(target: Path) -> str | None:
    try:
        entries = sorted(os.scandir(target.parent), key=lambda e: e.name)[:_MAX_SIBLINGS]
    except OSError:
        return None
    for entry in entries:
        if entry.name == target.name or entry.is_symlink():
            continue
        path = Path(entry.path)
        if entry.is_file() and entry.name.endswith(".py") and _IMPORT.search(_read(path) or ""):
            return f"sibling {entry.name} imports omnibase_core"
        if entry.is_dir():
            contract = _read(path / "contract.yaml")
            if contract is not None and _NODE_TYPE.search(contract):
                return f"sibling node folder {entry.name}/ holds an ONEX contract.yaml"
            node = _read(path / "node.py")
            if node is not None and _IMPORT.search(node):
                return f"sibling node folder {entry.name}/ imports omnibase_core"
    return None
