"""Run one headless Claude Code session as a child process group, reading its event stream.

Design
------
- The program runs as ``claude -p --output-format stream-json --verbose`` with the prompt on stdin
  (no argv size limit) and ``start_new_session=True``: the CLI, its tools and anything they start
  share one process group that nothing else is in.
- stdout is read line by line; each line is appended to the transcript as it arrives (flushed, so
  a crash loses nothing already received) and parsed. ``system/init`` gives the session id,
  ``system/api_retry`` the CLI's own retries, ``assistant`` messages may carry an ``error`` such as
  ``rate_limit`` or ``authentication_failed``, and the ``result`` line is the verdict's material.
- **Stall**: no line for ``stall_timeout`` seconds stops the session (``stalled`` is set). The
  window is widened by the delay of the last ``api_retry`` event, during which the CLI is silent
  on purpose.
- **Stop**: the ``on_message`` callback may raise ``StopSession`` to end a session that cannot
  succeed (e.g. the API keeps rejecting the credentials while the CLI retries for minutes).
- **Exit**: once the result has arrived and the CLI has exited, the session is over even if a
  grandchild still holds stdout open.
- **Cleanup, always** (success, stall, timeout, cancellation, Ctrl-C): SIGTERM to the group, a
  short grace, SIGKILL to the group, reap. A finished session's leftovers are killed too, so no
  process outlives its session. (Only a process that calls ``setsid`` itself can escape a group.)

The outcome is a plain ``SessionRun`` value; classifying it is ``outcome.classify``'s job.

Example::

    spec = ClaudeRequest(prompt="Review auth.py", cwd=root, session_id=str(uuid.uuid4()))
    with open(transcript_path, "ab") as transcript:
        run = await run_session(find_claude_binary(), spec, transcript=transcript, stall_timeout=300)
    run.result["total_cost_usd"]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from parallel_execution.claude_code.request import ClaudeRequest
from parallel_execution.errors import DispatchError, TaskFailure
from parallel_execution.run.containment import proc_stat

__all__ = [
    "SYSTEM_PROMPT_MAX_BYTES",
    "SessionRun",
    "SessionSpec",
    "StopSession",
    "build_argv",
    "run_session",
    "stop_process_group",
]

SYSTEM_PROMPT_MAX_BYTES = 100_000  # argv strings are limited to 128 KiB on Linux
_LINE_LIMIT = 64 * 1024 * 1024  # one stream-json line (a tool result can be large)
_STDERR_TAIL = 16 * 1024
_NESTED_ENV = ("CLAUDECODE",)  # set inside Claude Code; the child must not think it is nested
_POLL = 0.02


class StopSession(DispatchError):
    """Raised by an ``on_message`` callback to end the session now (``SessionRun.stopped`` = reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The request type of 0.1's session API; one type now (``claude_code.request``).
SessionSpec = ClaudeRequest


@dataclass(slots=True)
class SessionRun:
    """What one run of the program produced."""

    argv: list[str]
    session_id: str | None = None
    result: dict[str, Any] | None = None
    exit_code: int | None = None
    stderr_tail: str = ""
    stalled: bool = False
    stopped: str | None = None  # why an ``on_message`` callback ended the session early
    last_error: str | None = None  # ``error`` of the last assistant message (rate_limit, ...)
    api_retries: list[dict[str, Any]] = field(default_factory=list)
    model_messages: int = 0  # assistant messages that came from the model (not synthetic errors)
    lines: int = 0
    skipped_lines: int = 0  # not JSON, or longer than the line limit
    pid: int | None = None
    duration_s: float = 0.0

    @property
    def retry_delay_seconds(self) -> float | None:
        if not self.api_retries:
            return None
        delay = self.api_retries[-1].get("retry_delay_ms")
        return delay / 1000 if isinstance(delay, (int, float)) else None


def build_argv(binary: str, spec: ClaudeRequest) -> list[str]:
    """The command line for ``spec``. Multi-valued options get one comma-joined value, so no
    variadic option can swallow a following argument."""
    argv = [binary, "-p", "--output-format", "stream-json", "--verbose"]
    if spec.resume:
        argv += ["--resume", spec.resume]
    elif spec.session_id:
        argv += ["--session-id", spec.session_id]
    for flag, text in (("--system-prompt", spec.system_prompt), ("--append-system-prompt", spec.append_system_prompt)):
        if text:
            if len(text.encode()) > SYSTEM_PROMPT_MAX_BYTES:
                raise TaskFailure(f"{flag} text is over {SYSTEM_PROMPT_MAX_BYTES} bytes", retryable=False)
            argv += [flag, text]
    if spec.model:
        argv += ["--model", spec.model]
    if spec.allowed_tools:
        argv += ["--allowedTools", ",".join(spec.allowed_tools)]
    if spec.permission_mode:
        argv += ["--permission-mode", spec.permission_mode]
    if spec.max_turns is not None:
        argv += ["--max-turns", str(spec.max_turns)]
    if spec.max_budget_usd is not None:
        argv += ["--max-budget-usd", f"{spec.max_budget_usd:.6f}".rstrip("0").rstrip(".")]
    if spec.json_schema is not None:
        argv += ["--json-schema", orjson.dumps(spec.json_schema).decode()]
    return argv


async def run_session(
    binary: str,
    spec: ClaudeRequest,
    *,
    transcript: IO[bytes] | None = None,
    stall_timeout: float | None = None,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    kill_grace: float = 2.0,
    drain_seconds: float = 2.0,
) -> SessionRun:
    """Run the program once; always returns (or re-raises cancellation) with its group dead."""
    argv = build_argv(binary, spec)
    env = {k: v for k, v in os.environ.items() if k not in _NESTED_ENV}
    env.update(spec.env)
    run = SessionRun(argv=argv, session_id=spec.resume or spec.session_id)
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=spec.cwd, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=_LINE_LIMIT,
        )
    except OSError as exc:
        raise TaskFailure(f"cannot start the Claude Code program {binary!r}: {exc.strerror or exc}",
                          retryable=False) from None
    assert proc.stdout is not None and proc.stderr is not None
    run.pid = proc.pid
    stderr_buffer = bytearray()
    feeder = asyncio.create_task(_feed(proc, spec.prompt))
    stderr_reader = asyncio.create_task(_tail(proc.stderr, stderr_buffer))
    exited = asyncio.create_task(_leader_exit(proc))
    reading: asyncio.Task[bytes] | None = None
    try:
        extra_wait = 0.0
        while True:
            if run.result is not None and exited.done():
                break
            if reading is None:
                reading = asyncio.create_task(proc.stdout.readline())
            winding_down = run.result is not None or exited.done()
            if winding_down:
                timeout: float | None = drain_seconds
            else:
                timeout = None if stall_timeout is None else stall_timeout + extra_wait
            watched = {reading} if exited.done() else {reading, exited}
            done, _ = await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if reading in done:
                task, reading = reading, None
                try:
                    line = task.result()
                except ValueError:  # longer than the line limit; the reader skipped it
                    run.skipped_lines += 1
                    continue
                if not line:
                    break  # end of file: every writer has closed stdout
                try:
                    extra_wait = _handle_line(line, run, transcript, on_message)
                except StopSession as stop:
                    run.stopped = stop.reason
                    break
                continue
            if done:
                continue  # the program exited: read what is left, briefly
            if not winding_down:
                run.stalled = True
            break
    finally:
        helpers: list[asyncio.Task[Any]] = [t for t in (reading, feeder, exited) if t is not None]
        for helper in helpers:
            helper.cancel()
        await stop_process_group(proc, kill_grace)
        await asyncio.wait(helpers)  # a cancelled readline must finish before the pipe is read again
        # Read both pipes to their end (the group is dead, so it comes at once): the transport
        # closes cleanly and lines already written still reach the transcript.
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, ValueError, StopSession):
            async with asyncio.timeout(1.0):
                while line := await proc.stdout.readline():
                    _handle_line(line, run, transcript, None if run.stopped else on_message)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(stderr_reader), 1.0)
        stderr_reader.cancel()
        run.exit_code = proc.returncode
        run.stderr_tail = stderr_buffer.decode("utf-8", errors="replace")
        run.duration_s = round(time.monotonic() - started, 3)
    return run


