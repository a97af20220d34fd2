"""Scheduling quality: makespan over the lower bound, ours versus a barrier-wave strategy.

::

    python bench/scheduling.py                       # 5 DAGs x workers 2, 4, 8, 16, durations 20-200 ms
    python bench/scheduling.py --dags 12 --scale 0.5 # more graphs, durations scaled to 10-100 ms

For each random DAG (fixed seeds ``--seed``, ``--seed + 1``, ...: 30-60 tasks, each pair ``i < j``
an edge with a per-graph probability in 0.05-0.15, durations uniform 20-200 ms times ``--scale``)
and each worker count, the same graph runs for real, one strategy after the other:

* **ours**: ``dispatch()`` of ``echo`` tasks whose ``delay_seconds`` is the duration, with the
  duration also given as ``estimated_seconds`` (the documented priority hint), traces on (temp dir);
  makespan = the result's ``summary.total_time_ms``;
* **ours, no hints**: the same without ``estimated_seconds`` (priorities from hop counts only);
* **waves**: the original dispatcher's strategy, implemented here: run each topological level with
  a semaphore of N (``asyncio.sleep`` per task, no other overhead), wait for the whole level, go on.

Each makespan is divided by the lower bound ``max(critical path, total work / workers)`` of the
nominal durations, so 1.00 is unbeatable and every scheduling, sleep-timer and trace-writing cost
counts against us. ``list-sched sim`` is the same ratio for our policy simulated with zero overhead
(``graph.simulate_makespan``): the part of the gap that is the bound's looseness, not overhead.
Target: ours' mean <= 1.05.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import benchlib
from benchlib import RandomDag, fmt, levels, lower_bound, markdown_table, random_dag, scratch_dir

from parallel_execution.dispatcher import dispatch
from parallel_execution.graph.checks import check_graph, simulate_makespan

__all__ = ["Ratios", "main", "run_ours", "run_waves"]

STRATEGIES = ("ours", "ours, no hints", "waves", "list-sched sim")


@dataclass(slots=True)
class Ratios:
    """Makespan / lower bound per strategy for one worker count, over all graphs."""

    by_strategy: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STRATEGIES})


async def _waves(deps: Sequence[Sequence[int]], durations: Sequence[float], workers: int) -> float:
    semaphore = asyncio.Semaphore(workers)

    async def one(i: int) -> None:
        async with semaphore:
            await asyncio.sleep(durations[i])

    started = time.perf_counter()
    for wave in levels(deps):
        await asyncio.gather(*(one(i) for i in wave))  # the barrier: the whole level, then the next
    return time.perf_counter() - started


def run_waves(dag: RandomDag, workers: int) -> float:
    """Makespan (seconds) of the barrier-wave strategy on ``dag``."""
    return asyncio.run(_waves(dag.deps, dag.durations, workers))


def run_ours(dag: RandomDag, workers: int, *, estimates: bool) -> float:
    """Makespan (seconds) of ``dispatch()`` on ``dag``, as the result's summary reports it."""
    tasks = benchlib.echo_tasks(dag.deps, dag.durations, estimates=estimates)
    with scratch_dir("bench-sched-") as traces:
        result = dispatch({"tasks": tasks, "config": {"max_workers": workers, "trace_dir": str(traces)}})
    if result.status != "success":
        raise SystemExit(f"dispatch of graph seed {dag.seed} failed: {result.status}")
    return result.summary.total_time_ms / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags", type=int, default=5, help="number of random graphs")
    parser.add_argument("--seed", type=int, default=7, help="seed of the first graph")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply all durations (1.0: 20-200 ms)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8, 16])
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    ratios = {w: Ratios() for w in args.workers}
    dags = [random_dag(args.seed + k, scale=args.scale) for k in range(args.dags)]
    for dag in dags:
        facts = check_graph(benchlib.echo_tasks(dag.deps))
        for workers in args.workers:
            bound = lower_bound(dag.deps, dag.durations, workers)
            got = {
                "ours": run_ours(dag, workers, estimates=True),
                "ours, no hints": run_ours(dag, workers, estimates=False),
                "waves": run_waves(dag, workers),
                "list-sched sim": simulate_makespan(facts, dag.durations, workers),
            }
            for name, makespan in got.items():
                ratios[workers].by_strategy[name].append(makespan / bound)
            print(f"  seed {dag.seed} ({dag.size} tasks, {dag.edges} edges) workers {workers}: bound {bound:.3f} s, "
                  + ", ".join(f"{k} {v / bound:.3f}" for k, v in got.items()), file=sys.stderr)

    rows = []
    for workers, r in ratios.items():
        s = r.by_strategy
        wins = sum(o < w for o, w in zip(s["ours"], s["waves"], strict=True))
        rows.append([
            workers,
            fmt(sum(s["ours"]) / len(s["ours"]), 3), fmt(max(s["ours"]), 3),
            fmt(sum(s["ours, no hints"]) / len(dags), 3), fmt(max(s["ours, no hints"]), 3),
            fmt(sum(s["waves"]) / len(dags), 3), fmt(max(s["waves"]), 3),
            fmt(sum(s["list-sched sim"]) / len(dags), 3),
            f"{wins}/{len(dags)}",
        ])
    all_ours = [x for r in ratios.values() for x in r.by_strategy["ours"]]
    all_waves = [x for r in ratios.values() for x in r.by_strategy["waves"]]
    mean_ours, mean_waves = sum(all_ours) / len(all_ours), sum(all_waves) / len(all_waves)
    sizes = ", ".join(f"{d.size}" for d in dags)
    low, high = 20 * args.scale, 200 * args.scale
    print(f"## Scheduling quality: makespan / lower bound, {len(dags)} random DAGs (seeds {args.seed}.."
          f"{args.seed + len(dags) - 1}; {sizes} tasks), durations {low:g}-{high:g} ms\n")
    print(markdown_table(
        ["workers", "ours mean", "ours max", "no hints mean", "no hints max", "waves mean", "waves max",
         "list-sched sim mean", "ours < waves"], rows))
    verdict = "met" if mean_ours <= 1.05 else "NOT met"
    print(f"\nOverall mean: ours {mean_ours:.3f}, waves {mean_waves:.3f}. Target (ours mean <= 1.05): {verdict}.")
    print(f"Run took {time.perf_counter() - started:.0f} s; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
