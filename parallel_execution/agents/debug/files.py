"""Files: expand ``affected_files``, map traceback frames onto them, show code around a line.

**Expansion.** Each ``affected_files`` item is a file, a directory (every ``.py`` below it, skipping
virtualenvs and caches) or a glob (``buggy_app/**/*.py``). Every item and every match goes through
``resolve_in_workspace``, so a symlink planted inside the workspace cannot lead the analysis out
of it. Items that match nothing are *missing* (reported, not fatal); non-Python files are
*skipped* with a reason.

**Frame mapping.** A traceback from CI or another machine names paths that do not exist here
(``/home/ci/app/buggy_app/auth.py``), or that exist in another checkout. Such a frame maps to the longest tail of its path (at least
folder and file) that exists in the workspace, else to a known file (affected or indexed) by the
longest common path suffix, where a bare file name must be unique to count (an existing file outside
the workspace maps only by a tail of two or more path parts). A frame is "in the
workspace" only when it maps to a file inside it that is not in a virtualenv or ``site-packages``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from parallel_execution.agents.debug.model import Frame, TraceError
from parallel_execution.agents.debug.tracebacks import ParsedError
from parallel_execution.analysis.files import SKIP_DIRS, is_regular, python_files, read_regular
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePolicy, resolve_in_workspace

__all__ = ["Expansion", "code_snippet", "expand_affected", "map_errors"]

PYTHON_SUFFIXES = (".py", ".pyw", ".pyi")
MAX_AFFECTED = 2000
MAX_FRAMES = 200  # per exception in the output
MAX_MESSAGE = 4000
_THIRD_PARTY = ("site-packages", "dist-packages")


@dataclass(slots=True)
class Expansion:
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False


def _is_python(path: Path) -> bool:
    if path.suffix in PYTHON_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        first = read_regular(path, 1 << 20)[:200]
    except (OSError, ValueError):
        return False
    return first.startswith(b"#!") and b"python" in first


def expand_affected(items: Iterable[str], policy: WorkspacePolicy, limit: int = MAX_AFFECTED) -> Expansion:
    """Resolve, glob and walk ``items`` into Python files. Raises ``PathOutsideWorkspace``."""
    out = Expansion()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        if path in seen:
            return
        seen.add(path)
        if not is_regular(path):  # a FIFO, socket or device named *.py is never opened
            out.skipped.append({"file": str(path), "reason": "not a regular file"})
        elif len(out.files) >= limit:
            out.truncated = True
        elif _is_python(path):
            out.files.append(path)
        else:
            out.skipped.append({"file": str(path), "reason": "not a Python file"})

    def add_dir(folder: Path) -> None:
        found, truncated = python_files(folder, limit)
        out.truncated |= truncated
        if not found:
            out.skipped.append({"file": str(folder), "reason": "directory holds no Python files"})
        for path in found:
            try:
                add(resolve_in_workspace(path, policy))
            except PathOutsideWorkspace as exc:
                out.skipped.append({"file": str(path), "reason": str(exc)})

    for item in items:
        resolved = resolve_in_workspace(item, policy)
        if glob.has_magic(item):
            pattern = item if os.path.isabs(item) else str(policy.root / item)
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                out.missing.append(str(resolved))
            for match in matches:
                try:
                    path = resolve_in_workspace(match, policy)
                except PathOutsideWorkspace as exc:
                    out.skipped.append({"file": match, "reason": str(exc)})
                    continue
                if any(part in SKIP_DIRS for part in path.relative_to(policy.root).parts[:-1]) \
                        if path.is_relative_to(policy.root) else False:
                    continue
                add_dir(path) if path.is_dir() else add(path)
        elif resolved.is_dir():
            add_dir(resolved)
        elif resolved.exists():
            add(resolved)
        else:
            out.missing.append(str(resolved))
    out.missing = sorted(set(out.missing))
    out.skipped.sort(key=lambda item: (item["file"], item["reason"]))
    return out


class _Mapper:
    def __init__(self, policy: WorkspacePolicy, known: Iterable[str]) -> None:
        self.policy = policy
        self.by_name: dict[str, list[tuple[str, ...]]] = {}
        for file in sorted(set(known)):
            parts = Path(file).parts
            self.by_name.setdefault(parts[-1], []).append(parts)
        self.cache: dict[str, tuple[str, bool, str | None]] = {}

    def in_workspace(self, path: Path) -> bool:
        if not path.is_relative_to(self.policy.root):
            return False
        parts = path.relative_to(self.policy.root).parts
        return not any(p in SKIP_DIRS or p in _THIRD_PARTY or p.startswith(".") for p in parts[:-1])

    def map(self, raw: str) -> tuple[str, bool, str | None]:
        """(file, in workspace, original path if it was remapped)."""
        if raw not in self.cache:
            self.cache[raw] = self._map(raw)
        return self.cache[raw]

    def _map(self, raw: str) -> tuple[str, bool, str | None]:
        if raw.startswith("<") or any(p in raw for p in _THIRD_PARTY):
            return raw, False, None
        path = Path(raw)
        local = path if path.is_absolute() else self.policy.root / path
        outside: tuple[str, bool, str | None] | None = None
        if local.is_file():
            real = Path(os.path.realpath(local))
            if self.in_workspace(real):
                return str(real), True, None
            # It exists, but outside: another checkout of the same code (a CI clone beside the
            # original) still maps by its path tail below; a library file keeps its own path.
            outside = (str(real), False, None)
        parts = path.parts
        for start in range(1, len(parts) - 1):  # longest tail of the path that exists in the workspace
            candidate = self.policy.root.joinpath(*parts[start:])
            if candidate.is_file():
                real = Path(os.path.realpath(candidate))
                if self.in_workspace(real):
                    return str(real), True, raw
        if outside is not None:
            return outside
        best: tuple[int, tuple[str, ...]] | None = None
        tied = False
        for known in self.by_name.get(path.name, []):
            common = 0
            while common < min(len(parts), len(known)) and parts[-1 - common] == known[-1 - common]:
                common += 1
            if best is None or common > best[0]:
                best, tied = (common, known), False
            elif common == best[0]:
                tied = True
        if best is None or tied or (best[0] == 1 and len(self.by_name[path.name]) > 1):
            return raw, False, None
        mapped = Path(*best[1])
        return str(mapped), self.in_workspace(mapped), raw


def map_errors(parsed: list[ParsedError], policy: WorkspacePolicy, known: Iterable[str],
               affected: set[str]) -> list[TraceError]:
    """Turn parsed errors into :class:`TraceError` values with frames mapped to workspace files."""
    mapper = _Mapper(policy, known)
    errors: list[TraceError] = []
    for index, error in enumerate(parsed):
        frames = []
        raws = error.frames
        if len(raws) > MAX_FRAMES:  # deep recursion: keep both ends, like the interpreter does
            raws = raws[: MAX_FRAMES // 4] + raws[-(MAX_FRAMES - MAX_FRAMES // 4):]
        for raw in raws:
            file, inside, original = mapper.map(raw.file)
            frames.append(Frame(file, raw.line, raw.function, raw.code, index, inside, file in affected, original))
        errors.append(TraceError(index, error.source, error.format, error.exc_type, error.message[:MAX_MESSAGE],
                                 tuple(frames),
                                 error.chain, error.position, error.relation))
    return errors


def code_snippet(lines: list[str], line: int, radius: int = 3) -> str:
    """Numbered lines around ``line``, the line itself marked with ``>``."""
    start, stop = max(1, line - radius), min(len(lines), line + radius)
    width = len(str(stop))
    return "\n".join(f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}" for n in range(start, stop + 1))
