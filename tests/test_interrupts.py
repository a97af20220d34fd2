"""Real SIGINT / SIGTERM against a running dispatch: clean cancel, results written, nothing left alive."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RUNNER, runner_env
from helpers import alive

# Starts a child of its own, records both pids, then waits forever.
SPAWNER = ("import os, subprocess, sys, time\n"
           "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
           "open(f'pids-{sys.argv[1]}.txt', 'w').write(f'{os.getpid()} {child.pid}')\n"
           "time.sleep(120)\n")


def start_dispatch(ws: Path) -> subprocess.Popen:
    (ws / "spawner.py").write_text(SPAWNER)
    tasks = [{"task_id": f"hang{i}", "agent": "command",
              "input_data": {"argv": [sys.executable, "spawner.py", str(i)], "kill_grace_seconds": 1}}
             for i in range(3)]
    tasks.append({"task_id": "after", "agent": "echo", "dependencies": ["hang0"]})
    (ws / "tasks.json").write_text(json.dumps({"tasks": tasks, "config": {"max_workers": 2}}))
    proc = subprocess.Popen([*RUNNER, "tasks.json", "--allow-commands"], cwd=ws, env=runner_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while len(list(ws.glob("pids-*.txt"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    return proc


def pids(ws: Path) -> list[int]:
    return [int(p) for f in ws.glob("pids-*.txt") for p in f.read_text().split()]


def wait_dead(all_pids: list[int], seconds: float = 5) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in all_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in all_pids if alive(p)]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_cancels_cleanly_and_kills_every_process(tmp_path, signum, code):
    proc = start_dispatch(tmp_path)
    started = pids(tmp_path)
    assert len(started) == 4  # two running tasks, each with a child
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err.decode()
    result = json.loads(out)
    statuses = {r["task_id"]: r["status"] for r in result["results"]}
    assert result["status"] == "cancelled"
    assert statuses == {"hang0": "cancelled", "hang1": "cancelled", "hang2": "skipped", "after": "skipped"}
    assert wait_dead(started) == []
    index = json.loads(Path(tmp_path / result["trace_index"]).read_text())
    assert index["status"] == "cancelled"
    assert all(Path(tmp_path / r["trace_file"]).exists() for r in result["results"])


def test_second_sigint_exits_at_once_with_a_consistent_journal(tmp_path):
    proc = start_dispatch(tmp_path)
    started = pids(tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 130
    for journal in tmp_path.glob("traces/*/journal.jsonl"):
        for line in journal.read_text().splitlines():
            json.loads(line)  # every line whole
    # The first signal's cancellation may not have reached the process groups; clean up ourselves.
    for pid in started:
        try:
            import os

            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
