"""The ``command`` agent: run one program (argv, never a shell) as a task.

Refused at validation time unless the runner was started with ``--allow-commands`` (task JSON may
come from a model; running programs must be the user's decision). The program runs in its own
process group with ``cwd`` inside the workspace; stdout and stderr go to files in the dispatch's
trace folder, and the result carries their tails. On timeout or cancellation the whole group gets
SIGTERM, then SIGKILL after ``kill_grace_seconds``; when the program exits, anything it left running
in its group is killed too, so no process of the dispatch outlives it. Children that leave the group
(``setsid``, double fork) are found and killed by ``run.containment`` (a cgroup, a tag in their
environment, the CLI's subreaper).

``command_spawn`` starts and watches the program (built for thousands of tiny commands: no shell,
no PATH search per spawn, no thread per child). ``command_logs`` opens the logs relative to the
trace folder's handle, never through a symlink; a program that prints nothing leaves no log file,
and its ``stdout_file``/``stderr_file`` are ``null``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from parallel_execution.agents.base import Agent, AgentInput, TaskContext, brief
from parallel_execution.agents.command_logs import LogFiles, LogSpool, disk_full_note
from parallel_execution.agents.command_spawn import child_env, spawn
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePath
from parallel_execution.run import containment

__all__ = ["CommandAgent", "CommandInput", "kill_process_group", "last_meaningful_line"]


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
        out_path, err_path = ctx.artifact_path("stdout.log"), ctx.artifact_path("stderr.log")
        started = time.monotonic()
        folder = out_path.parent
        spool = ctx.services.get_or_create(f"command-log-spool:{folder}", lambda: LogSpool(folder), LogSpool.close)
        scope = containment.open_scope(ctx.task_id)  # catches what leaves the group (setsid, double fork)
        with LogFiles(out_path, err_path, spool) as logs:
            try:
                try:
                    proc = spawn(data.argv, cwd, child_env(data.env, scope.env()),
                                 logs.stdout, logs.stderr, data.stdin is not None)
                except BaseException:
                    scope.close()
                    raise
                logs.started()
                scope.adopt(proc.pid, background=proc.reaps_on_loop)  # the cgroup move waits off the loop
                proc.hold_reaping(scope.moving)
                ctx.event("process_started", pid=proc.pid)
                try:
                    await proc.wait_feeding(data.stdin.encode() if data.stdin is not None else None)
                except BaseException:
                    ctx.event("killing_process_group", pid=proc.pid)
                    await kill_process_group(proc, data.kill_grace_seconds)
                    raise
                finally:
                    escaped = scope.close(spawned=proc.pid)
                    if escaped:
                        logs.recycle = False  # what it left behind had its log handles too
                        ctx.event("killed_leftover_processes", count=escaped)
            finally:
                logs.keep()  # named even on timeout or cancellation: what it printed is evidence
            full = disk_full_note(out_path.parent)  # now: scrubbing below may free space
            logs.scrub(ctx.services.get("redactor"))  # they live in the trace folder: no secrets there
            stdout_tail, stderr_tail = logs.tail(0, data.tail_lines), logs.tail(1, data.tail_lines)
            output: dict[str, Any] = {
                "argv": data.argv,
                "cwd": str(cwd),
                "exit_code": proc.returncode,
                "duration_ms": round((time.monotonic() - started) * 1000, 3),
                "stdout_file": logs.path(0),
                "stderr_file": logs.path(1),
                "stdout_tail": stdout_tail,
                "stderr_tail": stderr_tail,
            }
        if full:  # the logs are cut short; the failure may be nothing but that
            output["logs_incomplete"] = full
        if proc.returncode not in data.ok_exit_codes:
            last = last_meaningful_line(stderr_tail)
            detail = f" because {full}" if full else f": {last[:300]}" if last else ""
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


_DECORATION = re.compile(r"^[\s^~\-=_*+|.#>]*$")


def last_meaningful_line(text: str | None) -> str:
    """The last line that says something: not blank, not a traceback's ``^^^^`` marker or a rule line."""
    for line in reversed((text or "").splitlines()):
        if not _DECORATION.match(line):
            return line.strip()
    return ""
