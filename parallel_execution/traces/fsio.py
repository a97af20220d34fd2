"""Atomic file writes: temp file in the same folder, flush, ``os.replace``.

A reader never sees a half-written file, a crash leaves either the old file or the new one, and a
symlink planted at the target name is replaced, never followed. Files get the mode a plain
``open(..., "w")`` would give them (0666 minus the umask). This is on the hot path (one trace file
per task), so it is plain ``os`` calls: no mkstemp name search, no chmod, mkdir only when needed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

import orjson

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "dumps_json"]


_COUNTER = itertools.count()


def dumps_json(value: Any, *, indent: bool = False) -> bytes:
    """Serialise with orjson; non-JSON values (paths, sets, ...) become strings rather than raising."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, option=option, default=json_fallback)


def json_fallback(value: Any) -> Any:
    """What orjson cannot write itself: sets and tuples as lists, models dumped, the rest as ``str``."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically and return the path. Parent folders are created."""
    target = Path(path)
    # O_EXCL on a name unique to this process and call: never follows or reuses anything planted.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{next(_COUNTER)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o666)  # the umask applies, as with open(path, "w")
    except (FileNotFoundError, NotADirectoryError):
        target.parent.mkdir(parents=True, exist_ok=True)  # names the blocking file if there is one
        fd = os.open(tmp, flags, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, fsync: bool = False) -> Path:
    return atomic_write_bytes(path, dumps_json(value, indent=True) + b"\n", fsync=fsync)
