"""Start-up cost of the CLI, against the floor of any program built on pydantic and asyncio.

::

    python bench/startup.py                 # 15 rounds
    python bench/startup.py --rounds 30

Each row is the wall time of one whole process (``subprocess.run``), median of ``--rounds``, the
rows run round-robin so drifting load hits all alike:

* ``python -c pass``: the interpreter alone;
* **the floor**: ``import asyncio, pydantic``, define one ``BaseModel`` with two fields and
  validate one value - what any program that validates with pydantic and runs asyncio pays;
* ``dispatch-runner --help``;
* ``dispatch-runner validate`` of a 3-task file;
* ``dispatch-runner run --quiet`` of a 1-task ``echo`` file (traces written, the JSON result printed).

Every row is divided by the floor; the goal (issue 17) is <= 1.2 for the last three.
``--also DIR`` adds the three CLI rows for the checkout at ``DIR`` (run with ``PYTHONPATH=DIR``), in the
same rounds: before and after in one call.

Bytecode is compiled first (``compileall`` on the measured packages): with ``PYTHONDONTWRITEBYTECODE``
set, as on this machine, a module changed since its ``.pyc`` was written is compiled from source in
every process (~15 ms for a 400-line module), which an installed package never pays.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import time

import orjson
from benchlib import fmt, markdown_table, median, scratch_dir

__all__ = ["FLOOR", "main"]

FLOOR = ("import asyncio\nfrom pydantic import BaseModel\n"
         "class M(BaseModel):\n    a: int\n    b: str = ''\nM.model_validate({'a': 1})\n")


def _run(argv: list[str], cwd: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU user + system) of one child process, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--also", metavar="DIR", help="also measure the CLI of the checkout at DIR (PYTHONPATH=DIR)")
    args = parser.parse_args(argv)
    py = sys.executable
    runner = [py, "-m", "parallel_execution"]
    spec = importlib.util.find_spec("parallel_execution")
    packages = [os.path.dirname(spec.origin)] if spec and spec.origin else []
    if args.also:
        packages.append(os.path.join(args.also, "parallel_execution"))
    for package in packages:  # what an install does; see the module docstring
        subprocess.run([py, "-m", "compileall", "-q", package], capture_output=True, check=False)
    load_before = os.getloadavg()[0]
    with scratch_dir("bench-startup-") as folder:
        small = {"tasks": [{"task_id": t, "agent": "echo", "dependencies": d}
                           for t, d in (("a", []), ("b", ["a"]), ("c", ["a", "b"]))]}
        (folder / "small.json").write_bytes(orjson.dumps(small))
        (folder / "one.json").write_bytes(orjson.dumps({"tasks": [{"task_id": "a", "agent": "echo"}]}))
        cwd = str(folder)
        rows = {
            "`python -c pass`": [py, "-c", "pass"],
            "floor: asyncio + pydantic + one model": [py, "-c", FLOOR],
            "`dispatch-runner --help`": [*runner, "--help"],
            "`dispatch-runner validate` (3 tasks)": [*runner, "validate", "small.json"],
            "`dispatch-runner run --quiet` (1 echo task)": [*runner, "run", "--quiet", "--trace-dir", "traces",
                                                             "one.json"],
        }
        envs: dict[str, dict[str, str] | None] = {label: None for label in rows}
        if args.also:
            for label, command in list(rows.items())[2:]:
                rows[f"{label}, {args.also}"] = command
                envs[f"{label}, {args.also}"] = {**os.environ, "PYTHONPATH": args.also}
        times: dict[str, list[float]] = {label: [] for label in rows}
        cpus: dict[str, list[float]] = {label: [] for label in rows}
        for _ in range(args.rounds):
            for label, command in rows.items():
                wall, cpu = _run(command, cwd, envs[label])
                times[label].append(wall)
                cpus[label].append(cpu)
    key = "floor: asyncio + pydantic + one model"
    floor, floor_cpu = median(times[key]), median(cpus[key])
    table = [[label, fmt(median(ts) * 1000, 1), fmt(min(ts) * 1000, 1), fmt(median(ts) / floor, 2),
              fmt(median(cpus[label]) * 1000, 1), fmt(median(cpus[label]) / floor_cpu, 2)]
             for label, ts in times.items()]
    print(f"## Start-up: whole processes, median of {args.rounds} round-robin rounds\n")
    print(markdown_table(["process", "median wall ms", "best wall ms", "wall ÷ floor", "CPU ms", "CPU ÷ floor"],
                         table))
    ours = list(rows)[2:5]  # the checkout on this PYTHONPATH, not --also
    worst = max(median(times[label]) for label in ours) / floor
    worst_cpu = max(median(cpus[label]) for label in ours) / floor_cpu
    print(f"\nGoal (CLI rows <= 1.2x the floor): {'met' if worst <= 1.2 else 'NOT met'} (worst {worst:.2f}x wall, "
          f"{worst_cpu:.2f}x CPU; CPU time is the steadier measure on a loaded machine). "
          f"Load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (on {os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
