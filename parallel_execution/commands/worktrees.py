"""``dispatch-runner worktrees list|prune``: the git worktrees that isolated tasks left behind.

``list`` prints every worktree and branch a dispatch made in the repository (kept failed tasks with
their reason, integration branches with their tip). ``prune`` removes the worktrees of dispatches that
no longer run: kept ones older than ``--older-than`` hours (all with ``--all``); interrupted work is
committed on its branch first, so nothing is lost. ``--branches`` also deletes integration branches
of dispatches that no longer run (the result of a run: only when you are done with it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.errors import DispatchError
from parallel_execution.isolation.git import Git
from parallel_execution.isolation.worktrees import RepoLock, state_dir, sweep

__all__ = ["configure_parser", "main"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "prune"))
    parser.add_argument("--repo", default=".", help="a folder in the repository (default: the current one)")
    parser.add_argument("--older-than", type=float, default=72.0, metavar="HOURS",
                        help="prune: remove kept worktrees older than this (default 72)")
    parser.add_argument("--all", action="store_true", help="prune: remove kept worktrees of any age")
    parser.add_argument("--branches", action="store_true",
                        help="prune: also delete integration branches of dispatches that no longer run")


def main(args: argparse.Namespace) -> int:
    from parallel_execution.commands.common import emit

    try:
        document = asyncio.run(_list(Path(args.repo)) if args.action == "list" else _prune(args))
    except DispatchError as exc:
        emit({"status": "error", "error": str(exc)})
        print(f"dispatch-runner worktrees: {exc}", file=sys.stderr)
        return 1
    emit(document)
    return 0


async def _open(folder: Path) -> tuple[Git, Path]:
    git = Git(folder.resolve())
    root = Path(await git.out("rev-parse", "--show-toplevel"))
    common = Path(await git.out("rev-parse", "--path-format=absolute", "--git-common-dir"))
    return git.at(root), state_dir(common)


async def _list(folder: Path) -> dict[str, Any]:
    git, state = await _open(folder)
    kept: dict[str, dict[str, Any]] = {}
    for marker in sorted((state / "kept").glob("*/*.json")):
        record = orjson.loads(marker.read_bytes())
        kept[record["worktree"]] = record
    trees = []
    listing = await git.out("worktree", "list", "--porcelain")
    for block in listing.split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines() if line)
        path = fields.get("worktree", "")
        if Path(path).is_relative_to(state / "worktrees"):
            trees.append({"worktree": path, "branch": fields.get("branch", "").removeprefix("refs/heads/"),
                          "kept": kept.get(path)})
    branches = (await git.out("for-each-ref", "--format=%(refname:short) %(objectname:short)",
                              "refs/heads/pd/")).splitlines()
    return {"status": "success", "worktrees": trees,
            "branches": [dict(zip(("branch", "tip"), line.split(" "), strict=True)) for line in branches]}


async def _prune(args: argparse.Namespace) -> dict[str, Any]:
    git, state = await _open(Path(args.repo))
    async with RepoLock(state / "repo.lock"):
        removed = await sweep(git, state, None if args.all else args.older_than, include_kept=args.all)
        deleted: list[str] = []
        if args.branches:
            live = {p.name for p in (state / "worktrees").iterdir()} if (state / "worktrees").is_dir() else set()
            refs = (await git.out("for-each-ref", "--format=%(refname:short)", "refs/heads/pd/")).splitlines()
            for ref in refs:
                if ref.endswith("/integration") and ref.split("/")[1] not in live:
                    await git.run("branch", "-q", "-D", ref)
                    deleted.append(ref)
    return {"status": "success", "removed_worktrees": removed, "deleted_branches": deleted}
