"""Does cost grow linearly? Per-task overhead and memory at several sizes, validation per graph shape.

::

    python bench/growth.py                              # dispatch at 1k, 10k, 100k; validation at 100k
    python bench/growth.py --sizes 1000 10000 --validate-size 20000

Part 1: for each of ``--sizes`` the ``overhead.py`` graph (``echo`` tasks, delay 0, two random
earlier dependencies each), one ``dispatch()`` with traces in a temporary folder, in a fresh
process per size (so peak memory is that run's): wall and CPU (all threads) per task, and the peak
resident memory above what the process held before the dispatch, per task. Dask's
``threaded.get`` on the same graph runs in the same process right after ours: the baseline, and its
ratio. Linear growth: the per-task columns stay flat as the size grows.

Part 2: ``parse_input`` + ``build_plan`` (validation only, nothing run) of ``--validate-size``
tasks in four shapes: **fan-out** (one root, every other task depends on it), **chain** (each task
on the previous), **$from chain** (a chain where each task's ``message`` is ``$from`` the previous
one), **shared writes** (a chain where every task declares ``writes`` of the same file: the
conflict check must prove each pair ordered). Time per task, and the ratio to fan-out (the
cheapest shape) at the same size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from benchlib import fmt, markdown_table

__all__ = ["main", "shape"]

_CHILD = r"""
import gc, os, resource, sys, time, tempfile, shutil
sys.path.insert(0, sys.argv[3])
import benchlib, orjson
from overhead import dask_graph
from parallel_execution.dispatcher import dispatch
import dask.threaded
n = int(sys.argv[1])
deps = benchlib.two_parent_dag(n, 1)
tasks = benchlib.echo_tasks(deps)
traces = tempfile.mkdtemp(prefix="bench-growth-")
dispatch({"tasks": tasks[:2], "config": {"trace_dir": traces}})  # warm-up: agent imports, first models
gc.collect()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
wall, cpu = time.perf_counter(), time.process_time()
result = dispatch({"tasks": tasks, "config": {"max_workers": 5, "trace_dir": traces}})
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert result.status == "success", result.status
del result
shutil.rmtree(traces, ignore_errors=True)
graph = dask_graph(deps)
gc.collect()
dask_wall = time.perf_counter()
dask.threaded.get(graph, list(graph), num_workers=5)
dask_wall = time.perf_counter() - dask_wall
print(orjson.dumps({"wall": wall, "cpu": cpu, "rss_kib": rss1 - rss0, "dask_wall": dask_wall}).decode())
"""


def shape(kind: str, n: int) -> list[dict[str, Any]]:
    """``n`` echo tasks in one of the four shapes of the module docstring."""
    tasks: list[dict[str, Any]] = []
    for i in range(n):
        task: dict[str, Any] = {"task_id": f"t{i}", "agent": "echo", "input_data": {"message": i}}
        if i and kind == "fan-out":
            task["dependencies"] = ["t0"]
        elif i:
            task["dependencies"] = [f"t{i - 1}"]
        if i and kind == "$from chain":
            task["input_data"] = {"message": {"$from": f"t{i - 1}", "select": ".message"}}
        if kind == "shared writes":
            task["writes"] = ["out/shared.txt"]
        tasks.append(task)
    return tasks


_VALIDATE = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from growth import shape
from parallel_execution.inputs.validate import build_plan, parse_input
doc = {"tasks": shape(sys.argv[1], int(sys.argv[2])), "config": {"workspace": sys.argv[4]}}
started = time.perf_counter()
plan = build_plan(parse_input(doc))
print(time.perf_counter() - started)
"""


def validate_time(kind: str, n: int, workspace: Path, limit: float) -> float | None:
    """Seconds to validate ``n`` tasks of ``kind`` (in a fresh process); None: over ``limit`` seconds."""
    here = str(Path(__file__).resolve().parent)
    try:
        proc = subprocess.run([sys.executable, "-c", _VALIDATE, kind, str(n), here, str(workspace)],
                              capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise SystemExit(f"validation of {kind} failed: {proc.stderr[-1000:]}")
    return float(proc.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--validate-size", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before a validation run is given up")
    args = parser.parse_args(argv)
    here = str(Path(__file__).resolve().parent)
    load_before = os.getloadavg()[0]
    rows = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(n), "", here], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"growth run at {n} failed: {proc.stderr[-1000:]}")
        m = orjson.loads(proc.stdout.splitlines()[-1])
        print(f"  {n:,} tasks: {m['wall']:.2f} s wall, Dask {m['dask_wall']:.2f} s", file=sys.stderr)
        rows.append([f"{n:,}", fmt(m["wall"] * 1e6 / n, 1), fmt(m["cpu"] * 1e6 / n, 1),
                     fmt(m["rss_kib"] * 1024 / n, 0), fmt(m["dask_wall"] * 1e6 / n, 1),
                     fmt(m["wall"] / m["dask_wall"], 2)])
    print("## Growth: one dispatch() per size (fresh process), traces on\n")
    print(markdown_table(["tasks", "wall µs/task", "CPU µs/task", "peak memory bytes/task", "Dask wall µs/task",
                          "wall ÷ Dask"], rows))
    n = args.validate_size
    with __import__("tempfile").TemporaryDirectory() as workspace:
        times = {kind: validate_time(kind, n, Path(workspace), args.limit)
                 for kind in ("fan-out", "chain", "$from chain", "shared writes")}
    base = times["fan-out"] or float("nan")
    over = f"> {args.limit:g} s (given up)"
    print(f"\n## Validation only (`parse_input` + `build_plan`), {n:,} tasks per shape\n")
    print(markdown_table(["shape", "total s", "µs/task", "÷ fan-out"],
                         [[k, fmt(t, 2), fmt(t * 1e6 / n, 1), fmt(t / base, 2)] if t is not None else [k, over, "-", "-"]
                          for k, t in times.items()]))
    print(f"\nLoad average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
