"""The ``command`` agent's log files: opened safely in the trace folder, read back by handle.

The trace folder is the runner's, but a task's program (or a concurrent task) can write into it. So
a log is created relative to a handle on the folder, with ``O_NOFOLLOW | O_EXCL``: a symlink or file
planted at the log's name is removed (it is ours to remove, inside our own folder) and the log is
created fresh, never following the planted link to wherever it points. Tails are read from the
open handles, not by name, so swapping the name afterwards cannot make us read another file.

A program whose log hit a full disk usually fails with an unhelpful exit code (Python says 120 or
1); ``disk_full_note`` says what happened instead, naming the log and the space left.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from parallel_execution.traces.redact import Redactor

__all__ = ["LogFiles", "disk_full_note"]

_TAIL_BYTES = 64 * 1024
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LogFiles:
    """``stdout`` / ``stderr`` handles for one attempt; a context manager that closes them."""

    def __init__(self, out_path: Path, err_path: Path) -> None:
        self.paths = (out_path, err_path)
        folder = out_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds: list[int] = []
        try:
            for path in self.paths:
                self.fds.append(_create(path.name, dir_fd))
        except BaseException:
            self.close()
            raise
        finally:
            os.close(dir_fd)

    @property
    def stdout(self) -> int:
        return self.fds[0]

    @property
    def stderr(self) -> int:
        return self.fds[1]

    def unchanged(self, which: int) -> bool:
        """Whether the log's name still points at the file we wrote (not swapped for a link)."""
        try:
            named = os.stat(self.paths[which], follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(self.fds[which])
        return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)

    def tail(self, which: int, lines: int) -> str:
        """The last ``lines`` lines of a log, read through our own handle."""
        if lines == 0:
            return ""
        fd = self.fds[which]
        size = os.fstat(fd).st_size
        start = max(0, size - _TAIL_BYTES)
        text = os.pread(fd, size - start, start).decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def scrub(self, redactor: Redactor | None) -> None:
        """Remove known secret values from both logs; a log that cannot be rewritten (full disk)
        is emptied rather than left holding a secret. A log whose name was swapped is left alone."""
        if redactor is None:
            return
        for which, path in enumerate(self.paths):
            if not self.unchanged(which):
                continue
            try:
                redactor.scrub_file(path)
            except OSError:
                os.ftruncate(self.fds[which], 0)

    def close(self) -> None:
        while self.fds:
            with contextlib.suppress(OSError):
                os.close(self.fds.pop())

    def __enter__(self) -> LogFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, _CREATE, 0o644, dir_fd=dir_fd)
    except FileExistsError:  # something planted at our name: remove it (never follow it), start fresh
        os.unlink(name, dir_fd=dir_fd)
        return os.open(name, _CREATE, 0o644, dir_fd=dir_fd)


def disk_full_note(folder: Path) -> str | None:
    """A sentence if the filesystem holding ``folder`` has no space left, else None."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    free = stats.f_bavail * stats.f_frsize
    if free >= 2 * max(stats.f_bsize, 4096):
        return None
    return (f"the disk holding its logs is full ({free} bytes free in {str(folder)!r}): "
            "its output was cut off, and the exit code may only report that")
