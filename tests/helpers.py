"""Helpers every test module may import (``from helpers import ...``); fixtures live in conftest.

* ``REPO``, ``RUNNER``, ``runner_env()``: the checkout, the CLI as a subprocess, its environment;
* ``config(trace_dir, workspace, **extra)``: a config dict;
* ``run_runner(argv, stdin=..., cwd=..., timeout=...)``: the CLI in a subprocess (``RUNNER + argv``);
* ``cli_run(capsys, *argv)`` / ``cli_json(capsys, *argv)``: the CLI in-process, returning
  ``(exit code, stdout, stderr)`` - ``cli_json`` parses stdout as exactly one JSON document;
* ``alive(pid)``: whether a process still runs (a zombie counts as dead);
* ``normalise(document)``: a result document with ids, times, paths and pids replaced by
  placeholders, for golden comparisons;
* ``real_claude_cli()``: the real Claude Code program, or None.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

__all__ = ["REPO", "RUNNER", "alive", "cli_json", "cli_run", "config", "normalise", "real_claude_cli",
           "run_runner", "runner_env"]

REPO = Path(__file__).resolve().parent.parent
RUNNER = [sys.executable, "-m", "parallel_execution"]


def config(trace_dir: Path, workspace: Path | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"trace_dir": str(trace_dir), **extra}
    if workspace is not None:
        out["workspace"] = str(workspace)
    return out


def runner_env() -> dict[str, str]:
    """Environment for running the CLI in a subprocess from the repo checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # As in an activated virtual environment: a task's bare ``python3`` is the interpreter running the tests.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run_runner(argv: list[str], stdin: bytes | None = None, cwd: Path | str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """``dispatch-runner *argv`` in a subprocess (``argv`` may already start with ``RUNNER``)."""
    full = argv if argv[: len(RUNNER)] == RUNNER else [*RUNNER, *argv]
    return subprocess.run(full, input=stdin, capture_output=True, cwd=cwd, env=runner_env(), timeout=timeout)


def cli_run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """The CLI in this process: (exit code, stdout, stderr)."""
    from parallel_execution.commands.cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    """As ``cli_run``, with stdout parsed: it must be exactly one JSON document."""
    code, out, err = cli_run(capsys, *argv)
    return code, orjson.loads(out), err


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


_DISPATCH_ID = re.compile(r"\d{8}_\d{6}-[0-9a-f]{8}")
_TIMES = ("execution_time_ms", "started_ms", "finished_ms", "total_time_ms", "task_time_ms", "critical_path_ms",
          "speedup", "duration_ms", "t_ms")


def normalise(document: Any, root: Path | None = None) -> Any:
    """``document`` with dispatch ids, timings and ``root`` (a tmp folder) made stable."""
    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if key in _TIMES and isinstance(value, (int, float)):
            return "<time>"
        if isinstance(value, str):
            value = _DISPATCH_ID.sub("<dispatch_id>", value)
            if root is not None:
                value = value.replace(str(root), "<tmp>")
        return value

    return walk(document)


def real_claude_cli() -> str | None:
    """The real Claude Code program (on PATH or bundled in claude-agent-sdk), never a stand-in."""
    import shutil

    from parallel_execution.claude_code.binary import bundled_binary

    bundled = bundled_binary()
    return shutil.which("claude") or (str(bundled) if bundled else None)
