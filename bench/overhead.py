"""Per-task overhead of the dispatcher, side by side with Dask's local threaded scheduler.

::

    python bench/overhead.py                    # 10,000 tasks, 5 repeats, 5 workers
    python bench/overhead.py --profile          # also: where the time goes (cProfile)

The graph: ``--tasks`` ``echo`` tasks with no delay; task 0 has no dependency, task 1 depends on
task 0, every later task on two distinct random earlier tasks (fixed ``--seed``). Each row is the
wall time of one whole call divided by the number of tasks, median of ``--repeats``:

* ``dispatch()`` with traces in a temporary folder (the normal trace layout: one file per task,
  index, journal with one fsync per batch of completions), twice - the headline numbers:
  **fresh volume**: the first phase, after ``sync`` and ``--settle`` seconds, during which no
  file is deleted (every trace folder is kept until the script ends); **after mass deletions**:
  the second phase, each run right after 10,000 files were created and deleted on the same volume
  (what every benchmark's clean-up does). On ext4 without a journal creating a file just after
  mass deletions costs several times more in the kernel, so the two are printed apart and the
  last line names the volume's file system;
* ``dispatch()`` with the default config (``trace_dir`` ``./traces``, run from a scratch folder);
* Dask's ``dask.threaded.get(dsk, all_keys, num_workers=N)`` on the same graph with a trivial
  function per task (``bench`` extra) - the baseline, measured in the same process;
* for the breakdown: validation only (``parse_input`` + ``build_plan``) and the scheduler alone
  (``Scheduler.run`` on a validated plan with no trace writer attached).

Both sides get the already-built graph (task dicts / Dask dict); both run every task and return
every result. ``--profile`` runs one extra ``dispatch()`` measuring CPU per thread (the trace
writer runs on its own thread, which cProfile does not see) and one under cProfile, and prints the
top functions by own time and the cumulative time of the main stages (cProfile slows everything
down, so read those as shares, not as absolute numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import benchlib
from benchlib import Clock, fmt, markdown_table, median, scratch_dir, timed, two_parent_dag, working_directory

from parallel_execution.dispatcher import dispatch
from parallel_execution.inputs.validate import build_plan, parse_input
from parallel_execution.run.scheduler import Scheduler

__all__ = ["dask_graph", "main", "measure", "profile", "thread_split"]

# (file suffix, function) -> label: the stages shown in the profile's cumulative table.
STAGES = [
    (("dispatcher.py", "dispatch"), "dispatch() total"),
    (("validate.py", "parse_input"), "parse_input (pydantic)"),
    (("validate.py", "build_plan"), "build_plan (graph checks, agent inputs)"),
    (("scheduler.py", "run"), "Scheduler.run (incl. observers)"),
    (("scheduler.py", "_run_task"), "task coroutines (input model, agent, timeout)"),
    (("scheduler.py", "_record"), "Scheduler._record (bookkeeping + observers)"),
    (("writer.py", "task_finished"), "TraceWriter.task_finished (per-task document)"),
    (("writer.py", "commit"), "TraceWriter.commit (hands a barrier to the writer)"),
    (("writer.py", "_write_index"), "TraceWriter._write_index (index, twice)"),
    (("dispatcher.py", "_result"), "DispatchRun._result (result models)"),
    (("base_tasks.py", "_task_repr"), "repr of the finished main task (asyncio.run exit)"),
    (("~", "<method 'poll' of 'select.epoll' objects>"), "event loop idle (waiting for tasks / the trace writer)"),
]


def _echo(message: Any, *_deps: Any) -> dict[str, Any]:
    return {"message": message}


def dask_graph(deps: Sequence[Sequence[int]]) -> dict[str, tuple[Any, ...]]:
    """The same graph for Dask: each key calls a trivial function on its dependencies' results."""
    return {f"t{i}": (_echo, i, *(f"t{d}" for d in ds)) for i, ds in enumerate(deps)}


def measure(label: str, run: Callable[[], Any], check: Callable[[Any], None]) -> Clock:
    """Time one call of ``run`` (after a sync, see ``timed``); ``check`` its result (untimed)."""
    with timed() as clock:
        result = run()
    check(result)
    print(f"  {label}: {clock.wall:.3f} s wall, {clock.cpu:.3f} s CPU", file=sys.stderr)
    return clock


def _check_dispatch(n: int, trace_root: Path) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        if result.status != "success" or result.summary.successful != n:
            raise SystemExit(f"benchmark run failed: {result.status}, {result.summary}")
        files = sum(1 for _ in (trace_root / result.dispatch_id).glob("t*.json"))
        if files != n:
            raise SystemExit(f"expected {n} task trace files, found {files}")
    return check


def mass_delete(count: int = 10_000) -> None:
    """Create and delete ``count`` small files on the temp volume (what a benchmark clean-up does)."""
    with scratch_dir("bench-junk-") as junk:
        for i in range(count):
            (junk / f"t{i}.json").write_bytes(b"{}\n" * 200)
        os.sync()


