"""Isolated git worktrees for one dispatch, and the merge queue that integrates them behind a gate.

Lifecycle of one task's worktree
--------------------------------
1. **create** (under the repository lock): a branch ``pd/<dispatch>/t/<task>`` at the integration tip -
   which, because a task starts only after its dependencies succeeded and success includes the merge,
   already holds every dependency's work - checked out in
   ``<git-common-dir>/parallel-dispatch/worktrees/<dispatch>/<task>``: inside ``.git``, so the user's
   working tree never shows it. Then (outside the lock) ``.worktreeinclude`` files are copied from the
   main checkout, submodules initialised and the configured setup command run.
2. the task runs there (its workspace and cwd are the worktree);
3. **integrate** (under the lock): its changes are committed on its branch (never ``git stash``, which is
   shared by all worktrees), pre-checked with ``git merge-tree --write-tree`` against the tip (no working
   tree touched), merged ``--no-ff`` in the dedicated integration worktree, and the gate runs there
   (the commit needs no lock: it touches only the task's own index and branch).
   Green: the integration branch has advanced. Red or conflict: it is reset to its previous tip and the
   task fails with the conflicting files or the gate's output.
4. **discard** on success (worktree and branch removed: the merge commit keeps the work), **keep** on
   failure (with a marker, for inspection; ``dispatch-runner worktrees prune`` or age removes it).

The user's branch and working tree are never touched, except by ``fast_forward`` when every task
succeeded. One lock per repository (a file lock in the common git dir, so concurrent runners share it)
guards worktree creation and removal, merges, integration commits and resets: git's own ``index.lock`` /
``config.lock`` are never contended. A dispatch holds ``runs/<dispatch>.lock`` while it lives; a later
run or ``prune`` removes what a dead dispatch left, except kept worktrees younger than their age limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from parallel_execution.errors import DispatchError
from parallel_execution.isolation.config import IsolationConfig, StepCommand
from parallel_execution.isolation.git import Git, GitError, kill_group

__all__ = ["IsolationError", "TaskTree", "Worktrees", "branch_name", "state_dir"]

_STATE = "parallel-dispatch"
_OUTPUT_TAIL = 20


class IsolationError(DispatchError):
    """Worktree isolation cannot work here (not a git repository, git too old, ...)."""


def state_dir(common_dir: Path) -> Path:
    return common_dir / _STATE


def branch_name(dispatch_id: str, task_id: str) -> str:
    """A valid, unique branch name for a task id (ids may hold characters refs forbid)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", task_id).strip(".-") or "task"
    if safe != task_id:
        safe = f"{safe[:60]}-{hashlib.sha1(task_id.encode()).hexdigest()[:8]}"
    return f"pd/{dispatch_id}/t/{safe}"


@dataclass(slots=True)
class TaskTree:
    """One task's worktree: where it is, its branch and the commit it started from."""

    task_id: str
    path: Path
    branch: str
    base: str
    workspace: Path  # the task's workspace inside the worktree (the repo subfolder the dispatch uses)
    info: dict[str, Any] = field(default_factory=dict)


