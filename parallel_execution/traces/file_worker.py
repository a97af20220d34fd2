"""The trace-file writer process: creates the task trace files a large dispatch hands it.

Why a process: creating a file is kernel work (on ext4 without a journal, right after mass
deletions, several hundred µs each), and a thread doing it hands the GIL back and forth with the
event loop three times per file, so the two end up taking turns. A process creates files on the
other core while the loop runs. ``traces.file_sink`` starts it (``python -I -S`` this file: only
``os``, ``struct`` and ``sys``, no package import) and feeds it; a small dispatch writes its files
in the writer thread instead.

Protocol. stdin: frames of ``>BII`` (kind, path length, data length), then the path (file-system
encoding) and the data. Kind ``F``: create the file under its final name in one write (``O_EXCL``;
a name that exists is replaced whole through a temp file + rename, never followed or appended to).
Kind ``D``: a drain; when every earlier file is done, reply on stdout one line per failure since
the last drain, ``E <n> <message>`` (``n`` counts files from 0 in the order sent), then ``D``.
EOF on stdin (the runner closed it, or died): finish the files read so far and exit 0. Signals
from the terminal do not reach it (own session), so an interrupted run still gets its traces.
"""

from __future__ import annotations

import os
import struct
import sys

HEADER = struct.Struct(">BII")
FILE, DRAIN = ord("F"), ord("D")
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_file(path: str | bytes | os.PathLike[str], data: bytes) -> None:
    """Create ``path`` (never through an existing name: ``O_EXCL``) and write ``data`` in one go; a
    name that exists is replaced whole (temp file + rename). The trace writer's thread uses it too."""
    path = os.fsencode(path)
    try:
        fd = os.open(path, _NEW, 0o666)  # the umask applies, as with open(path, "w")
    except FileExistsError:
        folder, name = os.path.split(path)
        temp = os.path.join(folder, b".%s.%d.tmp" % (name, os.getpid()))  # one writer per name
        fd = os.open(temp, _TEMP, 0o666)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(temp, path)
        return
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def serve(source: object, reply: object) -> None:
    """Read frames from ``source`` until EOF; write drain replies to ``reply`` (binary streams)."""
    read, write, flush = source.read, reply.write, reply.flush  # type: ignore[attr-defined]
    count, failures = 0, list[bytes]()
    while True:
        header = read(HEADER.size)
        if len(header) < HEADER.size:
            return
        kind, path_len, data_len = HEADER.unpack(header)
        path, data = read(path_len), read(data_len)
        if kind == DRAIN:
            write(b"".join(failures) + b"D\n")
            flush()
            failures = []
            continue
        if len(path) < path_len or len(data) < data_len:
            return  # a torn last frame: the runner died mid-write; its journal decides what reruns
        try:
            write_file(path, data)
        except OSError as exc:
            message = (exc.strerror or str(exc)).replace("\n", " ")
            failures.append(b"E %d %s\n" % (count, message.encode("utf-8", "replace")))
        count += 1


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
