"""The same DAG of ``sleep`` commands under ``make -j N`` and under ``dispatch-runner --allow-commands``.

::

    python bench/make_baseline.py                  # 2 DAGs x workers 2, 4, 8; 3 repeats

``make`` is the classic event-driven DAG executor for programs: it starts a target as soon as its
prerequisites are done, up to ``-j N`` at a time (in Makefile order, with no notion of priority).
For each random DAG (``benchlib.random_dag``:
30-60 tasks, durations 20-200 ms times ``--scale``) this writes a Makefile of ``.PHONY`` targets
whose recipe is ``sleep <duration>`` and a task file of ``command`` tasks with ``argv`` ``["sleep",
"<duration>"]`` and the same dependencies, then runs, one after the other (median of ``--repeats``):

* ``make -j N -f Makefile all`` (wall time of the process);
* ``python -m parallel_execution run --allow-commands --max-workers N --quiet FILE`` (wall time of
  the process: interpreter start-up, imports, validation, traces and the JSON result included);
* ``dispatch(..., allow_commands=True)`` in this process (wall time of the call);
* once per DAG, ``python -m parallel_execution validate`` of the same file: the CLI's fixed cost
  (interpreter start-up, imports, validation), to read the CLI column against.

Each is divided by ``make``'s time (the baseline) and by the lower bound
``max(critical path, total work / N)``. Both sides fork/exec one ``sleep`` per task.

Then the spawn-cost table: ``--trivial`` (2,000) independent ``true`` commands on
``--trivial-workers`` (2), where nothing but starting and reaping programs counts, run round-robin
``--repeats`` times by ``make -j`` (phony targets, recipe ``@true``: make execs it without a
shell), ``xargs -P`` (``-n 1``), GNU ``parallel -j`` (skipped, with a note, when not installed), the
runner's CLI (traces and the JSON result included) and ``dispatch()`` in this process; medians of
the wall time and of the CPU time (the process's and every program it reaped: user + system), each
divided by make's. ``--trivial 0`` skips it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from benchlib import RandomDag, fmt, lower_bound, markdown_table, median, random_dag, scratch_dir, timed

from parallel_execution.dispatcher import dispatch

__all__ = ["command_tasks", "main", "makefile"]


def makefile(dag: RandomDag) -> str:
    """A Makefile running ``dag``: one phony target per task, ``all`` depends on every task."""
    lines = [".PHONY: all " + " ".join(f"t{i}" for i in range(dag.size)), "",
             "all: " + " ".join(f"t{i}" for i in range(dag.size)), ""]
    for i, ds in enumerate(dag.deps):
        lines.append(f"t{i}: " + " ".join(f"t{d}" for d in ds))
        lines.append(f"\t@sleep {dag.durations[i]}")
    return "\n".join(lines) + "\n"


def command_tasks(dag: RandomDag) -> list[dict[str, object]]:
    """The same graph as ``command`` tasks (no shell: ``argv`` runs ``sleep`` directly)."""
    return [
        {"task_id": f"t{i}", "agent": "command", "input_data": {"argv": ["sleep", str(dag.durations[i])]},
         "dependencies": [f"t{d}" for d in ds]}
        for i, ds in enumerate(dag.deps)
    ]


def run_make(folder: Path, workers: int) -> float:
    with timed() as clock:
        proc = subprocess.run(["make", "-s", "-j", str(workers), "-f", "Makefile", "all"], cwd=folder,
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"make failed: {proc.stderr.strip()}")
    return clock.wall


def run_cli(folder: Path, workers: int) -> float:
    traces = folder / "cli-traces"
    argv = [sys.executable, "-m", "parallel_execution", "run", "--allow-commands", "--max-workers", str(workers),
            "--trace-dir", str(traces), "--workspace", str(folder), "--quiet", str(folder / "tasks.json")]
    with timed() as clock:
        proc = subprocess.run(argv, cwd=folder, capture_output=True)
    result = orjson.loads(proc.stdout) if proc.stdout else {}
    if proc.returncode != 0 or result.get("status") != "success":
        raise SystemExit(f"dispatch-runner failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    shutil.rmtree(traces, ignore_errors=True)
    return clock.wall


def run_cli_startup(folder: Path) -> float:
    """The CLI's fixed cost: interpreter start-up, imports and validation of the file, nothing run."""
    argv = [sys.executable, "-m", "parallel_execution", "validate", "--allow-commands", "--workspace", str(folder),
            str(folder / "tasks.json")]
    with timed() as clock:
        proc = subprocess.run(argv, cwd=folder, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"dispatch-runner validate failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return clock.wall


def run_in_process(folder: Path, dag: RandomDag, workers: int) -> float:
    traces = folder / "api-traces"
    config = {"max_workers": workers, "trace_dir": str(traces), "workspace": str(folder)}
    with timed() as clock:
        result = dispatch({"tasks": command_tasks(dag), "config": config}, allow_commands=True)
    if result.status != "success":
        raise SystemExit(f"dispatch failed: {result.status}")
    shutil.rmtree(traces, ignore_errors=True)
    return clock.wall


def _timed_run(argv: list[str], folder: Path, stdin: bytes | None = None, env: dict[str, str] | None = None) -> float:
    return _timed_run_cpu(argv, folder, stdin, env)[0]


def _timed_run_cpu(argv: list[str], folder: Path, stdin: bytes | None = None,
                   env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one process, the CPU of every descendant it reaped included (make's
    and xargs' programs, and ours: ``timed`` counts reaped children)."""
    with timed() as clock:
        proc = subprocess.run(argv, cwd=folder, input=stdin, capture_output=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return clock.wall, clock.cpu


def trivial_commands(n: int, workers: int, repeats: int, also: str | None = None) -> tuple[list[list[str]], list[str]]:
    """``n`` independent ``true`` commands under make, xargs, GNU parallel, our CLI and dispatch()."""
    notes = []
    tasks = [{"task_id": f"t{i}", "agent": "command", "input_data": {"argv": ["true"]}} for i in range(n)]
    lines = b"".join(b"%d\n" % i for i in range(n))
    with scratch_dir("bench-trivial-") as folder:
        names = " ".join(f"t{i}" for i in range(n))
        (folder / "Makefile").write_text(f".PHONY: all {names}\nall: {names}\n" +
                                         "".join(f"t{i}:\n\t@true\n" for i in range(n)))
        (folder / "tasks.json").write_bytes(orjson.dumps({"tasks": tasks}))
        traces = folder / "traces"
        cli = [sys.executable, "-m", "parallel_execution", "run", "--allow-commands", "--max-workers", str(workers),
               "--trace-dir", str(traces), "--workspace", str(folder), "--quiet", str(folder / "tasks.json")]
        runs: dict[str, Any] = {
            f"`make -s -j{workers}`": lambda: _timed_run_cpu(["make", "-s", f"-j{workers}", "all"], folder),
            f"`xargs -P{workers} -n1 true`": lambda: _timed_run_cpu(["xargs", f"-P{workers}", "-n1", "true"], folder,
                                                                   lines),
        }
        if shutil.which("parallel") and b"GNU" in subprocess.run(["parallel", "--version"], capture_output=True).stdout:
            runs[f"GNU `parallel -j{workers} true`"] = lambda: _timed_run_cpu(
                ["parallel", f"-j{workers}", "--will-cite", "true"], folder, lines)
        else:
            notes.append("GNU parallel is not installed (`apt-get install parallel`): its row is skipped.")

        def run_ours_cli() -> tuple[float, float]:
            took = _timed_run_cpu(cli, folder)
            shutil.rmtree(traces, ignore_errors=True)
            return took

        def run_ours_api() -> tuple[float, float]:
            config = {"max_workers": workers, "trace_dir": str(traces), "workspace": str(folder)}
            with timed() as clock:
                result = dispatch({"tasks": tasks, "config": config}, allow_commands=True)
            if result.status != "success":
                raise SystemExit(f"dispatch failed: {result.status}")
            shutil.rmtree(traces, ignore_errors=True)
            return clock.wall, clock.cpu  # the programs it reaped included

        runs["dispatch-runner CLI (`run --quiet`)"] = run_ours_cli
        if also:  # another checkout's CLI in the same rounds (before / after)
            env = {**os.environ, "PYTHONPATH": also}

            def run_other_cli() -> tuple[float, float]:
                took = _timed_run_cpu(cli, folder, env=env)
                shutil.rmtree(traces, ignore_errors=True)
                return took

            runs[f"dispatch-runner CLI, {also}"] = run_other_cli
        runs["`dispatch()` in-process"] = run_ours_api
        times: dict[str, list[float]] = {label: [] for label in runs}
        cpus: dict[str, list[float]] = {label: [] for label in runs}
        for _ in range(repeats):  # round robin: drifting load hits every row alike
            for label, run in runs.items():
                wall, cpu = run()
                times[label].append(wall)
                cpus[label].append(cpu)
                print(f"  {n} x true, {label}: {wall:.3f} s, CPU {cpu:.3f} s", file=sys.stderr)
    make_s, make_cpu = median(next(iter(times.values()))), median(next(iter(cpus.values())))
    rows = [[label, fmt(median(ts), 3), fmt(min(ts), 3), fmt(median(ts) * 1e6 / n, 0), fmt(median(ts) / make_s, 2),
             fmt(median(cpus[label]) * 1e6 / n, 0), fmt(median(cpus[label]) / make_cpu, 2)]
            for label, ts in times.items()]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags", type=int, default=2)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply all durations (1.0: 20-200 ms)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trivial", type=int, default=2000, help="independent `true` commands (0: skip that table)")
    parser.add_argument("--trivial-workers", type=int, default=2)
    parser.add_argument("--also", metavar="DIR", help="also time the CLI of the checkout at DIR on the 2,000 commands")
    args = parser.parse_args(argv)
    if shutil.which("make") is None:
        raise SystemExit("make is not installed")

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    for k in range(args.dags):
        dag = random_dag(args.seed + k, scale=args.scale)
        with scratch_dir("bench-make-") as folder:
            (folder / "Makefile").write_text(makefile(dag))
            (folder / "tasks.json").write_bytes(orjson.dumps({"tasks": command_tasks(dag)}))
            startup = median([run_cli_startup(folder) for _ in range(args.repeats)])
            for workers in args.workers:
                times: dict[str, list[float]] = {"make": [], "cli": [], "api": []}
                for _ in range(args.repeats):
                    times["make"].append(run_make(folder, workers))
                    times["cli"].append(run_cli(folder, workers))
                    times["api"].append(run_in_process(folder, dag, workers))
                bound = lower_bound(dag.deps, dag.durations, workers)
                make_s, cli_s, api_s = (median(times[key]) for key in ("make", "cli", "api"))
                print(f"  seed {dag.seed} workers {workers}: make {make_s:.3f} s, cli {cli_s:.3f} s, "
                      f"in-process {api_s:.3f} s, bound {bound:.3f} s", file=sys.stderr)
                rows.append([
                    f"{dag.seed} ({dag.size} tasks, {dag.edges} edges)", workers, fmt(bound, 3),
                    fmt(make_s, 3), fmt(cli_s, 3), fmt(startup, 3), fmt(api_s, 3),
                    fmt(cli_s / make_s, 3), fmt(api_s / make_s, 3),
                    fmt(make_s / bound, 3), fmt(api_s / bound, 3),
                ])
    print(f"## `make -j N` vs dispatch-runner: the same DAG of `sleep` commands, median of {args.repeats}\n")
    print(markdown_table(
        ["DAG seed", "workers", "bound s", "make s", "runner CLI s", "CLI start-up s", "dispatch() s", "CLI ÷ make",
         "dispatch() ÷ make", "make ÷ bound", "dispatch() ÷ bound"], rows))
    if args.trivial:
        trivial_rows, notes = trivial_commands(args.trivial, args.trivial_workers, args.repeats, args.also)
        print(f"\n## Spawn cost: {args.trivial:,} independent `true` commands on {args.trivial_workers} workers, "
              f"median of {args.repeats} (round robin)\n")
        print(markdown_table(["run", "median s", "best s", "µs/command", "÷ make", "CPU µs/command", "CPU ÷ make"],
                             trivial_rows))
        for note in notes:
            print(f"\n{note}")
    print(f"\nRun took {time.perf_counter() - started:.0f} s; load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
