"""The quick start's speedup table, measured: N equal tasks on 5 workers.

::

    python bench/speedup.py                    # N = 1, 2, 3, 5, 10; 0.5 s tasks; 5 workers; 3 repeats

Each row runs N independent ``echo`` tasks of ``--delay`` seconds through ``dispatch()`` (traces on,
in a temp dir) and reports the median of ``--repeats``: the wall time of the whole ``dispatch()``
call (validation and traces included), the run's own ``summary.total_time_ms``, the ideal time
``ceil(N / workers) * delay``, the achieved speedup from the result's ``summary.speedup``
(sum of task times / the run's total time), the ideal ``N / ceil(N / workers)``, and the value the
original quick start claimed (never measured there: 1.00, 1.67, 2.00, 2.50, 3.33).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import benchlib
from benchlib import fmt, markdown_table, median, scratch_dir, timed

from parallel_execution.dispatcher import dispatch

__all__ = ["CLAIMED", "ideal_speedup", "main", "run_once"]

# The original quick start's "Performance Expectations" table: tasks -> claimed speedup.
CLAIMED = {1: 1.00, 2: 1.67, 3: 2.00, 5: 2.50, 10: 3.33}


def ideal_speedup(tasks: int, workers: int) -> float:
    """Equal independent tasks: N tasks' work in ``ceil(N / workers)`` task lengths."""
    return tasks / math.ceil(tasks / workers)


def run_once(n: int, delay: float, workers: int) -> tuple[float, float, float]:
    """(wall seconds of dispatch(), summary.speedup, summary.total_time_ms / 1000) for one run."""
    tasks = benchlib.echo_tasks([[] for _ in range(n)], [delay] * n)
    with scratch_dir("bench-speedup-") as traces, timed() as clock:
        result = dispatch({"tasks": tasks, "config": {"max_workers": workers, "trace_dir": str(traces)}})
    if result.status != "success":
        raise SystemExit(f"dispatch of {n} tasks failed: {result.status}")
    return clock.wall, result.summary.speedup, result.summary.total_time_ms / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=list(CLAIMED))
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per task")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    runs: dict[int, list[tuple[float, float, float]]] = {n: [] for n in args.tasks}
    for _ in range(args.repeats):
        for n in args.tasks:
            runs[n].append(run_once(n, args.delay, args.workers))
            wall, speedup, _ = runs[n][-1]
            print(f"  {n} tasks: {wall:.3f} s wall, speedup {speedup:.3f}", file=sys.stderr)

    rows = []
    for n, samples in runs.items():
        wall = median([s[0] for s in samples])
        speedup = median([s[1] for s in samples])
        run_s = median([s[2] for s in samples])
        ideal = ideal_speedup(n, args.workers)
        claimed = CLAIMED.get(n)
        rows.append([
            n, fmt(wall, 3), fmt(run_s, 3), fmt(math.ceil(n / args.workers) * args.delay, 3),
            fmt(speedup), fmt(ideal), fmt(speedup / ideal * 100, 1) + " %",
            fmt(claimed) if claimed is not None else "-",
        ])
    print(f"## Speedup: N equal echo tasks of {args.delay:g} s on {args.workers} workers, "
          f"median of {args.repeats}\n")
    print(markdown_table(["tasks", "dispatch() wall s", "run s (summary)", "ideal s", "achieved speedup",
                          "ideal speedup", "achieved / ideal", "original claimed"], rows))
    print(f"\nLoad average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
