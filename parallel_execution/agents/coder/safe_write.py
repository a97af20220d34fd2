"""Writing the coder's output inside the workspace: no clobbering, no following swapped symlinks.

Two races the plain "check, then write" had (issue 13, items 13 and 14) are closed here:

- **No clobber is one atomic step.** With ``overwrite`` false a file is published with
  ``link(2)`` of a private temp file onto the final name, which fails if the name exists; a folder
  with ``renameat2(RENAME_NOREPLACE)``. Two runners writing the same ``output_path`` cannot both
  succeed. With ``overwrite`` true a file is ``rename(2)``-d over the old one and a folder swapped
  in with ``RENAME_EXCHANGE`` (the old folder is then removed), so a reader sees the old or the
  new version, never a mix.
- **Every path is opened relative to a directory handle, without following symlinks.** The walk
  starts at the workspace root's descriptor and opens each folder with ``O_NOFOLLOW |
  O_DIRECTORY`` (creating missing ones with ``mkdirat``); the final name is created relative to the
  last descriptor. A folder swapped for a symlink after validation makes the write fail
  (``ELOOP``/``ENOTDIR``), it can never land outside the workspace.

Where ``renameat2`` is missing (non-Linux, old libc, a filesystem without support) a folder is
published with plain ``rename(2)``, which still refuses a non-empty existing folder or a file;
only an *empty* folder planted in the same instant could be replaced.

Example::

    write_file(root, root / "nodes" / "node_a_effect.py", b"...", overwrite=False)
    install_folder(root, root / "nodes" / "node_a_effect", {"node.py": b"...", "models/m.py": b"..."},
                   overwrite=False)

Raises :class:`FileExistsError` when the target exists and ``overwrite`` is false, and
:class:`UnsafePath` when a folder on the way is a symlink or not a folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import itertools
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from parallel_execution.errors import DispatchError

__all__ = ["UnsafePath", "install_folder", "read_file", "remove_file", "write_file"]

_COUNTER = itertools.count()
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(DispatchError, OSError):
    """A folder on the way to the target is a symlink or not a folder (it may have been swapped)."""


def _renameat2_function() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2_function()


def _renameat2(dir_fd: int, old: str, new: str, flags: int) -> bool:
    """``renameat2`` within one folder; False when the system does not support it (caller falls back)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(dir_fd, os.fsencode(old), dir_fd, os.fsencode(new), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), new)


@contextlib.contextmanager
def _parent_fd(root: Path, target: Path) -> Iterator[tuple[int, str]]:
    """A descriptor of ``target``'s folder reached from ``root`` without following symlinks, and the name."""
    if not target.is_relative_to(root):  # config allows writing outside the workspace: walk from "/"
        root = Path(target.anchor)
    relative = target.relative_to(root)
    *folders, name = relative.parts
    if not name or name in (".", ".."):
        raise UnsafePath(errno.EINVAL, "not a file name", str(target))
    fd = os.open(root, _DIR_FLAGS)
    try:
        walked = root
        for part in folders:
            walked = walked / part
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                next_fd = _open_folder(part, fd, walked)
            except OSError as exc:
                raise _unsafe(exc, walked) from None
            os.close(fd)
            fd = next_fd
        yield fd, name
    finally:
        os.close(fd)


def _open_folder(part: str, dir_fd: int, shown: Path) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _unsafe(exc, shown) from None


def _unsafe(exc: OSError, where: Path) -> OSError:
    if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and where.is_symlink()):
        return UnsafePath(exc.errno, "is a symlink (refusing to follow it)", str(where))
    if exc.errno == errno.ENOTDIR:
        return UnsafePath(exc.errno, "is not a folder", str(where))
    return exc


def _temp_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{next(_COUNTER)}.tmp"


def _write_new(name: str, data: bytes, dir_fd: int) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(root: Path, target: Path, data: bytes, *, overwrite: bool) -> None:
    """Publish ``data`` at ``target`` (inside ``root``) atomically; see the module docstring."""
    with _parent_fd(root, target) as (dir_fd, name):
        tmp = _temp_name(name)
        _write_new(tmp, data, dir_fd)
        try:
            if overwrite:
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
        os.fsync(dir_fd)


def read_file(root: Path, target: Path, limit: int = 64 * 1024 * 1024) -> bytes | None:
    """The bytes of the regular file at ``target``, or None (missing, a symlink, not a file, too big)."""
    try:
        with _parent_fd(root, target) as (dir_fd, name):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                    return None
                chunks = []
                while chunk := os.read(fd, 1 << 20):
                    chunks.append(chunk)
                return b"".join(chunks)
            finally:
                os.close(fd)
    except OSError:
        return None


def remove_file(root: Path, target: Path) -> None:
    """Remove the file (or symlink) named ``target``, without following folders that are symlinks."""
    with contextlib.suppress(FileNotFoundError, UnsafePath), _parent_fd(root, target) as (dir_fd, name):
        os.unlink(name, dir_fd=dir_fd)


def install_folder(root: Path, target: Path, files: Mapping[str, bytes], *, overwrite: bool) -> None:
    """Write ``files`` (relative path -> bytes) into a staging folder beside ``target``, then rename it
    into place in one step. A failure at any point leaves no part of the new folder behind."""
    with _parent_fd(root, target) as (dir_fd, name):
        staged = f".{name}.{os.getpid()}.{next(_COUNTER)}.staging"
        os.mkdir(staged, 0o777, dir_fd=dir_fd)
        try:
            staged_fd = os.open(staged, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                for relative, data in sorted(files.items()):
                    _write_staged(staged_fd, relative, data)
                os.fsync(staged_fd)
            finally:
                os.close(staged_fd)
            _publish_folder(dir_fd, staged, name, overwrite=overwrite)
        finally:
            if _exists(staged, dir_fd):  # not published (error), or the old version swapped out
                _remove(staged, dir_fd)
        os.fsync(dir_fd)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _write_staged(staged_fd: int, relative: str, data: bytes) -> None:
    *folders, name = Path(relative).parts
    fd = os.dup(staged_fd)
    try:
        for part in folders:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=fd)
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        _write_new(name, data, fd)
    finally:
        os.close(fd)


def _publish_folder(dir_fd: int, staged: str, name: str, *, overwrite: bool) -> None:
    if not (overwrite and _exists(name, dir_fd)):
        try:
            if not _renameat2(dir_fd, staged, name, _RENAME_NOREPLACE):
                if _exists(name, dir_fd):
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name)
                try:  # refuses a non-empty folder or a file at the name; only an empty folder is replaced
                    os.rename(staged, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name) from None
                    raise
            return
        except FileExistsError:
            if not overwrite:
                raise
    # Replace: the old version ends up under the staging name, and the caller's cleanup removes it.
    if not _renameat2(dir_fd, staged, name, _RENAME_EXCHANGE):
        aside = f".{name}.{os.getpid()}.{next(_COUNTER)}.old"
        os.rename(name, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.rename(staged, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.rename(aside, staged, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _remove(name: str, dir_fd: int) -> None:
    if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)
