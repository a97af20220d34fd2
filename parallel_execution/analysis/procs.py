"""Run an analyzer as a subprocess: asynchronously, with a timeout, killed on cancel.

Analyzers are separate programs (``ruff``, ``mypy``, ``bandit``), so they never run on the event
loop and never in a worker thread that could outlive the task: :func:`run_tool` starts the
process in its own session, waits for it with ``asyncio``, and on timeout *or cancellation*
kills the whole process group before returning or re-raising. Output is capped so a runaway tool
cannot exhaust memory. A program that cannot be started is a result (``error``), not an exception.

:func:`run_sync` runs a coroutine to completion from synchronous code (the coder's validator
calls the shared layer from a worker thread): ``asyncio.run`` when no loop runs in this thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["MAX_OUTPUT", "ToolRun", "run_sync", "run_tool"]

MAX_OUTPUT = 32 * 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What one analyzer process did: exit status, output, and why it did not finish, if so."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    error: str | None = None  # could not start, timed out, or output too large

    @property
    def ok(self) -> bool:
        return self.error is None


async def run_tool(argv: Sequence[str], *, cwd: Path, timeout: float, stdin: bytes | None = None,
                   env: Mapping[str, str] | None = None) -> ToolRun:
    """Run ``argv`` in ``cwd``; never raises except ``CancelledError`` (after killing the process)."""
    argv = tuple(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            limit=MAX_OUTPUT,
        )
    except OSError as exc:
        return ToolRun(argv, None, "", "", f"cannot start {argv[0]}: {exc}")
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin)
    except TimeoutError:
        return ToolRun(argv, None, "", "", f"{Path(argv[0]).name} did not finish within {timeout:g} s")
    finally:
        if proc.returncode is None:  # timed out or cancelled: kill the whole session, then reap it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(proc.wait())
    if len(out) > MAX_OUTPUT:
        return ToolRun(argv, proc.returncode, "", "", f"output larger than {MAX_OUTPUT} bytes")
    return ToolRun(argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` from synchronous code that has no running event loop in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("run_sync() called from a running event loop; await the coroutine instead")
