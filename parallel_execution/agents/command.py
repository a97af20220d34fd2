"""The ``command`` agent: run one program (argv, never a shell) as a task.

Refused at validation time unless the runner was started with ``--allow-commands`` (task JSON may
come from a model; running programs must be the user's decision). The program runs in its own
process group with ``cwd`` inside the workspace; stdout and stderr go to files in the dispatch's
trace folder, and the result carries their tails. On timeout or cancellation the whole group gets
SIGTERM, then SIGKILL after ``kill_grace_seconds``; when the program exits, anything it left running
in its group is killed too, so no process of the dispatch outlives it.

The spawn path is built for thousands of tiny commands (``bench/make_baseline.py``):

* ``argv[0]`` is looked up on the child's ``PATH`` once per (name, PATH, cwd) and exec'd directly
  (``execvp`` tries every PATH entry in turn, on every spawn);
* ``subprocess.Popen`` (vfork + exec) straight from the loop, not asyncio's subprocess transport;
* the child is watched through a pidfd registered with the event loop (``os.pidfd_open`` +
  ``add_reader``; reaped by ``waitpid`` when it becomes readable): no waiter thread per child. Where
  pidfds are missing (old kernels, not Linux) one executor thread waits instead;
* the logs are anonymous files (``O_TMPFILE``) in the trace folder, given their names
  (``<task>.stdout.log``) only if the program wrote to them: a command that prints nothing leaves
  no file, and its ``stdout_file``/``stderr_file`` are ``null``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from parallel_execution.agents.base import Agent, AgentInput, TaskContext, brief
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePath

__all__ = ["CommandAgent", "CommandInput", "kill_process_group", "last_meaningful_line"]

_TAIL_BYTES = 64 * 1024


class CommandInput(AgentInput):
    argv: list[str] = Field(min_length=1, description="Program and arguments; no shell is involved.")
    cwd: WorkspacePath | None = Field(default=None, description="Working directory; default the workspace.")
    env: dict[str, str] = Field(default_factory=dict, description="Added to (or overriding) the environment.")
    stdin: str | None = Field(default=None, description="Text fed to the program's standard input.")
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])
    tail_lines: int = Field(default=20, ge=0, le=1000)
    kill_grace_seconds: float = Field(default=2.0, ge=0)


class CommandAgent(Agent[CommandInput]):
    name = "command"
    Input = CommandInput
    requires_commands = True

    @classmethod
    def summarise(cls, output: dict[str, Any]) -> list[str] | None:
        if "exit_code" not in output:
            return None
        parts = [f"exit {output['exit_code']}"]
        tails = [output.get("stderr_tail"), output.get("stdout_tail")]  # stderr first on failure
        if output["exit_code"] == 0:
            tails.reverse()
        line = next((found for tail in tails if isinstance(tail, str) and (found := last_meaningful_line(tail))), "")
        if line:
            parts.append(brief(line, 80))
        return parts

    async def run(self, data: CommandInput, ctx: TaskContext) -> dict[str, Any]:
        cwd = Path(data.cwd) if data.cwd else ctx.workspace.root
        env = {**os.environ, **data.env} if data.env else None
        out_path, err_path = ctx.artifact_path("stdout.log"), ctx.artifact_path("stderr.log")
        started = time.monotonic()
        out, err = _Log(out_path), _Log(err_path)
        try:
            proc = _spawn(data.argv, cwd, env, out.fd, err.fd, data.stdin is not None)
            ctx.event("process_started", pid=proc.pid)
            try:
                await proc.wait_feeding(data.stdin.encode() if data.stdin is not None else None)
            except BaseException:
                ctx.event("killing_process_group", pid=proc.pid)
                await kill_process_group(proc, data.kill_grace_seconds)
                raise
            finally:
                _kill_leftovers(proc.pid)
        finally:
            out.keep()
            err.keep()
        redactor = ctx.services.get("redactor")
        if redactor is not None:  # the logs live in the trace folder: no secrets there either
            for log in (out, err):
                if log.kept:
                    redactor.scrub_file(log.path)
        stderr_tail = err.tail(data.tail_lines)
        output: dict[str, Any] = {
            "argv": data.argv,
            "cwd": str(cwd),
            "exit_code": proc.returncode,
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
            "stdout_file": str(out.path) if out.kept else None,
            "stderr_file": str(err.path) if err.kept else None,
            "stdout_tail": out.tail(data.tail_lines),
            "stderr_tail": stderr_tail,
        }
        if proc.returncode not in data.ok_exit_codes:
            last = last_meaningful_line(stderr_tail)
            detail = f": {last[:300]}" if last else ""
            raise TaskFailure(f"{Path(data.argv[0]).name} exited with code {proc.returncode}{detail}", output=output)
        return output


class _Waitable(Protocol):
    pid: int

    async def wait(self) -> int | None: ...


async def kill_process_group(proc: _Waitable, grace_seconds: float) -> None:
    """SIGTERM the process's group, wait up to ``grace_seconds``, then SIGKILL it, and reap."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace_seconds)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, asyncio.CancelledError):
        await asyncio.shield(proc.wait())


def _kill_leftovers(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


_DECORATION = re.compile(r"^[\s^~\-=_*+|.#>]*$")


def last_meaningful_line(text: str | None) -> str:
    """The last line that says something: not blank, not a traceback's ``^^^^`` marker or a rule line."""
    for line in reversed((text or "").splitlines()):
        if not _DECORATION.match(line):
            return line.strip()
    return ""


@functools.lru_cache(maxsize=512)
def _which(name: str, path: str, cwd: str) -> str | None:
    """``name`` on ``path`` (cwd in the key: relative PATH entries depend on it)."""
    found = shutil.which(name, path=path)
    return os.path.join(cwd, found) if found is not None and not os.path.isabs(found) else found


def _spawn(argv: list[str], cwd: Path, env: dict[str, str] | None, stdout: int, stderr: int,
           feed: bool) -> _Child:
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
            return _Child(popen)
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


class _Child:
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


class _Log:
    """A log file that gets its name only if something was written to it (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept = False
        self._named = False
        try:
            self.fd = os.open(path.parent, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except (AttributeError, OSError):  # no O_TMPFILE here (or no folder yet): a named file at once
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_RDWR | os.O_CLOEXEC, 0o666)
            self._named = True

    def keep(self) -> None:
        """Name the file if it is not empty (or was named from the start); idempotent."""
        if self.fd < 0:
            return
        try:
            if self._named:
                self.kept = True
            elif os.fstat(self.fd).st_size > 0:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)  # a name left by an earlier run of this folder: ours to replace
                # linkat(AT_SYMLINK_FOLLOW) on the /proc link names the anonymous file; CPython calls
                # plain link() (which does not follow) unless a dir fd is given, hence the folder's fd.
                try:
                    folder = os.open(self.path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    try:
                        os.link(f"/proc/self/fd/{self.fd}", self.path.name, dst_dir_fd=folder, follow_symlinks=True)
                    finally:
                        os.close(folder)
                except OSError:  # no /proc, or linking refused: copy it instead
                    with open(self.path, "wb") as named, os.fdopen(os.dup(self.fd), "rb") as anonymous:
                        anonymous.seek(0)
                        shutil.copyfileobj(anonymous, named)
                self.kept = True
        finally:
            os.close(self.fd)
            self.fd = -1

    def tail(self, lines: int) -> str:
        if lines == 0 or not self.kept:
            return ""
        with open(self.path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
