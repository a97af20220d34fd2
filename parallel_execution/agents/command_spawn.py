"""Starting and watching a ``command`` task's program, built for thousands of tiny commands.

* ``argv[0]`` is looked up on the child's ``PATH`` once per (name, PATH, cwd) and exec'd directly
  (``execvp`` tries every PATH entry in turn, on every spawn);
* ``subprocess.Popen`` (vfork + exec) straight from the loop, not asyncio's subprocess transport;
  in the CLI, when the program runs in the runner's own working directory and needs no stdin,
  ``os.posix_spawn`` instead (also vfork + exec, with a third of Popen's Python work: it needs no
  ``cwd`` change in the child and no fd sweep, since every descriptor the CLI opens is close-on-exec;
  ``containment.claim_process`` says so, and a Python caller's process, whose threads might ``chdir``
  or leave inheritable descriptors, keeps Popen);
* the child is watched through a pidfd registered with the event loop (``os.pidfd_open`` +
  ``add_reader``; reaped by ``waitpid`` when it becomes readable): no waiter thread per child. Where
  pidfds are missing (old kernels, not Linux) one executor thread waits instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parallel_execution.errors import TaskFailure
from parallel_execution.run import containment

__all__ = ["Child", "child_env", "spawn"]

_DIRECT = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")
_devnull: list[int] = []  # the stdin posix_spawn gives, opened once
# Signals Python ignores that a program must get back at their defaults (as Popen's restore_signals).
_DEFAULT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))


def _direct_stdin() -> int | None:
    """/dev/null for ``posix_spawn``, or None where programs start through Popen (see the docstring)."""
    if not _DIRECT or not containment.owns_process():
        return None
    if not _devnull:
        _devnull.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _devnull[0]


@functools.lru_cache(maxsize=512)
def _which(name: str, path: str, cwd: str) -> str | None:
    """``name`` on ``path`` (cwd in the key: relative PATH entries depend on it)."""
    found = shutil.which(name, path=path)
    return os.path.join(cwd, found) if found is not None and not os.path.isabs(found) else found


def child_env(*overrides: Mapping[str, str]) -> dict[bytes, bytes]:
    """This process's environment with ``overrides`` applied, as bytes: what ``exec`` takes, so the
    ~40 variables are not decoded to ``str`` and encoded back for every spawn."""
    raw = getattr(os.environ, "_data", None)  # CPython's own bytes -> bytes copy of the environment (POSIX)
    env = dict(raw) if type(raw) is dict and all(type(k) is bytes for k in raw) else dict(os.environb)
    for mapping in overrides:
        env.update((os.fsencode(k), os.fsencode(v)) for k, v in mapping.items())
    return env


def _path_of(env: Mapping[Any, Any] | None) -> str:
    if env is None:
        return os.environ.get("PATH", os.defpath)
    value = env.get(b"PATH", env.get("PATH"))
    return os.fsdecode(value) if value is not None else os.defpath


def spawn(argv: list[str], cwd: Path, env: Mapping[str, str] | Mapping[bytes, bytes] | None, stdout: int,
          stderr: int, feed: bool) -> Child:
    """Start ``argv``; ``env`` (str or bytes keys, ``child_env``) replaces the environment, None inherits it."""
    name = argv[0]
    program: str | None = name
    if os.sep not in name:
        path = _path_of(env)
        program = _which(name, path, str(cwd))
        if program is None:
            raise TaskFailure(f"cannot start {name!r}: not found on PATH", retryable=False)
    devnull = _direct_stdin() if not feed else None
    if devnull is not None and program is not None and not feed and min(stdout, stderr, devnull) > 2 \
            and str(cwd) == os.getcwd():
        try:
            pid = os.posix_spawn(program, argv, env if env is not None else os.environb, setsid=True,
                                 setsigdef=_DEFAULT_SIGNALS,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
                                               (os.POSIX_SPAWN_DUP2, stderr, 2)])
            return Child(pid)
        except OSError:  # a stale PATH lookup or a refusal: Popen below retries and reports it
            pass
    for retry in (True, False):
        try:
            popen = subprocess.Popen(  # argv from a task the user allowed with --allow-commands
                argv, executable=program, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as a whole
            )
            return Child(popen.pid, popen)
        except FileNotFoundError as exc:
            if retry and program != name:  # the cached lookup went stale: look again, once
                _which.cache_clear()
                program = _which(name, _path_of(env), str(cwd))
                if program is not None:
                    continue
            raise TaskFailure(f"cannot start {name!r}: {exc.strerror or exc}", retryable=False) from None
        except OSError as exc:
            raise TaskFailure(f"cannot start {name!r}: {exc.strerror or exc}", retryable=False) from None
    raise AssertionError("unreachable")


class Child:
    """A started program, watched through a pidfd on the running loop (a thread where there is none)."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self._popen = popen
        self.pid = pid
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._pidfd: int | None = None
        self._hold: concurrent.futures.Future[object] | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here: one thread blocks in waitpid instead
            wait = popen.wait if popen is not None else functools.partial(_wait_exit_code, pid)
            self._loop.run_in_executor(None, wait).add_done_callback(
                lambda f: self._done(f.result() if not f.exception() else -1))
        else:
            self._loop.add_reader(self._pidfd, self._reap)

    @property
    def reaps_on_loop(self) -> bool:
        """Reaped by the loop (pidfd): reaping can wait for ``hold_reaping`` (not so with the thread)."""
        return self._pidfd is not None

    def hold_reaping(self, until: concurrent.futures.Future[Any] | None) -> None:
        """Do not reap before ``until`` is done (so the pid cannot be reused while something uses it)."""
        self._hold = until

    def _reap(self) -> None:
        if self._hold is not None and not self._hold.done():  # the exit waits (unreaped) for the hold
            hold, self._hold = self._hold, None
            self._loop.remove_reader(self._pidfd)  # type: ignore[arg-type]
            hold.add_done_callback(self._resume_soon)
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            pid, status = self.pid, -1
        if pid == 0:
            return  # not exited yet (a spurious wake-up)
        self._done(os.waitstatus_to_exitcode(status) if status != -1 else -1)

    def _resume_soon(self, _hold: object) -> None:  # on the thread that finished the hold
        with contextlib.suppress(RuntimeError):  # the loop is gone (the runner is exiting)
            self._loop.call_soon_threadsafe(self._resume)

    def _resume(self) -> None:
        if self._pidfd is not None:
            self._loop.add_reader(self._pidfd, self._reap)

    def _done(self, code: int) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.returncode = code
        if self._popen is not None:
            self._popen.returncode = code
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int | None:
        return await asyncio.shield(self._exited)

    async def wait_feeding(self, data: bytes | None) -> int | None:
        """Wait for the exit, writing ``data`` to the program's stdin meanwhile (then closing it)."""
        stdin = self._popen.stdin if self._popen is not None else None
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


def _wait_exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
