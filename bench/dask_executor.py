"""The Dask executor: per-task overhead against raw ``client.submit``, and 2 workers against 1.

::

    python bench/dask_executor.py                    # 200 tasks x 3 repeats, 6 CPU-bound tasks
    python bench/dask_executor.py --tasks 500 --repeats 5

Overhead (one ``LocalCluster``: 2 worker processes x 2 threads, shared by every row, run
round-robin so machine load hits all rows alike; each row is wall time / tasks, median of
``--repeats``):

* ``dispatch()`` of ``--tasks`` independent ``echo`` tasks with ``executor: dask`` on that cluster
  (traces in a temporary folder) - ours, with ``max_workers`` = the cluster's 4 threads and with
  ``max_workers`` = ``--tasks`` (everything submitted at once, as raw Dask does);
* raw ``client.submit`` of a trivial function (returns ``{"message": i}``) for the same number of
  keys, ``pure=False``: all submitted at once (Dask's best case) and with at most 4 in flight (the
  same concurrency cap our scheduler keeps);
* the same pair for one program per task: ``command`` tasks running ``true`` against raw
  ``client.submit`` of ``subprocess.run(["true"])``.

Speedup: ``--cpu-tasks`` CPU-bound ``command`` tasks (a Python loop of ``--cpu-seconds``) through
``dispatch()`` on a cluster of 1 worker x 1 thread, then of 2 workers x 1 thread (``max_workers``
2 both times). The machine's other load shows in this ratio: it is an upper bound of 2.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

from parallel_execution.dispatcher import dispatch


def trivial(i: int) -> dict[str, Any]:
    return {"message": i}


def run_true(i: int) -> int:
    return subprocess.run(["true"], check=False).returncode


def raw_submit(address: str, func: Any, n: int, in_flight: int | None) -> float:
    """Seconds to run ``func`` on ``n`` keys with raw ``client.submit`` (optionally capped in flight)."""
    from distributed import Client

    async def go() -> float:
        async with Client(address, asynchronous=True) as client:
            started = time.perf_counter()
            if in_flight is None:
                futures = [client.submit(func, i, pure=False) for i in range(n)]
                await client.gather(futures)
            else:
                queue = list(range(n))
                running: set[asyncio.Future[Any]] = set()
                while queue or running:
                    while queue and len(running) < in_flight:
                        running.add(asyncio.ensure_future(client.submit(func, queue.pop(), pure=False).result()))
                    _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            return time.perf_counter() - started
    return asyncio.run(go())


def ours(address: str, tasks: list[dict[str, Any]], trace_dir: Path, max_workers: int) -> float:
    config = {"trace_dir": str(trace_dir), "max_workers": max_workers, "executor": {"kind": "dask", "address": address}}
    started = time.perf_counter()
    result = dispatch({"tasks": tasks, "config": config}, allow_commands=True)
    elapsed = time.perf_counter() - started
    assert result.summary.successful == len(tasks), result.summary
    return elapsed


def cpu_tasks(count: int, seconds: float) -> list[dict[str, Any]]:
    # A loop sized to take about ``seconds`` on an idle core (calibrated once, below).
    loops = calibrate(seconds)
    code = f"s = 0\nfor i in range({loops}): s += i * i"
    return [{"task_id": f"cpu{i}", "agent": "command", "input_data": {"argv": [sys.executable, "-c", code]}}
            for i in range(count)]


def calibrate(seconds: float) -> int:
    started = time.perf_counter()
    s = 0
    for i in range(1_000_000):
        s += i * i
    return int(1_000_000 * seconds / max(1e-6, time.perf_counter() - started))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-tasks", type=int, default=6)
    parser.add_argument("--cpu-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    from distributed import LocalCluster

    n = args.tasks
    echo = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": i}} for i in range(n)]
    true = [{"task_id": f"t{i}", "agent": "command", "input_data": {"argv": ["true"]}} for i in range(n)]
    rows: dict[str, list[float]] = {}
    with benchlib.scratch_dir("bench-dask-") as scratch, \
            LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None,
                         scheduler_port=0) as cluster:
        address, slots = cluster.scheduler_address, 4
        cases = {
            "echo: ours (dispatch, executor dask)": lambda r: ours(address, echo, scratch / f"e{r}", slots),
            "echo: ours, max_workers = tasks (all at once)": lambda r: ours(address, echo, scratch / f"E{r}", n),
            "echo: raw client.submit, all at once": lambda r: raw_submit(address, trivial, n, None),
            "echo: raw client.submit, 4 in flight": lambda r: raw_submit(address, trivial, n, slots),
            "true: ours (command tasks)": lambda r: ours(address, true, scratch / f"c{r}", slots),
            "true: raw client.submit(subprocess.run), all at once": lambda r: raw_submit(address, run_true, n, None),
            "true: raw client.submit(subprocess.run), 4 in flight": lambda r: raw_submit(address, run_true, n, slots),
        }
        ours("" + address, echo[:8], scratch / "warm", slots)  # warm: imports on the workers
        for repeat in range(args.repeats):
            for name, case in cases.items():
                rows.setdefault(name, []).append(case(repeat) / n * 1000)
                print(f"repeat {repeat + 1}: {name}: {rows[name][-1]:.2f} ms/task", file=sys.stderr)
    per_task = {name: benchlib.median(values) for name, values in rows.items()}

    def ratio(name: str, base: str) -> str:
        return benchlib.fmt(per_task[name] / per_task[base]) + "x"

    table = [[name, benchlib.fmt(ms), ""] for name, ms in per_task.items()]
    table[0][2] = f"{ratio(table[0][0], table[3][0])} of raw with 4 in flight"
    table[1][2] = f"{ratio(table[1][0], table[2][0])} of raw all at once"
    table[4][2] = f"{ratio(table[4][0], table[6][0])} of raw with 4 in flight, {ratio(table[4][0], table[5][0])} of all at once"
    print(f"## Per-task overhead ({n} tasks, median of {args.repeats}; 2 workers x 2 threads)\n")
    print(benchlib.markdown_table(["row", "ms / task", "ours / raw"], table, "lrl"))

    tasks = cpu_tasks(args.cpu_tasks, args.cpu_seconds)
    walls = []
    with benchlib.scratch_dir("bench-dask-cpu-") as scratch:
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              scheduler_port=0) as cluster:
                walls.append(ours(cluster.scheduler_address, tasks, scratch / f"w{workers}", 2))
                print(f"{workers} worker(s): {walls[-1]:.2f} s", file=sys.stderr)
    print(f"\n## Speedup on {args.cpu_tasks} CPU-bound command tasks (~{args.cpu_seconds:g} s each)\n")
    print(benchlib.markdown_table(["workers", "wall s", "speedup"],
                                  [[1, benchlib.fmt(walls[0]), "1.00x"],
                                   [2, benchlib.fmt(walls[1]), benchlib.fmt(walls[0] / walls[1]) + "x"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