def dispatch_tmp(tasks: list[dict[str, Any]], workers: int, keep: ExitStack, *, fresh: bool) -> Clock:
    """``fresh``: nothing deleted since the fresh phase began; else 10,000 files deleted just before.

    Trace folders are kept until the script ends (``keep``): deleting one would make the next fresh
    row a run after mass deletions.
    """
    if not fresh:
        mass_delete()
    traces = keep.enter_context(scratch_dir("bench-traces-"))
    doc = {"tasks": tasks, "config": {"max_workers": workers, "trace_dir": str(traces)}}
    label = "dispatch, fresh volume" if fresh else "dispatch, after mass deletions"
    return measure(label, lambda: dispatch(doc), _check_dispatch(len(tasks), traces))


def dispatch_default(tasks: list[dict[str, Any]], workers: int, keep: ExitStack) -> Clock:
    cwd = keep.enter_context(scratch_dir("bench-cwd-"))
    with working_directory(cwd):
        doc = {"tasks": tasks, "config": {"max_workers": workers}}
        return measure("dispatch, default trace_dir", lambda: dispatch(doc),
                       _check_dispatch(len(tasks), cwd / "traces"))


def validation_only(tasks: list[dict[str, Any]], workers: int) -> Clock:
    doc = {"tasks": tasks, "config": {"max_workers": workers}}

    def check(plan: Any) -> None:
        if len(plan.tasks) != len(tasks):
            raise SystemExit("validation lost tasks")

    return measure("validation only", lambda: build_plan(parse_input(doc)), check)


def scheduler_only(tasks: list[dict[str, Any]], workers: int) -> Clock:
    with scratch_dir("bench-sched-") as scratch:
        plan = build_plan(parse_input({"tasks": tasks, "config": {"max_workers": workers,
                                                                  "trace_dir": str(scratch)}}))
        scheduler = Scheduler(plan, dispatch_id="bench", artifacts_dir=scratch)

        def check(outcomes: Any) -> None:
            if sum(o.status == "success" for o in outcomes) != len(tasks):
                raise SystemExit("scheduler-only run failed")

        return measure("scheduler only", lambda: asyncio.run(scheduler.run()), check)


def dask_run(deps: list[list[int]], workers: int) -> Clock:
    import dask.threaded

    graph = dask_graph(deps)
    keys = list(graph)

    def check(results: Any) -> None:
        if len(results) != len(keys) or results[-1] != {"message": len(keys) - 1}:
            raise SystemExit("dask run returned the wrong results")

    return measure("dask threaded get", lambda: dask.threaded.get(graph, keys, num_workers=workers), check)


def thread_split(tasks: list[dict[str, Any]], workers: int) -> tuple[float, float, float]:
    """(wall, main-thread CPU, the rest's CPU) of one unprofiled ``dispatch()``, in seconds.

    cProfile sees only the calling thread; this shows how much work runs elsewhere: the trace
    writer's threads and, from 500 tasks, the trace-file worker process (``timed`` counts it).
    """
    with scratch_dir("bench-split-") as traces:
        doc = {"tasks": tasks, "config": {"max_workers": workers, "trace_dir": str(traces)}}
        with timed() as clock:  # its GC and sync run before the clock starts
            main_cpu = time.thread_time()
            dispatch(doc)
            main_cpu = time.thread_time() - main_cpu
    return clock.wall, main_cpu, clock.cpu - main_cpu


