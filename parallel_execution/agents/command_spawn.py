"""Starting and watching a ``command`` task's program, built for thousands of tiny commands.

* ``argv[0]`` is looked up on the child's ``PATH`` once per (name, PATH, cwd) and exec'd directly
  (``execvp`` tries every PATH entry in turn, on every spawn);
* ``subprocess.Popen`` (vfork + exec) straight from the loop, not asyncio's subprocess transport;
* the child is watched through a pidfd registered with the event loop (``os.pidfd_open`` +
  ``add_reader``; reaped by ``waitpid`` when it becomes readable): no waiter thread per child. Where
  pidfds are missing (old kernels, not Linux) one executor thread waits instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
from pathlib import Path

from parallel_execution.errors import TaskFailure

__all__ = ["Child", "spawn"]


@functools.lru_cache(maxsize=512)
def _which(name: str, path: str, cwd: str) -> str | None:
    """``name`` on ``path`` (cwd in the key: relative PATH entries depend on it)."""
    found = shutil.which(name, path=path)
    return os.path.join(cwd, found) if found is not None and not os.path.isabs(found) else found


def spawn(argv: list[str], cwd: Path, env: dict[str, str] | None, stdout: int, stderr: int,
           feed: bool) -> Child:
    name = argv[0]
    program: str | None = name
    if os.sep not in name:
        path = (os.environ if env is None else env).get("PATH", os.defpath)
        program = _which(name, path, str(cwd))
        if program is None:
            raise TaskFailure(f"cannot start {name!r}: not found on PATH", retryable=False)
    for retry in (True, False):
        try:
            popen = subprocess.Popen(  # argv from a task the user allowed with --allow-commands
                argv, executable=program, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as a whole
            )
            return Child(popen)
        except FileNotFoundError as exc:
            if retry and program != name:  # the cached lookup went stale: look again, once
                _which.cache_clear()
                program = _which(name, (os.environ if env is None else env).get("PATH", os.defpath), str(cwd))
                if program is not None:
                    continue
            raise TaskFailure(f"cannot start {name!r}: {exc.strerror or exc}", retryable=False) from None
        except OSError as exc:
            raise TaskFailure(f"cannot start {name!r}: {exc.strerror or exc}", retryable=False) from None
    raise AssertionError("unreachable")


class Child:
    """A started program, watched through a pidfd on the running loop (a thread where there is none)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here: one thread blocks in waitpid instead
            self._loop.run_in_executor(None, popen.wait).add_done_callback(
                lambda f: self._done(f.result() if not f.exception() else -1))
        else:
            self._loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            pid, status = self.pid, -1
        if pid == 0:
            return  # not exited yet (a spurious wake-up)
        self._done(os.waitstatus_to_exitcode(status) if status != -1 else -1)

    def _done(self, code: int) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.returncode = self._popen.returncode = code
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int | None:
        return await asyncio.shield(self._exited)

    async def wait_feeding(self, data: bytes | None) -> int | None:
        """Wait for the exit, writing ``data`` to the program's stdin meanwhile (then closing it)."""
        stdin = self._popen.stdin
        if stdin is None:
            return await self.wait()
        fd = stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data or b"")

        def write() -> None:
            nonlocal view
            try:
                while view:
                    view = view[os.write(fd, view):]
            except BlockingIOError:
                return
            except OSError:  # the program closed its stdin (or exited): the rest is not wanted
                pass
            self._loop.remove_writer(fd)
            stdin.close()

        self._loop.add_writer(fd, write)
        try:
            return await self.wait()
        finally:
            if not stdin.closed:
                self._loop.remove_writer(fd)
                stdin.close()
