"""Run a jq filter without letting it hang, exhaust or stall the runner.

A filter that is a plain path (``jqpolicy.is_plain_path``: ``.``, ``.a.b``, ``[.items[].id]``) costs
time linear in the value it reads; it runs in-process, in microseconds. Any other filter
(``last(range(1e12))``, ``[range(1e9)]``, a regex, a ``reduce``) runs in a worker process
(``_jqworker.py``) that is

* **time-bounded**: killed when ``timeout`` runs out (the caller's task timeout), and when the caller is
  cancelled (Ctrl-C, fail-fast) - the jq C library cannot be interrupted inside a thread, a process can;
* **memory-bounded**: RLIMIT_AS of ``MEMORY_LIMIT_BYTES`` plus a few times the input's size;
* **sandboxed**: run through ``jqpolicy.guarded`` (no environment, files or further inputs);
* **off the event loop**: ``arun`` awaits the process, other tasks keep running.

Start-up costs some 30-60 ms per worker. Results come back JSON-safe: jq numbers are doubles, and
integral ones beyond 64 bits (``1e20``) are returned as floats, which every JSON writer here accepts.
Every failure - a jq error, the timeout, the memory bound - raises ``JqFailure`` with one line of text.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.errors import DispatchError
from parallel_execution.inputs._jqworker import _normalise
from parallel_execution.inputs.jqpolicy import guarded, is_plain_path

__all__ = ["MEMORY_LIMIT_BYTES", "JqFailure", "arun", "run"]

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024  # plus 4x the input's size
_WORKER = str(Path(__file__).with_name("_jqworker.py"))
_compiled: dict[str, Any] = {}


class JqFailure(DispatchError, ValueError):
    """The filter failed, timed out or ran out of memory; the message is one line."""


def run(text: str, value: Any, timeout: float | None = None) -> list[Any]:
    """Every value ``text`` yields on ``value`` (blocking). KeyboardInterrupt kills the worker."""
    if is_plain_path(text):
        return _in_process(text, value)
    payload, argv = _request(text, value, timeout)
    try:
        proc = subprocess.run(argv, input=payload, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:  # run() has killed and reaped the worker
        raise JqFailure(_timed_out(timeout)) from None
    return _reply(proc.returncode, proc.stdout, proc.stderr)


async def arun(text: str, value: Any, timeout: float | None = None) -> list[Any]:
    """Like ``run``, awaiting the worker; cancelling the caller kills the worker."""
    if is_plain_path(text):
        return _in_process(text, value)
    payload, argv = _request(text, value, timeout)
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            stdout, stderr = await proc.communicate(payload)
    except TimeoutError:
        raise JqFailure(_timed_out(timeout)) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
    return _reply(proc.returncode or 0, stdout, stderr)


def _in_process(text: str, value: Any) -> list[Any]:
    program = _compiled.get(text)
    if program is None:
        import jq  # here, not at import: only dispatches with ``$from`` filters pay for it

        try:
            program = _compiled.setdefault(text, jq.compile(text))
        except ValueError as exc:
            raise JqFailure(_first_line(exc)) from None
    try:
        return [_normalise(v) for v in program.input_value(value).all()]
    except ValueError as exc:
        raise JqFailure(_first_line(exc)) from None


def _request(text: str, value: Any, timeout: float | None) -> tuple[bytes, list[str]]:
    try:
        document = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError as exc:
        raise JqFailure(f"the input cannot be passed to jq: {exc}") from None
    memory = MEMORY_LIMIT_BYTES + 4 * len(document)
    cpu = 0 if timeout is None else int(timeout) + 2  # a backstop should the runner be frozen
    payload = orjson.dumps(guarded(text)) + b"\n" + document
    return payload, [sys.executable, "-I", _WORKER, str(memory), str(cpu)]


def _reply(returncode: int, stdout: bytes, stderr: bytes) -> list[Any]:
    try:
        reply = orjson.loads(stdout) if returncode == 0 else None
    except orjson.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict):
        if returncode < 0 or b"memory" in stderr.lower() or b"MemoryError" in stderr:
            raise JqFailure(f"jq ran out of memory or was killed (limit {MEMORY_LIMIT_BYTES // 2**20} MiB "
                            f"plus 4x the input; exit {returncode})")
        tail = stderr.decode("utf-8", "replace").strip().splitlines()
        raise JqFailure(f"the jq worker failed (exit {returncode}): {tail[-1] if tail else 'no output'}")
    if "error" in reply:
        if reply.get("memory"):
            raise JqFailure(f"jq ran out of memory (limit {MEMORY_LIMIT_BYTES // 2**20} MiB plus 4x the input)")
        raise JqFailure(str(reply["error"]))
    values: list[Any] = reply["values"]
    return values


def _timed_out(timeout: float | None) -> str:
    return f"the filter did not finish within the task's timeout ({timeout:g} s)"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__