def profile(tasks: list[dict[str, Any]], workers: int, top: int) -> str:
    """One ``dispatch()`` under cProfile: the top functions by own time and the stage totals."""
    n = len(tasks)
    wall, main_cpu, other_cpu = thread_split(tasks, workers)
    with scratch_dir("bench-profile-") as traces:
        doc = {"tasks": tasks, "config": {"max_workers": workers, "trace_dir": str(traces)}}
        os.sync()
        profiler = cProfile.Profile()
        profiler.enable()
        dispatch(doc)
        profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = max((v[3] for k, v in entries.items() if k[2] == "dispatch" and k[0].endswith("dispatcher.py")),
                default=1.0)

    def where(key: tuple[str, int, str]) -> str:
        filename, line, func = key
        if filename == "~":
            return func
        return f"{Path(filename).name}:{line} {func}"

    def matches(key: tuple[str, int, str], suffix: str, func: str) -> bool:
        return key[0].endswith(suffix) and key[2] == func

    own = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    own_rows = [[f"`{where(k)}`", f"{v[1]:,}", fmt(v[2] * 1000, 1), fmt(v[2] / total * 100, 1), fmt(v[2] * 1e6 / n)]
                for k, v in own]
    stage_rows = []
    for (suffix, func), label in STAGES:
        found = [v for k, v in entries.items() if matches(k, suffix, func)]
        if found:
            cum, calls = sum(v[3] for v in found), sum(v[1] for v in found)
            stage_rows.append([label, f"{calls:,}", fmt(cum * 1000, 1), fmt(cum / total * 100, 1), fmt(cum * 1e6 / n)])
    return "\n\n".join([
        f"### Profile: one dispatch() of {n:,} tasks under cProfile ({total:.2f} s profiled)",
        f"Unprofiled, the same call took {wall * 1e6 / n:.1f} µs/task wall: {main_cpu * 1e6 / n:.1f} µs/task CPU on "
        f"the calling thread (what cProfile sees) and {other_cpu * 1e6 / n:.1f} µs/task CPU elsewhere "
        "(the trace writer's threads and its trace-file worker process: trace files, journal, fsync).",
        "Top functions by own time (calling thread):",
        markdown_table(["function", "calls", "own ms", "% of dispatch", "µs/task"], own_rows),
        "Cumulative time of the main stages (nested: rows overlap):",
        markdown_table(["stage", "calls", "cum ms", "% of dispatch", "µs/task"], stage_rows),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=5, help="max_workers and Dask's num_workers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="also profile one dispatch() with cProfile")
    parser.add_argument("--top", type=int, default=15, help="functions shown by --profile")
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds of quiet before the fresh-volume row (after a sync)")
    args = parser.parse_args(argv)

    n, workers, repeats = args.tasks, args.workers, args.repeats
    load_before = os.getloadavg()[0]
    deps = two_parent_dag(n, args.seed)
    tasks = benchlib.echo_tasks(deps)
    keep = ExitStack()  # every trace folder, removed at the end (see dispatch_tmp)
    dask_label = "Dask `threaded.get`, same graph (the baseline)"
    fresh_rows: list[tuple[str, Callable[[], Clock]]] = [
        (dask_label, lambda: dask_run(deps, workers)),
        ("`dispatch()`, traces in a temp dir, fresh volume", lambda: dispatch_tmp(tasks, workers, keep, fresh=True)),
        ("`dispatch()`, default config (`./traces`)", lambda: dispatch_default(tasks, workers, keep)),
        ("breakdown: validation only (`parse_input` + `build_plan`)", lambda: validation_only(tasks, workers)),
        ("breakdown: `Scheduler.run` alone, no trace writer", lambda: scheduler_only(tasks, workers)),
    ]
    deleted_rows: list[tuple[str, Callable[[], Clock]]] = [
        (dask_label, lambda: dask_run(deps, workers)),
        ("`dispatch()`, traces in a temp dir, right after mass deletions", lambda: dispatch_tmp(tasks, workers, keep, fresh=False)),
    ]
    runs = fresh_rows + deleted_rows[1:]
    clocks: dict[str, list[Clock]] = {label: [] for label, _ in runs}
    os.sync()
    time.sleep(args.settle)
    with keep:
        # Two phases, each round robin (drifting load hits every row of a phase alike): no file is
        # deleted during the first, since on some file systems (ext4 without a journal) creating a
        # file skips, one by one, every inode deleted in the last minutes.
        for phase in (fresh_rows, deleted_rows):
            for _ in range(repeats):
                for label, run in phase:
                    clocks[label].append(run())
    def per_task(values: list[float]) -> str:
        return fmt(median(values) * 1e6 / n, 1)

    dask = clocks[dask_label]
    dask_wall, dask_cpu = median([c.wall for c in dask]), median([c.cpu for c in dask])
    table = [
        [label, per_task([c.wall for c in cs]), per_task([c.cpu for c in cs]),
         fmt(min(c.wall for c in cs) * 1e6 / n, 1), fmt(median([c.wall for c in cs]) / dask_wall),
         fmt(median([c.cpu for c in cs]) / dask_cpu)]
        for label, cs in clocks.items()
    ]
    print(f"## Overhead: {n:,} echo tasks (delay 0), two random earlier dependencies each "
          f"(seed {args.seed}), {workers} workers, median of {repeats} round-robin rounds\n")
    print(markdown_table(["run", "wall µs/task", "CPU µs/task", "best wall µs/task", "wall ÷ Dask", "CPU ÷ Dask"],
                         table))
    for label in (fresh_rows[1][0], deleted_rows[1][0]):
        ours_wall = median([c.wall for c in clocks[label]])
        verdict = "met" if ours_wall <= dask_wall else "NOT met"
        print(f"\nTarget ({label}, per task <= Dask's): {verdict} "
              f"({ours_wall * 1e6 / n:.1f} vs {dask_wall * 1e6 / n:.1f} µs/task, ratio {ours_wall / dask_wall:.2f}).")
    print(f"\nLoad average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs); "
          "CPU includes every thread and the trace-file worker process (kernel time too). "
          f"Temp volume: {benchlib.volume_note(Path(tempfile.gettempdir()))}.")
    if args.profile:
        print()
        print(profile(tasks, workers, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