async def stop_process_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` for all of it to go, SIGKILL what is left, reap.

    Waits on the group (``killpg(pgid, 0)``), not on ``proc.wait()``: on Python 3.11 that also
    waits for the pipes to close, which a surviving grandchild can delay for ever.
    """
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(_POLL)
    _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while proc.returncode is None and time.monotonic() < deadline:  # reaped by asyncio's watcher
        await asyncio.sleep(_POLL)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_running_member(pgid)


def _has_running_member(pgid: int) -> bool:
    """Whether a group member is more than a zombie. Orphans are reaped by init, which in some
    containers takes a second or more; a zombie runs nothing, so it need not be waited for."""
    try:
        entries = os.scandir("/proc")
    except OSError:  # no procfs: trust killpg
        return True
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            fields = proc_stat(entry.name)
            if fields is not None and fields[2] == str(pgid).encode() and fields[0] != b"Z":
                return True
    return False


async def _leader_exit(proc: asyncio.subprocess.Process) -> None:
    """Return once the CLI itself has exited (``proc.wait()`` would also wait for its pipes)."""
    while proc.returncode is None:
        await asyncio.sleep(_POLL)


def _handle_line(
    line: bytes, run: SessionRun, transcript: IO[bytes] | None, on_message: Callable[[dict[str, Any]], None] | None
) -> float:
    """Record one stdout line; return extra seconds of silence to allow (a CLI retry delay)."""
    run.lines += 1
    if transcript is not None:
        transcript.write(line if line.endswith(b"\n") else line + b"\n")
        transcript.flush()
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        run.skipped_lines += 1
        return 0.0
    if not isinstance(message, dict):
        run.skipped_lines += 1
        return 0.0
    kind, subtype = message.get("type"), message.get("subtype")
    if isinstance(message.get("session_id"), str):
        run.session_id = message["session_id"]
    extra = 0.0
    if kind == "system" and subtype == "api_retry":
        run.api_retries.append(message)
        extra = run.retry_delay_seconds or 0.0
    elif kind == "assistant":
        error = message.get("error")
        if isinstance(error, str):
            run.last_error = error
        if not message.get("is_api_error_message"):
            run.model_messages += 1
    elif kind == "result":
        run.result = message
    if on_message is not None:
        on_message(message)
    return extra


async def _feed(proc: asyncio.subprocess.Process, prompt: str) -> None:
    """Write the prompt to stdin and close it (a separate task: a hung CLI must not block us)."""
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(prompt.encode("utf-8"))
        await proc.stdin.drain()
        proc.stdin.close()


async def _tail(stream: asyncio.StreamReader, buffer: bytearray) -> None:
    while chunk := await stream.read(65536):
        buffer.extend(chunk)
        del buffer[:-_STDERR_TAIL]
