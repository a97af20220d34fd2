"""Real SIGINT / SIGTERM against a running dispatch: clean cancel, results written, nothing left alive."""

from __future__ import annotations

import contextlib
import json
import os
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


def start_dispatch(ws: Path, *, ignore_sigterm: bool = False) -> subprocess.Popen:
    # Ignoring SIGTERM (inherited by the child): only the SIGKILL after the grace period ends them.
    prefix = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_sigterm else ""
    (ws / "spawner.py").write_text(prefix + SPAWNER)
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


def test_second_sigint_exits_at_once_with_a_consistent_journal_and_kills_every_process(tmp_path):
    proc = start_dispatch(tmp_path, ignore_sigterm=True)
    started = pids(tmp_path)
    assert len(started) == 4
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 130
    for journal in tmp_path.glob("traces/*/journal.jsonl"):
        for line in journal.read_text().splitlines():
            json.loads(line)  # every line whole
    # Leaving at once still SIGKILLs every process group the run started (the first signal's
    # SIGTERM was ignored and its grace period had not run out).
    try:
        assert wait_dead(started) == []
    finally:
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_signal_while_the_result_is_printed_does_not_cut_it(tmp_path):
    # A large result (about 4 MB) into a pipe we read slowly: SIGTERM arrives mid-print.
    tasks = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": "x" * 40_000}} for i in range(100)]
    doc = {"tasks": tasks, "config": {"trace_dir": str(tmp_path / "traces")}}
    proc = subprocess.Popen([*RUNNER, "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=runner_env())
    proc.stdin.write(json.dumps(doc).encode())
    proc.stdin.close()
    first = proc.stdout.read(1)  # printing has started (the pipe holds at most 64 KiB more)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    proc.wait(timeout=30)
    result = json.loads(first + rest)  # one complete document
    assert result["status"] == "success" and len(result["results"]) == 100
    assert proc.returncode == 0, proc.stderr.read().decode()


def test_ctrl_c_while_the_runner_starts_exits_130_without_a_traceback(tmp_path):
    # SIGINT once the interpreter is inside our imports (pydantic_core loaded), before any run.
    for _ in range(3):
        proc = subprocess.Popen([*RUNNER, "validate", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=runner_env())
        maps = Path(f"/proc/{proc.pid}/maps")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                if "_pydantic_core" in maps.read_text():
                    break
            time.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err.decode()
        assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
        assert err.strip().endswith(b"interrupted")
