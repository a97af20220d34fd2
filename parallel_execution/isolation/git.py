"""Running git for the worktree isolation: one async call per command, errors with git's own words.

Every command runs with automatic gc and maintenance off (a background ``git gc`` started by one
task's commit would take ``gc.pid`` and pack refs under another task's feet) and without an
interactive editor or pager. Commits made for the user's tasks carry the user's identity when git
has one configured, else a fixed ``parallel-dispatch`` identity, so they work on a bare CI machine.

    git = Git(Path("/repo"))
    head = await git.out("rev-parse", "HEAD")
    await git.run("worktree", "add", path, "-b", branch, head)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from parallel_execution.errors import DispatchError

__all__ = ["Git", "GitError", "GitResult", "kill_group"]

_QUIET_CONFIG = ("-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "core.pager=cat",
                 "-c", "advice.detachedHead=false")
_FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "parallel-dispatch", "GIT_AUTHOR_EMAIL": "parallel-dispatch@localhost",
                      "GIT_COMMITTER_NAME": "parallel-dispatch", "GIT_COMMITTER_EMAIL": "parallel-dispatch@localhost"}


class GitError(DispatchError):
    """A git command failed; the message quotes the command and git's last stderr lines."""

    def __init__(self, args: tuple[str, ...], code: int, stderr: str) -> None:
        tail = " | ".join(line for line in stderr.strip().splitlines()[-3:] if line.strip())
        super().__init__(f"git {' '.join(args)} exited with {code}: {tail or 'no message'}")
        self.code = code
        self.stderr = stderr


@dataclass(frozen=True, slots=True)
class GitResult:
    code: int
    stdout: str
    stderr: str


class Git:
    """git commands in ``cwd`` (a repository or one of its worktrees)."""

    def __init__(self, cwd: Path, *, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self._env = env

    def at(self, cwd: Path) -> Git:
        """The same settings, in another worktree of the repository."""
        return Git(cwd, env=self._env)

    async def run(self, *args: str | os.PathLike[str], check: bool = True, timeout: float = 300.0) -> GitResult:
        argv = [str(a) for a in args]
        proc = await asyncio.create_subprocess_exec(
            "git", *_QUIET_CONFIG, *argv, cwd=self.cwd, env=await self._environment(),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except BaseException:  # timeout or cancellation: never leave a git process holding a lock
            kill_group(proc.pid)
            await proc.wait()
            raise
        result = GitResult(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and result.code != 0:
            raise GitError(tuple(argv), result.code, result.stderr or result.stdout)
        return result

    async def out(self, *args: str | os.PathLike[str]) -> str:
        """stdout of a command that must succeed, stripped."""
        return (await self.run(*args)).stdout.strip()

    async def _environment(self) -> dict[str, str]:
        if self._env is None:
            env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_EDITOR="true", GIT_PAGER="cat")
            for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # never aim at another repository
                env.pop(key, None)
            probe = await asyncio.create_subprocess_exec(
                "git", "config", "user.email", cwd=self.cwd, env=env, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
            if await probe.wait() != 0:
                env.update({k: v for k, v in _FALLBACK_IDENTITY.items() if k not in os.environ})
            self._env = env
        return self._env


def kill_group(pid: int) -> None:
    """SIGKILL a process group we started (``start_new_session``); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
