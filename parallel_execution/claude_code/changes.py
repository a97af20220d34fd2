"""Which files a session changed: a (mtime, size) snapshot of a folder before and after.

The walk skips ``.git`` (and other VCS folders) and stops after ``limit`` files, so a huge tree costs
a bounded amount of time; the report then says ``truncated``. A file is *modified* when its
nanosecond mtime or its size differs. Symlinks are recorded, not followed. Sessions that share a
folder see each other's changes: the report is about the folder, not about one writer.

Run ``snapshot`` through ``asyncio.to_thread``: it does blocking file-system calls.

Example::

    before = snapshot(cwd)
    ...                                   # the session runs
    report = diff(before, snapshot(cwd))  # {"created": [...], "modified": [...], "deleted": [...]}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LIMIT", "Snapshot", "diff", "snapshot"]

DEFAULT_LIMIT = 20_000
_SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(slots=True)
class Snapshot:
    root: Path
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # relative path -> (mtime_ns, size)
    truncated: bool = False


def snapshot(root: str | os.PathLike[str], *, limit: int = DEFAULT_LIMIT) -> Snapshot:
    """Record every file under ``root`` (relative POSIX paths), up to ``limit`` files."""
    base = Path(root)
    shot = Snapshot(base)
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # vanished or unreadable: nothing to report from it
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SKIP_DIRS:
                        stack.append(Path(entry.path))
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if len(shot.files) >= limit:
                shot.truncated = True
                return shot
            shot.files[Path(entry.path).relative_to(base).as_posix()] = (info.st_mtime_ns, info.st_size)
    return shot


def diff(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Created, modified and deleted paths (sorted, relative to the root)."""
    old, new = before.files, after.files
    report: dict[str, Any] = {
        "created": sorted(set(new) - set(old)),
        "modified": sorted(p for p in set(new) & set(old) if new[p] != old[p]),
        "deleted": sorted(set(old) - set(new)),
    }
    if before.truncated or after.truncated:
        report["truncated"] = True
    return report
