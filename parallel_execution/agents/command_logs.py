"""The ``command`` agent's log files: created safely in the trace folder, named only if written to.

The trace folder is the runner's, but a task's program (or a concurrent task) can write into it.
So every log is opened relative to a handle on the folder and never through a symlink:

* a log starts as an anonymous file (``O_TMPFILE``) in the folder and is given its name
  (``<task>.stdout.log``) only if the program wrote to it: a command that prints nothing leaves no
  file. Naming is a ``linkat`` into the folder's handle, which never follows a link planted at the
  name (that name is removed first: it is ours to replace, inside our own folder);
* a log that stayed empty goes back to the dispatch's ``LogSpool`` and serves the next command:
  creating an inode is the dearest part of a tiny command (20 µs on a quiet ext4 volume, 200-500 µs
  after recent deletions, when the allocator skips every recently freed inode), so thousands of
  silent commands create only a handful of files. Each program gets its own open file description
  of the file (a reopen through ``/proc/self/fd``), so its offset, flags and ``flock`` locks never
  carry over to the next one; a file is reused only while it is still empty, and never after the
  program left processes behind;
* where ``O_TMPFILE`` is missing the log is created named at once with ``O_EXCL | O_NOFOLLOW``;
* tails are read from our own handle, not by name, so swapping the name afterwards cannot make us
  read (or scrub) another file.

A program whose log hit a full disk usually fails with an unhelpful exit code (Python says 120 or
1); ``disk_full_note`` says what happened instead, naming the folder and the space left.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from pathlib import Path

from parallel_execution.traces.redact import Redactor

__all__ = ["LogFiles", "LogSpool", "disk_full_note"]

_TAIL_BYTES = 64 * 1024
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TMPFILE = getattr(os, "O_TMPFILE", 0)
_SPOOL_KEEP = 64  # empty files kept for reuse; more than any worker count needs at once


class LogSpool:
    """One trace folder's handle and its empty anonymous log files, reused from command to command.

    Owned by the dispatch (``Services``): ``close`` it when the dispatch ends (a forgotten spool
    closes its files when it is collected).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            self.dir = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
            self.dir = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._free: list[int] = []
        self._tmpfile = bool(_TMPFILE)
        self._finalizer = weakref.finalize(self, _close_all, self._free, [self.dir])

    def take(self) -> int | None:
        """An empty anonymous file in the folder, or None where the filesystem has no ``O_TMPFILE``."""
        while self._free:
            fd = self._free.pop()
            if os.fstat(fd).st_size == 0:
                return fd
            os.close(fd)  # written to since it came back (a straggler): never hand that on
        if self._tmpfile:
            try:
                return os.open(".", _TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o644, dir_fd=self.dir)
            except OSError:  # not supported by this filesystem: logs are named at once from now on
                self._tmpfile = False
        return None

    def give_back(self, fd: int) -> None:
        """Keep ``fd`` (anonymous, ours) for the next command if it is still empty, else close it."""
        try:
            reusable = self.dir >= 0 and len(self._free) < _SPOOL_KEEP and os.fstat(fd).st_size == 0
        except OSError:
            reusable = False
        if reusable:
            self._free.append(fd)
        else:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        self._finalizer()
        self.dir = -1

    def __enter__(self) -> LogSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(free: list[int], dirs: list[int]) -> None:
    for fd in (*free, *dirs):
        with contextlib.suppress(OSError):
            os.close(fd)
    free.clear()


