"""Task trace files written by a separate process (``traces.file_worker``), for large dispatches.

The trace writer's thread appends and fsyncs the journal (the durable record) and hands the trace
files, which are written behind it, to a ``ProcessFileSink``: a feeder thread that frames them onto
the worker's stdin. The worker creates them on another core, so file creation no longer takes
turns with the event loop for the GIL (see ``file_worker``'s docstring for why and for the
protocol). A ``drain`` callback runs once every file handed over before it is on disk; only then
are those files reported written (the index names them), and a failed one is reported through
``on_error`` like a failed write in the thread.

If the worker cannot start, ``start`` returns None and the caller writes in its thread. If it dies
mid-run, the files it had not confirmed are reported as not written (resume reruns those tasks:
their journal lines say done, their trace files are missing) and the rest are written in the
feeder thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from parallel_execution.traces import file_worker

if TYPE_CHECKING:
    import subprocess

__all__ = ["ProcessFileSink"]

# (path, data, written-callback): one trace file.
FileItem = tuple[str, bytes, Callable[[], None]]
_PIPE_BYTES = 1 << 20  # the worker's stdin buffer: ~400 trace files queued without blocking the feeder


class ProcessFileSink:
    """Feeds trace files to a ``file_worker`` process; ``put``, ``drain``, then ``close`` once."""

    def __init__(self, process: subprocess.Popen[bytes], on_error: Callable[[str], None]) -> None:
        assert process.stdin is not None and process.stdout is not None  # both are pipes
        self._process = process
        self._on_error = on_error
        self._stdin = process.stdin
        self._replies = io.BufferedReader(process.stdout)  # type: ignore[type-var]  # a raw pipe (bufsize=0)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sent: deque[tuple[str, Callable[[], None]]] = deque()  # handed over, not yet confirmed
        self._confirmed = 0  # files the worker has confirmed (written or failed), run-wide
        self._alive = True
        self._thread = threading.Thread(target=self._feed, name="trace-files", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, on_error: Callable[[str], None]) -> ProcessFileSink | None:
        """A sink with its worker running, or None when no worker can be started here."""
        if getattr(sys, "frozen", False) or not sys.executable:  # no interpreter to run the worker with
            return None
        import subprocess  # here: a small dispatch (every CLI start-up) never needs it
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", file_worker.__file__], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, bufsize=0, close_fds=True,
                start_new_session=True,  # a Ctrl-C at the terminal must not cost an interrupted run its traces
            )
        except (OSError, ValueError):
            return None
        with contextlib.suppress(AttributeError, OSError):  # a smaller pipe only means more waits
            import fcntl
            fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[union-attr]
        return cls(process, on_error)

    def put(self, files: list[FileItem]) -> None:
        self._queue.put(files)

    def drain(self, callback: Callable[[], None]) -> None:
        """``callback()`` (on the feeder thread) once every file put before it is written or reported failed."""
        self._queue.put(callback)

    def close(self) -> None:
        """Write and confirm everything put so far, then let the worker exit; idempotent."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    # -- the feeder thread -------------------------------------------------------------------------

    def _feed(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            frames: list[bytes] = []
            for item in items:
                try:
                    if item is None:
                        self._send(frames)
                        self._confirm()
                        self._finish()
                        return
                    if callable(item):
                        self._send(frames)
                        frames = []
                        self._confirm()
                    else:
                        self._frame(item, frames)
                except Exception as exc:  # never leave a drain unanswered: the run would wait forever
                    self._on_error(f"trace-file writer: {exc!r}")
                    self._lost()
                if callable(item):
                    item()
            self._send(frames)

    def _frame(self, files: list[FileItem], frames: list[bytes]) -> None:
        header = file_worker.HEADER.pack
        for path, data, written in files:
            if not self._alive:
                self._write_here(path, data, written)
                continue
            encoded = os.fsencode(path)
            frames += (header(file_worker.FILE, len(encoded), len(data)), encoded, data)
            self._sent.append((path, written))

    def _send(self, frames: list[bytes]) -> None:
        if not frames or not self._alive:
            return
        try:
            view = memoryview(b"".join(frames))
            while view:
                view = view[os.write(self._stdin.fileno(), view):]  # unbuffered: one write per batch
        except OSError:
            self._lost()

    def _confirm(self) -> None:
        """Ask the worker to confirm every file sent so far; mark them written or failed."""
        if not self._sent:
            return
        failed: dict[int, str] = {}  # file number -> the worker's message
        try:
            self._send([file_worker.HEADER.pack(file_worker.DRAIN, 0, 0)])
            while self._alive:
                line = self._replies.readline()
                if line == b"D\n":
                    break
                if not line.startswith(b"E "):
                    self._lost()
                    return
                number, _, message = line[2:].rstrip(b"\n").partition(b" ")
                failed[int(number)] = message.decode("utf-8", "replace")
        except (OSError, ValueError):
            self._lost()
            return
        if not self._alive:
            return
        # The worker numbers files from 0 across the whole run; ours are the oldest unconfirmed.
        while self._sent:
            path, written = self._sent.popleft()
            failure = failed.get(self._confirmed)
            self._confirmed += 1
            if failure is None:
                written()
            else:
                self._on_error(f"cannot write trace {str(path)!r}: {failure}")

    def _lost(self) -> None:
        """The worker is gone: what it did not confirm is reported; the rest is written here."""
        if not self._alive:
            return
        self._alive = False
        with contextlib.suppress(OSError):
            self._stdin.close()
        code = self._process.wait()  # EOF on its stdin: it ends once the frames already read are written
        while self._sent:
            path, _ = self._sent.popleft()
            self._on_error(f"cannot write trace {str(path)!r}: the trace-file writer process ended (exit code {code})")

    def _write_here(self, path: str, data: bytes, written: Callable[[], None]) -> None:
        try:
            file_worker.write_file(path, data)
        except OSError as exc:
            self._on_error(f"cannot write trace {str(path)!r}: {exc.strerror or exc}")
        else:
            written()

    def _finish(self) -> None:
        self._alive = False
        with contextlib.suppress(OSError):
            self._stdin.close()  # EOF: the worker exits
        with contextlib.suppress(OSError):
            self._replies.close()
        self._process.wait()
