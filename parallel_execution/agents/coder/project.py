"""The project's interpreter as the coder uses it: its ``sys.path`` and bounded subprocess runs.

Static import checks must resolve imports the way the *project* will (its virtual environment, a
configured ``python``), not the runner's environment: :func:`project_search_path` asks that
interpreter for its ``sys.path`` once per interpreter. :func:`run_bounded` runs a command in its
own session with a timeout, killing the whole session on timeout or cancellation, so a hung
import or validator never outlives its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from parallel_execution.analysis.interpreter import ProjectInterpreter

__all__ = ["Completed", "project_search_path", "run_bounded"]

_PROBE = "import json, sys; print(json.dumps([p for p in sys.path if p]))"


def project_search_path(interpreter: ProjectInterpreter) -> list[str] | None:
    """``sys.path`` of ``interpreter`` (None: it is the runner itself, whose own path applies)."""
    if interpreter.is_runner:
        return None
    return _search_path(str(interpreter.path))


@lru_cache(maxsize=32)
def _search_path(python: str) -> list[str] | None:
    try:
        proc = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False)
        return [p for p in json.loads(proc.stdout) if isinstance(p, str)] if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Completed:
    returncode: int | None  # None: timed out and killed
    stdout: str
    stderr: str
    seconds: float


async def run_bounded(argv: Sequence[str], *, cwd: Path, timeout: float,
                      env: Mapping[str, str] | None = None) -> Completed:
    """Run ``argv`` in its own session; kill the session on timeout or cancellation."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=full_env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        return Completed(None, "", "", loop.time() - started)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
    return Completed(proc.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
                     loop.time() - started)
