"""Worktree isolation as the scheduler sees it: which tasks, and one call that wraps a task's attempts.

The scheduler stays ignorant of git: for a task that ``applies``, it hands ``run_task`` its own
attempt loop, which runs with the worktree as the workspace (and resets the worktree before each
retry). ``run_task`` then integrates the work; a conflict or a red gate turns the task's success into
an ``error`` whose message names the files or quotes the gate, so dependents are skipped as for any
failure. Everything that happened is in ``outcome.isolation`` (branch, worktree, merge, gate).

If the repository cannot be opened (no git, not a repository), each isolated task fails with that
message; tasks that need no isolation run as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from parallel_execution.errors import DispatchError
from parallel_execution.inputs.paths import WorkspacePolicy
from parallel_execution.isolation.config import IsolationConfig
from parallel_execution.isolation.worktrees import Worktrees

if TYPE_CHECKING:
    from parallel_execution.inputs.plan import PlannedTask
    from parallel_execution.run.outcomes import TaskOutcome

__all__ = ["AttemptLoop", "Isolation"]

# The scheduler's attempt loop, run in a given workspace, calling ``before_retry`` between attempts.
AttemptLoop = Callable[["PlannedTask", "TaskOutcome", WorkspacePolicy, Callable[[], Awaitable[None]] | None],
                       Awaitable[None]]


class Isolation:
    """The worktrees of one dispatch: opened on the first isolated task, closed at the end."""

    def __init__(self, config: IsolationConfig, policy: WorkspacePolicy, dispatch_id: str,
                 resumed_from: str | None = None) -> None:
        self.config = config
        self.policy = policy
        self.dispatch_id = dispatch_id
        self.resumed_from = resumed_from
        self._trees: Worktrees | None = None
        self._open_error: str | None = None

    async def start(self) -> None:
        try:
            self._trees = await Worktrees.open(self.policy.root, self.config, self.dispatch_id, self.resumed_from)
        except (DispatchError, OSError) as exc:
            self._open_error = str(exc)

    async def finish(self, all_succeeded: bool) -> dict[str, Any] | None:
        if self._trees is None:
            return {"error": self._open_error} if self._open_error else None
        return await self._trees.close(all_succeeded)

    async def run_task(self, planned: PlannedTask, outcome: TaskOutcome, attempts: AttemptLoop) -> None:
        trees = self._trees
        if trees is None:
            outcome.error = f"worktree isolation unavailable: {self._open_error or 'not started'}"
            return
        try:
            tree = await trees.create(planned.task_id)
        except (DispatchError, OSError) as exc:
            outcome.error = f"could not create the task's worktree: {exc}"
            return
        outcome.isolation = tree.info
        policy = WorkspacePolicy.create(tree.workspace, allow_outside=self.policy.allow_outside)
        try:
            await attempts(planned, outcome, policy, lambda: trees.reset(tree))
            if outcome.status != "success":
                trees.keep(tree, outcome.error or outcome.status)
                return
            description = planned.task.description.strip()
            message = f"{planned.task_id}: {description}"[:200] if description else planned.task_id
            info = await trees.integrate(tree, message)
            if info["merge"] in ("merged", "no_changes"):
                await trees.discard(tree)
            else:
                outcome.status, outcome.error = "error", _merge_failure(info)
                trees.keep(tree, outcome.error)
        except DispatchError as exc:
            outcome.status, outcome.error = "error", f"worktree integration failed: {exc}"
            trees.keep(tree, outcome.error)
        except BaseException:  # cancelled: close() saves its partial work on its branch, removes the tree
            trees.interrupted.append(tree)
            raise


def _merge_failure(info: dict[str, Any]) -> str:
    if info["merge"] == "conflict":
        files = ", ".join(info.get("conflicts", [])) or "unknown files"
        return f"merge conflict with the integration branch in {files}; worktree kept at {info['worktree']}"
    gate = info.get("gate") or {}
    last = next((line for line in reversed(gate.get("output_tail", [])) if line.strip()), "")
    how = "timed out" if gate.get("timed_out") else f"exited with {gate.get('exit_code')}"
    return (f"merge check {' '.join(gate.get('argv', [])[:3])} {how} after merging: {last}; "
            f"integration branch reset, worktree kept at {info['worktree']}")

