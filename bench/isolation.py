"""What worktree isolation costs: time added per task, and disk per worktree.

    python bench/isolation.py [--tasks 20] [--files 200] [--repeats 3]

Builds a scratch git repository with ``--files`` source files, then runs the same ``--tasks``
independent command tasks (each writes one file) without isolation and with ``isolation:
"worktree"`` (no gate), interleaved, ``--repeats`` times; prints medians and the per-task difference.
Disk per worktree is measured on a worktree made the same way (checked-out files only: the object
store is shared with the repository).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parallel_execution import dispatch


def make_repo(root: Path, files: int) -> None:
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    for i in range(files):
        (root / f"module_{i}.py").write_text(f"VALUE_{i} = {i}\n" * 50)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"], cwd=root, check=True)


def run(root: Path, tasks: int, isolated: bool) -> float:
    config = {"workspace": str(root), "trace_dir": str(root.parent / "traces"), "max_workers": 4}
    spec = [{"task_id": f"t{i}", "agent": "command", "isolation": "worktree" if isolated else "none",
             "input_data": {"argv": ["sh", "-c", f"echo {i} > out_{i}.txt"]}} for i in range(tasks)]
    started = time.perf_counter()
    result = dispatch({"tasks": spec, "config": config}, allow_commands=True)
    elapsed = time.perf_counter() - started
    assert result.status == "success", [r.error for r in result.results]
    if not isolated:
        subprocess.run(["git", "clean", "-qfd"], cwd=root, check=True)
    return elapsed


def worktree_disk(root: Path) -> int:
    path = root.parent / "probe-tree"
    subprocess.run(["git", "worktree", "add", "-q", str(path), "-b", "probe"], cwd=root, check=True)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, check=True)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        make_repo(root, args.files)
        plain, isolated = [], []
        for _ in range(args.repeats):
            plain.append(run(root, args.tasks, False))
            isolated.append(run(root, args.tasks, True))
        disk = worktree_disk(root)
    p, i = statistics.median(plain), statistics.median(isolated)
    print(f"{args.tasks} tasks, {args.files}-file repository, 4 workers, median of {args.repeats}:")
    print(f"  | without isolation | {p:.2f} s |")
    print(f"  | with worktrees    | {i:.2f} s | x{i / p:.1f} |")
    print(f"  | added per task    | {(i - p) / args.tasks * 1000:.0f} ms (worktree, commit, merge, removal) |")
    print(f"  | disk per worktree | {disk / 1024:.0f} KiB (checked-out files; objects shared) |")


if __name__ == "__main__":
    main()
