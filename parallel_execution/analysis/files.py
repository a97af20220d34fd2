"""Reading source files safely, and finding a file's import root.

:func:`read_regular` opens with ``O_NONBLOCK`` (and ``O_NOFOLLOW`` on the final component when
asked), then checks with ``fstat`` that the open handle is a *regular* file before reading, so a
FIFO, socket or device named ``*.py`` can never block a reader: opening a FIFO for reading with
``O_NONBLOCK`` returns at once, and the ``fstat`` check refuses it. Size is capped.

:func:`import_root` is the folder a file's top-level package lives in (walk up while the folder
holds ``__init__.py``); files from different roots may share module names (two ``main.py``), so
mypy runs once per group of roots whose module names do not clash (:func:`mypy_groups`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from parallel_execution.errors import DispatchError

__all__ = ["MAX_SOURCE_BYTES", "SKIP_DIRS", "NotRegularFile", "import_root", "is_regular", "module_name", "mypy_groups",
           "python_files", "read_regular"]

MAX_SOURCE_BYTES = 2_000_000


class NotRegularFile(DispatchError, OSError):
    """The path is a FIFO, socket, device or directory: never read."""


def read_regular(path: Path | str, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of a regular file. Raises ``NotRegularFile``, ``ValueError`` (too large), ``OSError``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path}: not a regular file")
        if info.st_size > limit:
            raise ValueError(f"file is {info.st_size} bytes, larger than the {limit} byte limit")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:
                raise ValueError(f"file grew beyond the {limit} byte limit while read")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode) or (path.is_symlink() and stat.S_ISREG(path.stat().st_mode))
    except OSError:
        return False


def import_root(file: Path) -> Path:
    folder = file.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def module_name(file: Path, root: Path) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or file.stem


def mypy_groups(files: Iterable[Path]) -> list[list[Path]]:
    """Files split into the fewest groups (greedy) in which no two files have the same module name."""
    groups: list[tuple[set[str], list[Path]]] = []
    by_root: dict[Path, list[Path]] = {}
    for file in files:
        by_root.setdefault(import_root(file), []).append(file)
    for root, members in sorted(by_root.items()):
        names = {module_name(f, root) for f in members}
        for taken, group in groups:
            if not names & taken:
                taken |= names
                group.extend(members)
                break
        else:
            groups.append((names, list(members)))
    return [sorted(group) for _, group in groups]


SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", ".env", "node_modules", ".tox",
    ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", "dist", "build", "traces",
})


def python_files(root: Path, limit: int) -> tuple[list[Path], bool]:
    """Regular ``.py`` files under ``root`` (sorted, skipping virtualenvs, caches, hidden folders)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".py") and is_regular(path):
                found.append(path)
                if len(found) >= limit:
                    return found, True
    return found, False
