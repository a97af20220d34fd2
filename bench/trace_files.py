"""Who writes the task trace files: the writer thread, or the worker process large dispatches use?

::

    python bench/trace_files.py              # 10,000 tasks (the overhead.py graph), 4 rounds

Both modes run in this process, alternating round by round (so the volume's state, which on ext4
without a journal depends on recent deletions, and other load hit both alike): one ``dispatch()``
each into a new temp folder, kept until the end so no deletion happens in between. The mode is
chosen by patching ``traces.writer.FILES_IN_PROCESS_FROM``. CPU includes the worker process.
Prints the medians, each round's wall time and the ratio worker ÷ thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import benchlib
from benchlib import Clock, fmt, markdown_table, median, scratch_dir, timed, two_parent_dag

from parallel_execution.dispatcher import dispatch
from parallel_execution.traces import writer

__all__ = ["main"]

MODES = {"the writer thread": 10**12, "the worker process": 1}  # FILES_IN_PROCESS_FROM for each


def run_once(tasks: list[dict[str, object]], workers: int, threshold: int, keep: ExitStack) -> Clock:
    writer.FILES_IN_PROCESS_FROM = threshold
    traces = keep.enter_context(scratch_dir("bench-tracefiles-"))
    with timed() as clock:
        result = dispatch({"tasks": tasks, "config": {"max_workers": workers, "trace_dir": str(traces)}})
    if result.status != "success" or sum(1 for _ in (traces / result.dispatch_id).glob("t*.json")) != len(tasks):
        raise SystemExit(f"benchmark run failed: {result.status}, {result.trace_errors[:3]}")
    return clock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=5)
    args = parser.parse_args(argv)
    tasks = benchlib.echo_tasks(two_parent_dag(args.tasks, 1))
    default = writer.FILES_IN_PROCESS_FROM
    load_before = os.getloadavg()[0]
    clocks: dict[str, list[Clock]] = {mode: [] for mode in MODES}
    try:
        with ExitStack() as keep:
            for _ in range(args.rounds):
                for mode, threshold in MODES.items():
                    clocks[mode].append(run_once(tasks, args.workers, threshold, keep))
                    print(f"  {mode}: {clocks[mode][-1].wall:.2f} s wall", file=sys.stderr)
    finally:
        writer.FILES_IN_PROCESS_FROM = default
    n = args.tasks
    thread_wall = median([c.wall for c in clocks["the writer thread"]])
    rows = [[mode, fmt(median([c.wall for c in cs]) * 1e6 / n, 1), ", ".join(fmt(c.wall * 1e6 / n, 0) for c in cs),
             fmt(median([c.cpu for c in cs]) * 1e6 / n, 1), fmt(median([c.wall for c in cs]) / thread_wall)]
            for mode, cs in clocks.items()]
    print(f"## Trace files: {n:,} echo tasks, {args.workers} workers, {args.rounds} alternating rounds\n")
    print(markdown_table(["trace files written by", "wall µs/task (median)", "each round", "CPU µs/task",
                          "wall ÷ thread"], rows))
    print(f"\nLoad average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs). "
          f"Temp volume: {benchlib.volume_note(Path(tempfile.gettempdir()))}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
