"""Shared helpers for the benchmarks: task graphs, clocks, bounds and Markdown tables.

The benchmark scripts (``overhead.py``, ``scheduling.py``, ``speedup.py``, ``make_baseline.py``) are
run as plain scripts (``python bench/overhead.py``), so this module sits beside them and is imported
as ``benchlib``; when the package is not importable it puts the repository root on ``sys.path`` (an uninstalled
checkout); ``PYTHONPATH`` still wins, so a snapshot of another version can be measured.

Graphs are plain lists of dependency index lists (``deps[i]`` = tasks ``i`` waits for, always
earlier indexes, so index order is a topological order). Everything random takes an explicit seed;
the same seed gives the same graph, durations and therefore the same baseline in every run.
Measurements are reported as medians of repeats and as ratios against a baseline measured in the
same process, never as absolute claims.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("parallel_execution") is None:  # a checkout that is not installed
    sys.path.insert(0, str(REPO_ROOT))

__all__ = [
    "REPO_ROOT",
    "Clock",
    "RandomDag",
    "critical_path_length",
    "echo_tasks",
    "fmt",
    "levels",
    "lower_bound",
    "markdown_table",
    "median",
    "random_dag",
    "scratch_dir",
    "timed",
    "two_parent_dag",
    "volume_note",
    "working_directory",
]


@dataclass(slots=True)
class Clock:
    """Wall and CPU seconds of one measured block (CPU: all threads of this process and its reaped children)."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Clock]:
    """``with timed() as clock: ...`` fills ``clock.wall`` / ``clock.cpu`` when the block ends.

    A full garbage collection and a ``sync`` run first, so one repeat does not pay for the previous
    one's garbage or for the disk writeback of its files.
    """
    gc.collect()
    os.sync()
    clock = Clock()
    wall, cpu = time.perf_counter(), _cpu()
    try:
        yield clock
    finally:
        clock.wall = time.perf_counter() - wall
        clock.cpu = _cpu() - cpu


def _cpu() -> float:
    """CPU seconds of this process's threads plus every child it has reaped (a dispatch's trace-file
    worker, programs it ran): work moved to another process still counts."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextmanager
def scratch_dir(prefix: str = "bench-") -> Iterator[Path]:
    """A fresh temporary folder, removed afterwards (trace files of thousands of tasks add up)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def working_directory(path: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def two_parent_dag(n: int, seed: int) -> list[list[int]]:
    """Task 0 has no dependency, task 1 depends on 0, every later task on two distinct earlier ones."""
    rng = random.Random(seed)
    deps: list[list[int]] = []
    for i in range(n):
        if i == 0:
            deps.append([])
        elif i == 1:
            deps.append([0])
        else:
            deps.append(sorted(rng.sample(range(i), 2)))
    return deps


@dataclass(slots=True)
class RandomDag:
    """A random DAG with a duration (seconds) per task; ``deps[i]`` are earlier indexes."""

    seed: int
    deps: list[list[int]]
    durations: list[float]
    edge_probability: float

    @property
    def size(self) -> int:
        return len(self.deps)

    @property
    def edges(self) -> int:
        return sum(len(d) for d in self.deps)


def random_dag(
    seed: int,
    *,
    min_tasks: int = 30,
    max_tasks: int = 60,
    edge_probability: tuple[float, float] = (0.05, 0.15),
    duration_range: tuple[float, float] = (0.020, 0.200),
    scale: float = 1.0,
) -> RandomDag:
    """The classic random-order DAG: each pair ``i < j`` is an edge with probability ``p``.

    ``p`` is drawn per graph from ``edge_probability`` so the set mixes wide, work-bound graphs
    with deep, critical-path-bound ones; durations are uniform in ``duration_range`` times ``scale``.
    """
    rng = random.Random(seed)
    n = rng.randint(min_tasks, max_tasks)
    p = rng.uniform(*edge_probability)
    deps = [[i for i in range(j) if rng.random() < p] for j in range(n)]
    low, high = duration_range
    durations = [round(rng.uniform(low, high) * scale, 4) for _ in range(n)]
    return RandomDag(seed, deps, durations, p)


def levels(deps: Sequence[Sequence[int]]) -> list[list[int]]:
    """Topological levels (longest hop count from a source), each in index order: the waves."""
    level: list[int] = []
    for ds in deps:
        level.append(max((level[d] + 1 for d in ds), default=0))
    waves: list[list[int]] = [[] for _ in range(max(level, default=-1) + 1)]
    for i, k in enumerate(level):
        waves[k].append(i)
    return waves


def critical_path_length(deps: Sequence[Sequence[int]], durations: Sequence[float]) -> float:
    """Length of the longest dependency chain, counting every task's duration."""
    finish: list[float] = []
    for i, ds in enumerate(deps):
        finish.append(max((finish[d] for d in ds), default=0.0) + durations[i])
    return max(finish, default=0.0)


def lower_bound(deps: Sequence[Sequence[int]], durations: Sequence[float], workers: int) -> float:
    """No schedule on ``workers`` can beat ``max(critical path, total work / workers)``."""
    return max(critical_path_length(deps, durations), sum(durations) / workers)


def echo_tasks(
    deps: Sequence[Sequence[int]],
    durations: Sequence[float] | None = None,
    *,
    estimates: bool = False,
) -> list[dict[str, Any]]:
    """The graph as ``echo`` task dicts ``t0, t1, ...``; ``estimates`` adds ``estimated_seconds`` hints."""
    tasks = []
    for i, ds in enumerate(deps):
        input_data: dict[str, Any] = {"message": i}
        if durations is not None:
            input_data["delay_seconds"] = durations[i]
        task: dict[str, Any] = {
            "task_id": f"t{i}", "agent": "echo", "input_data": input_data,
            "dependencies": [f"t{d}" for d in ds],
        }
        if estimates and durations is not None:
            task["estimated_seconds"] = durations[i]
        tasks.append(task)
    return tasks


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one letter per column (``l``/``r``), default: first left."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def volume_note(path: Path) -> str:
    """The file system under ``path`` and, for ext4, whether it has a journal (``/proc`` on Linux).

    Without a journal, ext4 does not reuse an inode deleted in the last 1-6 minutes and checks each
    one on every file creation, so creating files right after mass deletions costs several times more.
    """
    try:
        device = os.stat(path).st_dev
        wanted = f"{os.major(device)}:{os.minor(device)}"
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[2] == wanted:
                fs_type, source = fields[fields.index("-") + 1], fields[fields.index("-") + 2]
                break
        else:
            return "unknown file system"
    except (OSError, ValueError, IndexError):
        return "unknown file system"
    if fs_type != "ext4":
        return fs_type
    has_journal = any(Path("/proc/fs/jbd2").glob(f"{Path(source).name}-*"))
    return "ext4 with a journal" if has_journal else "ext4 without a journal (recently deleted inodes are skipped one by one)"