class RepoLock:
    """Serialises git operations on one repository, across tasks and across runner processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = FileLock(str(path), thread_local=False)
        self._local = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            await asyncio.to_thread(self._file.acquire)
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._file.release()
        self._local.release()


class Worktrees:
    """The worktrees and integration branch of one dispatch in one repository."""

    def __init__(self, git: Git, root: Path, common_dir: Path, workspace_rel: Path, dispatch_id: str,
                 config: IsolationConfig) -> None:
        self.git = git
        self.root = root  # the main checkout's top level
        self.common_dir = common_dir
        self.workspace_rel = workspace_rel
        self.dispatch_id = dispatch_id
        self.config = config
        self.state = state_dir(common_dir)
        self.lock = RepoLock(self.state / "repo.lock")
        self.integration_branch = f"pd/{dispatch_id}/integration"
        self.integration_path = self.state / "worktrees" / dispatch_id / "_integration"
        self._alive: FileLock | None = None
        self.base_commit = ""
        self.merged: list[str] = []
        self.interrupted: list[TaskTree] = []

    # -- opening and closing a dispatch ------------------------------------------------------------

    @classmethod
    async def open(cls, workspace: Path, config: IsolationConfig, dispatch_id: str,
                   resumed_from: str | None = None) -> Worktrees:
        """Find the repository, clean up after dead runs, create the integration branch and worktree."""
        start = (workspace / config.repo).resolve() if config.repo else workspace  # relative: to the workspace
        git = Git(start)
        try:
            root = Path(await git.out("rev-parse", "--show-toplevel")).resolve()
            common = Path(await git.out("rev-parse", "--path-format=absolute", "--git-common-dir")).resolve()
        except (GitError, FileNotFoundError) as exc:
            raise IsolationError(f"worktree isolation needs a git repository at {start}: {exc}") from exc
        if not workspace.is_relative_to(root):
            raise IsolationError(f"the workspace {workspace} is not inside the repository {root}")
        self = cls(git.at(root), root, common, workspace.relative_to(root), dispatch_id, config)
        self._alive = FileLock(str(self.state / "runs" / f"{dispatch_id}.lock"), thread_local=False)
        (self.state / "runs").mkdir(parents=True, exist_ok=True)
        self._alive.acquire(timeout=0)
        async with self.lock:
            await self._sweep(older_than_hours=config.keep_failed_hours)
            base = config.base
            if resumed_from and await self._branch_exists(f"pd/{resumed_from}/integration"):
                base = f"pd/{resumed_from}/integration"  # resume builds on the work already merged
            try:
                commit = await self.git.out("rev-parse", "--verify", f"{base}^{{commit}}")
            except GitError as exc:
                raise IsolationError(f"isolation.base {base!r} is not a commit in {root}") from exc
            self.integration_path.parent.mkdir(parents=True, exist_ok=True)
            await self.git.run("worktree", "add", "-q", "-b", self.integration_branch,
                               self.integration_path, commit)
        self.base_commit = commit
        return self

    async def close(self, all_succeeded: bool) -> dict[str, Any]:
        """Remove the integration worktree (its branch stays: it is the result); fast-forward if asked."""
        summary: dict[str, Any] = {"integration_branch": self.integration_branch, "base": self.base_commit,
                                   "merged": list(self.merged)}
        async with self.lock:
            summary["tip"] = await self.git.out("rev-parse", self.integration_branch)
            await self._remove_worktree(self.integration_path)
            for tree in self.interrupted:
                saved = await _retire(self.git, tree.path, tree.branch)
                summary.setdefault("interrupted", []).append(
                    {"task_id": tree.task_id, "branch": tree.branch if saved else None})
            if self.config.fast_forward:
                summary["fast_forward"] = await self._fast_forward(self.config.fast_forward, summary["tip"],
                                                                   all_succeeded)
        if self._alive is not None:
            self._alive.release()
        return summary

    # -- one task -----------------------------------------------------------------------------------

    async def create(self, task_id: str) -> TaskTree:
        branch = branch_name(self.dispatch_id, task_id)
        path = self.state / "worktrees" / self.dispatch_id / branch.rsplit("/", 1)[1]
        async with self.lock:
            tip = await self.git.out("rev-parse", self.integration_branch)
            await self.git.run("worktree", "add", "-q", "-b", branch, path, tip)
        tree = TaskTree(task_id, path, branch, tip, path / self.workspace_rel)
        tree.info.update(branch=branch, worktree=str(path), base=tip)
        await self._prepare(tree)
        return tree

    async def reset(self, tree: TaskTree) -> None:
        """Back to the start commit before a retry: a retry never sees a failed attempt's leftovers."""
        tree_git = self.git.at(tree.path)
        await tree_git.run("reset", "-q", "--hard", tree.base)
        await tree_git.run("clean", "-q", "-fdx")
        await self._prepare(tree)

    async def integrate(self, tree: TaskTree, message: str) -> dict[str, Any]:
        """Commit, pre-check, merge and gate one task's work; the returned dict says what happened."""
        info = tree.info
        tree_git = self.git.at(tree.path)
        integration = self.git.at(self.integration_path)
        # The commit touches only this worktree's index and its own branch: no lock needed.
        await tree_git.run("add", "-A")
        if (await tree_git.run("diff", "--cached", "--quiet", check=False)).code == 0:
            info["merge"] = "no_changes"
            return info
        await tree_git.run("commit", "-q", "--no-verify", "-m", message)
        info["commit"] = await tree_git.out("rev-parse", "HEAD")
        async with self.lock:
            tip = await self.git.out("rev-parse", self.integration_branch)
            check = await self.git.run("merge-tree", "--write-tree", "--name-only", "--no-messages",
                                       tip, tree.branch, check=False)
            if check.code == 1:
                info["merge"] = "conflict"
                info["conflicts"] = [line for line in check.stdout.splitlines()[1:] if line.strip()]
                return info
            if check.code != 0:
                raise GitError(("merge-tree", tip, tree.branch), check.code, check.stderr)
            try:
                await integration.run("merge", "-q", "--no-ff", "--no-verify", "-m",
                                      f"Merge {tree.task_id} ({tree.branch})", tree.branch)
                gate = await self._gate()
            except BaseException:
                await asyncio.shield(self._reset_integration(integration, tip))
                raise
            if gate is not None:
                info["gate"] = gate
                if gate["exit_code"] != 0:
                    await self._reset_integration(integration, tip)
                    info["merge"] = "gate_failed"
                    return info
            info["merge"] = "merged"
            info["merged_as"] = await self.git.out("rev-parse", self.integration_branch)
            self.merged.append(tree.task_id)
        return info

    async def discard(self, tree: TaskTree) -> None:
        async with self.lock:
            await self._remove_worktree(tree.path)
            await self.git.run("branch", "-q", "-D", tree.branch, check=False)
        tree.info["worktree_removed"] = True

    def keep(self, tree: TaskTree, reason: str) -> None:
        """Leave a failed task's worktree for inspection, with a marker saying whose and why."""
        marker = self.state / "kept" / self.dispatch_id / f"{tree.path.name}.json"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_bytes(orjson.dumps({"task_id": tree.task_id, "dispatch_id": self.dispatch_id,
                                         "worktree": str(tree.path), "branch": tree.branch,
                                         "reason": reason, "kept_at": time.time()}))
        tree.info["kept_for_inspection"] = True

    # -- helpers ------------------------------------------------------------------------------------

    async def _prepare(self, tree: TaskTree) -> None:
        """``.worktreeinclude`` files, submodules and the setup command for a fresh worktree."""
        copied = _copy_included(self.root, tree.path)
        if copied:
            tree.info["included"] = copied
        if (tree.path / ".gitmodules").exists():
            await self.git.at(tree.path).run("submodule", "update", "--init", "--recursive", "-q")
        if self.config.setup is not None:
            result = await _run_step(self.config.setup, tree.workspace)
            tree.info["setup"] = result
            if result["exit_code"] != 0:
                raise IsolationError(f"setup command {self.config.setup.argv[0]!r} failed in the worktree "
                                     f"(exit {result['exit_code']}): {result['output_tail'][-1:] or ''}")

    async def _gate(self) -> dict[str, Any] | None:
        if self.config.merge_check is None:
            return None
        return await _run_step(self.config.merge_check, self.integration_path / self.workspace_rel)

    async def _reset_integration(self, integration: Git, tip: str) -> None:
        await integration.run("merge", "--abort", check=False)
        await integration.run("reset", "-q", "--hard", tip)
        await integration.run("clean", "-q", "-fd")

    async def _branch_exists(self, branch: str) -> bool:
        return (await self.git.run("rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)).code == 0

    async def _remove_worktree(self, path: Path) -> None:
        await self.git.run("worktree", "remove", "--force", "--force", path, check=False)
        if path.exists():  # not a registered worktree any more (or never was): plain files
            shutil.rmtree(path, ignore_errors=True)

    async def _fast_forward(self, branch: str, tip: str, all_succeeded: bool) -> dict[str, Any]:
        if not all_succeeded:
            return {"branch": branch, "done": False, "why": "not every task succeeded"}
        ref = f"refs/heads/{branch}"
        current = (await self.git.run("rev-parse", "--verify", "-q", ref, check=False)).stdout.strip()
        if current and (await self.git.run("merge-base", "--is-ancestor", current, tip, check=False)).code != 0:
            return {"branch": branch, "done": False, "why": f"{branch} has moved on: not a fast-forward"}
        checked_out = await self._checked_out_at(ref)
        if checked_out is not None:  # update its working tree too, refusing to clobber local changes
            result = await self.git.at(checked_out).run("merge", "-q", "--ff-only", tip, check=False)
            if result.code != 0:
                return {"branch": branch, "done": False, "why": result.stderr.strip().splitlines()[-1:]}
        else:
            await self.git.run("update-ref", ref, tip, *([current] if current else []))
        return {"branch": branch, "done": True, "tip": tip}

    async def _checked_out_at(self, ref: str) -> Path | None:
        listing = await self.git.out("worktree", "list", "--porcelain")
        path: Path | None = None
        for line in listing.splitlines():
            if line.startswith("worktree "):
                path = Path(line.removeprefix("worktree "))
            elif line == f"branch {ref}":
                return path
        return None

    async def _sweep(self, older_than_hours: float | None) -> list[str]:
        """Remove what dead dispatches left (see the module docstring); return the removed paths."""
        return await sweep(self.git, self.state, older_than_hours, keep_alive=self.dispatch_id)


async def sweep(git: Git, state: Path, older_than_hours: float | None, keep_alive: str | None = None,
                include_kept: bool = False) -> list[str]:
    """Worktrees and task branches of dispatches that no longer run. Kept (failed) worktrees go when
    older than ``older_than_hours`` or when ``include_kept``. Integration branches are never deleted
    here: they hold the merged result. Call under the repository lock."""
    removed: list[str] = []
    root = state / "worktrees"
    for dispatch in sorted(root.iterdir()) if root.is_dir() else []:
        if dispatch.name == keep_alive or _alive(state, dispatch.name):
            continue
        for tree in sorted(dispatch.iterdir()):
            marker = state / "kept" / dispatch.name / f"{tree.name}.json"
            if marker.exists() and not include_kept:
                age_hours = (time.time() - orjson.loads(marker.read_bytes()).get("kept_at", 0)) / 3600
                if older_than_hours is None or age_hours < older_than_hours:
                    continue
            branch = None if tree.name == "_integration" else f"pd/{dispatch.name}/t/{tree.name}"
            await _retire(git, tree, branch, save=not marker.exists())
            marker.unlink(missing_ok=True)
            removed.append(str(tree))
        if not any(dispatch.iterdir()):
            dispatch.rmdir()
    await git.run("worktree", "prune")
    return removed


async def _retire(git: Git, tree: Path, branch: str | None, save: bool = True) -> bool:
    """Remove a worktree. Uncommitted work of an interrupted task is first committed on its branch,
    which then stays (nothing is lost); otherwise the branch goes too. Returns whether work was saved."""
    saved = False
    if save and branch is not None and (tree / ".git").exists():
        tree_git = git.at(tree)
        added = await tree_git.run("add", "-A", check=False)
        if added.code == 0 and (await tree_git.run("diff", "--cached", "--quiet", check=False)).code == 1:
            saved = (await tree_git.run("commit", "-q", "--no-verify", "-m",
                                        "WIP: left by an interrupted dispatch", check=False)).code == 0
    await git.run("worktree", "remove", "--force", "--force", tree, check=False)
    shutil.rmtree(tree, ignore_errors=True)
    if branch is not None and not saved:
        await git.run("branch", "-q", "-D", branch, check=False)
    return saved


def _alive(state: Path, dispatch_id: str) -> bool:
    lock = FileLock(str(state / "runs" / f"{dispatch_id}.lock"), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _copy_included(source_root: Path, target_root: Path) -> list[str]:
    """Copy the files ``.worktreeinclude`` lists (e.g. ``.env``: untracked, so git does not bring them)."""
    listing = source_root / ".worktreeinclude"
    if not listing.is_file():
        return []
    copied: list[str] = []
    for line in listing.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        for source in sorted(source_root.glob(pattern)):
            rel = source.relative_to(source_root)
            if ".git" in rel.parts or not source.is_file() or source.is_symlink():
                continue
            target = target_root / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                copied.append(str(rel))
    return copied


async def _run_step(step: StepCommand, cwd: Path) -> dict[str, Any]:
    """Run the gate or setup program in its own process group; exit code and the output's tail."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *step.argv, cwd=cwd, env={**os.environ, **step.env}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        async with asyncio.timeout(step.timeout_seconds):
            out, _ = await proc.communicate()
        code = proc.returncode or 0
    except TimeoutError:
        kill_group(proc.pid)
        out, _ = await proc.communicate()
        code = -9
    except BaseException:
        kill_group(proc.pid)
        await proc.wait()
        raise
    lines = out.decode(errors="replace").rstrip().splitlines()
    return {"argv": step.argv, "exit_code": code, "timed_out": code == -9,
            "duration_ms": round((time.monotonic() - started) * 1000, 1), "output_tail": lines[-_OUTPUT_TAIL:]}

