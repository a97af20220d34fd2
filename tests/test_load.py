"""Load: big inputs stay within time and memory, and memory grows linearly with the number of tasks.

Bounds are generous (CI machines are slow and shared); they catch a quadratic or leaking runner, not
a few percent. The measured numbers are in the README's performance section.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, runner_env

MEASURE = r"""
import resource, sys, time, orjson
from parallel_execution.inputs.validate import build_plan, parse_input
raw = open(sys.argv[1], "rb").read()
started = time.monotonic()
if sys.argv[2] == "validate":
    plan = build_plan(parse_input(raw))
else:
    from parallel_execution import dispatch
    result = dispatch(parse_input(raw))
    assert result.status == "success", result.summary
print(orjson.dumps({"seconds": time.monotonic() - started,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}).decode())
"""


def write_tasks(path: Path, n: int, trace_dir: Path) -> Path:
    rng = random.Random(n)
    tasks = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": i},
              "dependencies": [f"t{j}" for j in rng.sample(range(i), min(i, 2))]} for i in range(n)]
    path.write_text(json.dumps({"tasks": tasks, "config": {"max_workers": 8, "trace_dir": str(trace_dir)}}))
    return path


def measure(tmp_path: Path, n: int, mode: str) -> dict:
    tasks = write_tasks(tmp_path / f"tasks-{n}.json", n, tmp_path / "traces")
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(tasks), mode], capture_output=True, cwd=REPO,
                          env=runner_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_validating_100k_tasks_is_bounded_and_memory_grows_linearly(tmp_path):
    small = measure(tmp_path, 10_000, "validate")
    big = measure(tmp_path, 100_000, "validate")
    assert big["seconds"] < 120
    assert big["peak_rss_mb"] < 2048
    baseline = 60.0  # an interpreter with the package imported
    ratio = (big["peak_rss_mb"] - baseline) / max(small["peak_rss_mb"] - baseline, 1.0)
    assert ratio < 16, (small, big)  # 10x the tasks: ~10x the memory, nowhere near 100x


@pytest.mark.slow
def test_dispatching_10k_tasks_with_traces_is_bounded(tmp_path):
    started = time.monotonic()
    result = measure(tmp_path, 10_000, "dispatch")
    assert time.monotonic() - started < 180
    assert result["peak_rss_mb"] < 1024
    assert len(list((tmp_path / "traces").glob("*/*.json"))) == 10_000 + 1  # every task trace + input.json
