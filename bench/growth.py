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
tasks (one or more sizes) in four shapes: **fan-out** (one root, every other task depends on it),
**chain** (each task on the previous), **$from chain** (a chain where each task's ``message`` is
``$from`` the previous one), **shared writes** (a chain where every task declares ``writes`` of the
same file: the conflict check must prove each pair ordered). Each run is a fresh process; the
median of ``--repeats``. Time per task, and the ratio to fan-out (the cheapest shape) at the same
size. ``--baseline DIR`` also validates with ``DIR``'s ``parallel_execution`` (e.g. ``git archive
main parallel_execution | tar -x -C /tmp/old``), interleaved with ours, and adds the ratio ours ÷
baseline. ``--validate-only`` skips part 1::

    python bench/growth.py --validate-only --validate-size 1000 10000 100000 --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
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
with benchlib.timed() as clock:  # CPU: every thread and the trace-file worker process
    result = dispatch({"tasks": tasks, "config": {"max_workers": 5, "trace_dir": traces}})
wall, cpu = clock.wall, clock.cpu
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
started, cpu = time.perf_counter(), time.process_time()
plan = build_plan(parse_input(doc))
print(time.perf_counter() - started, time.process_time() - cpu)
"""


def code_root() -> str:
    """The folder whose ``parallel_execution`` this process would import (PYTHONPATH, then installed)."""
    spec = importlib.util.find_spec("parallel_execution")
    if spec is None or spec.origin is None:
        raise SystemExit("parallel_execution is not importable: run from a checkout with PYTHONPATH=$PWD")
    return str(Path(spec.origin).resolve().parent.parent)


def validate_time(kind: str, n: int, workspace: Path, limit: float, code: str | None = None,
                  ) -> tuple[float, float] | None:
    """(wall, CPU) seconds to validate ``n`` tasks of ``kind`` in a fresh process importing ``code``'s
    package (default: this process's); None: over ``limit`` seconds."""
    here = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": code or code_root()}
    try:  # cwd = the workspace: not a checkout, so PYTHONPATH decides which package is measured
        proc = subprocess.run([sys.executable, "-c", _VALIDATE, kind, str(n), here, str(workspace)],
                              capture_output=True, text=True, timeout=limit, env=env, cwd=workspace)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise SystemExit(f"validation of {kind} failed: {proc.stderr[-1000:]}")
    wall, cpu = proc.stdout.split()[-2:]
    return float(wall), float(cpu)


SHAPES = ("fan-out", "chain", "$from chain", "shared writes")


def validation_tables(sizes: list[int], limit: float, repeats: int, baseline: str | None) -> str:
    """Part 2: medians per shape and size (ours and the baseline interleaved), as Markdown. CPU time
    (the child's own process time) is the steadier measure on a loaded machine; ratios use it."""
    ours, theirs = code_root(), baseline and str(Path(baseline).resolve())
    times: dict[tuple[str, int, str], list[tuple[float, float] | None]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as workspace:
        for _ in range(repeats):
            for n in sizes:
                for kind in SHAPES:
                    for label, code in (("ours", ours), ("baseline", theirs)):
                        if code:
                            times[kind, n, label].append(validate_time(kind, n, Path(workspace), limit, code))
                            print(f"  {label} {kind} {n:,}: {times[kind, n, label][-1]}", file=sys.stderr)

    def med(kind: str, n: int, label: str) -> tuple[float, float] | None:
        found = times[kind, n, label]
        if any(t is None for t in found):
            return None
        return (statistics.median(t[0] for t in found if t), statistics.median(t[1] for t in found if t))

    out = []
    over = f"> {limit:g} s"
    for n in sizes:
        fan = med("fan-out", n, "ours")
        rows = []
        for kind in SHAPES:
            t = med(kind, n, "ours")
            row = [kind, over, "-", "-", "-"] if t is None else [
                kind, fmt(t[0], 2), fmt(t[1], 2), fmt(t[1] * 1e6 / n, 1), fmt(t[1] / fan[1], 2) if fan else "-"]
            if theirs:
                old = med(kind, n, "baseline")
                row += ["-", over, "-"] if old is None else [
                    fmt(old[0], 2), fmt(old[1], 2), fmt(t[1] / old[1], 2) if t is not None else "-"]
            rows.append(row)
        headers = ["shape", "wall s", "CPU s", "CPU µs/task", "÷ fan-out"]
        if theirs:
            headers += ["baseline wall s", "baseline CPU s", "CPU ÷ baseline"]
        out.append(f"\n## Validation only (`parse_input` + `build_plan`), {n:,} tasks per shape, "
                   f"median of {repeats}\n\n" + markdown_table(headers, rows))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--validate-size", type=int, nargs="+", default=[100_000])
    parser.add_argument("--validate-only", action="store_true", help="skip part 1 (dispatch at --sizes)")
    parser.add_argument("--baseline", help="a folder holding another parallel_execution to validate with too")
    parser.add_argument("--repeats", type=int, default=1, help="validation runs per shape and size (median)")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before a validation run is given up")
    args = parser.parse_args(argv)
    here = str(Path(__file__).resolve().parent)
    load_before = os.getloadavg()[0]
    rows = []
    for n in [] if args.validate_only else args.sizes:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(n), "", here], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"growth run at {n} failed: {proc.stderr[-1000:]}")
        m = orjson.loads(proc.stdout.splitlines()[-1])
        print(f"  {n:,} tasks: {m['wall']:.2f} s wall, Dask {m['dask_wall']:.2f} s", file=sys.stderr)
        rows.append([f"{n:,}", fmt(m["wall"] * 1e6 / n, 1), fmt(m["cpu"] * 1e6 / n, 1),
                     fmt(m["rss_kib"] * 1024 / n, 0), fmt(m["dask_wall"] * 1e6 / n, 1),
                     fmt(m["wall"] / m["dask_wall"], 2)])
    if rows:
        print("## Growth: one dispatch() per size (fresh process), traces on\n")
        print(markdown_table(["tasks", "wall µs/task", "CPU µs/task", "peak memory bytes/task", "Dask wall µs/task",
                              "wall ÷ Dask"], rows))
    print(validation_tables(args.validate_size, args.limit, args.repeats, args.baseline))
    print(f"\nLoad average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
