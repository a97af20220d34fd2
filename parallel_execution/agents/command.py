"""The ``command`` agent: run one program (argv, never a shell) as a task.

Refused at validation time unless the runner was started with ``--allow-commands`` (task JSON may
come from a model; running programs must be the user's decision). The program runs in its own
process group with ``cwd`` inside the workspace; stdout and stderr go to files in the dispatch's
trace folder, and the result carries their tails. On timeout or cancellation the whole group gets
SIGTERM, then SIGKILL after ``kill_grace_seconds``; when the program exits, anything it left running
in its group is killed too, so no process of the dispatch outlives it. Children that leave the group
(``setsid``, double fork) are found and killed by ``run.containment`` (a cgroup, a tag in their
environment, the CLI's subreaper); the logs are opened by ``command_logs`` (no symlink followed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.command_logs import LogFiles, disk_full_note
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePath
from parallel_execution.run import containment

__all__ = ["CommandAgent", "CommandInput", "kill_process_group"]

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

    async def run(self, data: CommandInput, ctx: TaskContext) -> dict[str, Any]:
        cwd = Path(data.cwd) if data.cwd else ctx.workspace.root
        out_path, err_path = ctx.artifact_path("stdout.log"), ctx.artifact_path("stderr.log")
        started = time.monotonic()
        scope = containment.open_scope(ctx.task_id)  # catches what leaves the group (setsid, double fork)
        with LogFiles(out_path, err_path) as logs:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *data.argv, cwd=cwd, env={**os.environ, **data.env, **scope.env()},
                    stdout=logs.stdout, stderr=logs.stderr,
                    stdin=asyncio.subprocess.PIPE if data.stdin is not None else asyncio.subprocess.DEVNULL,
                    start_new_session=True,  # its own process group, killed as a whole
                )
            except OSError as exc:
                scope.close()
                raise TaskFailure(f"cannot start {data.argv[0]!r}: {exc.strerror or exc}", retryable=False) from None
            scope.adopt(proc.pid)
            ctx.event("process_started", pid=proc.pid)
            try:
                await proc.communicate(data.stdin.encode() if data.stdin is not None else None)
            except BaseException:
                ctx.event("killing_process_group", pid=proc.pid)
                await kill_process_group(proc, data.kill_grace_seconds)
                raise
            finally:
                escaped = scope.close(spawned=proc.pid)
                if escaped:
                    ctx.event("killed_leftover_processes", count=escaped)
            stdout_tail, stderr_tail = logs.tail(0, data.tail_lines), logs.tail(1, data.tail_lines)
            logs.scrub(ctx.services.get("redactor"))  # they live in the trace folder: no secrets there
        output: dict[str, Any] = {
            "argv": data.argv,
            "cwd": str(cwd),
            "exit_code": proc.returncode,
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
            "stdout_file": str(out_path),
            "stderr_file": str(err_path),
            "stdout_tail": stdout_tail,
            "stderr_tail": stderr_tail,
        }
        full = disk_full_note(out_path.parent)
        if full:  # the logs are cut short; a failure may be nothing but that
            output["logs_incomplete"] = full
        if proc.returncode not in data.ok_exit_codes:
            last = next((line for line in reversed(stderr_tail.splitlines()) if line.strip()), "")
            detail = f" because {full}" if full else f": {last.strip()[:300]}" if last else ""
            raise TaskFailure(f"{Path(data.argv[0]).name} exited with code {proc.returncode}{detail}", output=output)
        return output


async def kill_process_group(proc: asyncio.subprocess.Process, grace_seconds: float) -> None:
    """SIGTERM the process's group, wait up to ``grace_seconds``, then SIGKILL it, and reap."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace_seconds)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, asyncio.CancelledError):
        await asyncio.shield(proc.wait())