class LogFiles:
    """``stdout`` / ``stderr`` handles for one attempt; a context manager that closes them.

    ``spool``: the dispatch's spool for this folder (empty files come from it and go back to it);
    without one the logs get a private one.
    """

    def __init__(self, out_path: Path, err_path: Path, spool: LogSpool | None = None) -> None:
        self.paths = (out_path, err_path)
        self.kept = [False, False]
        self._named = [False, False]
        self.fds: list[int] = []  # ours: tails, naming and scrubbing go through these
        self._child: list[int] = []  # the program's own open file descriptions of the same files
        self.recycle = True  # give empty files back to the spool on close (off: something may still write)
        self._sizes: list[int] | None = None  # as of keep()
        self._own_spool = spool is None or spool.folder != out_path.parent
        self._spool: LogSpool | None = LogSpool(out_path.parent) if self._own_spool or spool is None else spool
        self._dir = self._spool.dir
        try:
            for which, path in enumerate(self.paths):
                fd = self._open(self._spool, which, path.name)
                self.fds.append(fd)
                self._child.append(self._for_child(fd, which))
        except BaseException:
            self.close()
            raise

    def _open(self, spool: LogSpool, which: int, name: str) -> int:
        fd = spool.take()
        if fd is not None:
            return fd
        self._named[which] = True
        return _create(name, self._dir)

    def _for_child(self, fd: int, which: int) -> int:
        # A fresh description for the program (no inode is created): what it does to its offset,
        # flags or flock locks stays with this attempt, even when the file is reused.
        if not self._named[which]:
            with contextlib.suppress(OSError):
                return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)
            self.recycle = False  # no /proc: the program shares our description, so no reuse
        return os.dup(fd)

    @property
    def stdout(self) -> int:
        """The handle to give the program as its stdout."""
        return self._child[0]

    @property
    def stderr(self) -> int:
        return self._child[1]

    def started(self) -> None:
        """The program has its copies: close ours of its handles (else ``close`` does)."""
        while self._child:
            with contextlib.suppress(OSError):
                os.close(self._child.pop())

    def keep(self) -> None:
        """Give each log that has content its name (a named-at-once log is always kept); idempotent.
        Until the next ``keep``, ``tail`` takes the sizes seen here (the program has ended)."""
        self._sizes = [os.fstat(fd).st_size for fd in self.fds]
        for which, path in enumerate(self.paths):
            if self.kept[which]:
                continue
            if self._named[which]:
                self.kept[which] = True
            elif self._sizes[which] > 0:
                self.kept[which] = self._link(which, path.name)

    def _link(self, which: int, name: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._dir)  # a name left by an earlier attempt, or planted: ours
        try:
            # linkat(AT_SYMLINK_FOLLOW) of the /proc link names the anonymous file itself.
            os.link(f"/proc/self/fd/{self.fds[which]}", name, dst_dir_fd=self._dir, follow_symlinks=True)
            return True
        except OSError:  # no /proc, or the link refused: copy it to a fresh file instead
            pass
        try:
            target = _create(name, self._dir)
        except OSError:
            return False
        try:
            offset, size = 0, os.fstat(self.fds[which]).st_size
            while offset < size and (chunk := os.pread(self.fds[which], min(1 << 20, size - offset), offset)):
                offset += os.pwrite(target, chunk, offset)
        except OSError:  # a full disk: what fitted is kept, and disk_full_note says why it is short
            pass
        finally:
            os.close(target)
        return True

    def path(self, which: int) -> str | None:
        """The log's name, or None when the program wrote nothing to it (no file)."""
        return str(self.paths[which]) if self.kept[which] else None

    def unchanged(self, which: int) -> bool:
        """Whether the log's name still points at the file we wrote (not swapped for a link)."""
        try:
            named = os.stat(self.paths[which].name, dir_fd=self._dir, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(self.fds[which])
        return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)

    def tail(self, which: int, lines: int) -> str:
        """The last ``lines`` lines of a log, read through our own handle."""
        fd = self.fds[which]
        size = self._sizes[which] if self._sizes is not None else os.fstat(fd).st_size
        if lines == 0 or size == 0:
            return ""
        start = max(0, size - _TAIL_BYTES)
        text = os.pread(fd, size - start, start).decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def scrub(self, redactor: Redactor | None) -> None:
        """Remove known secret values from the named logs. A log that cannot be rewritten (full disk)
        is emptied only if it holds a secret: a secret never stays, the rest of the evidence does.
        A log whose name was swapped is left alone."""
        if redactor is None:
            return
        for which, path in enumerate(self.paths):
            if not self.kept[which] or not self.unchanged(which):
                continue
            self._sizes = None  # scrubbing may change them
            try:
                redactor.scrub_file(path)
            except OSError:
                if self._holds_secret(which, redactor):
                    os.ftruncate(self.fds[which], 0)

    def _holds_secret(self, which: int, redactor: Redactor) -> bool:
        with os.fdopen(os.dup(self.fds[which]), "rb") as log:
            log.seek(0)
            return any(redactor.scrub_bytes(line) != line for line in iter(lambda: log.readline(1 << 20), b""))

    def close(self) -> None:
        self.started()
        spool = self._spool
        for which, fd in enumerate(self.fds):
            if spool is not None and self.recycle and not self.kept[which] and not self._named[which]:
                spool.give_back(fd)  # still anonymous: empty, or cut off by a failed naming (then closed)
            else:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fds = []
        if spool is not None and self._own_spool:
            spool.close()
        self._spool = None
        self._dir = -1

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
