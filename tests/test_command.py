"""The command agent: argv without a shell, captured output, process groups killed on timeout."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import config
from helpers import alive

from parallel_execution import dispatch


def command(task_id, argv, **extra):
    task_fields = {k: extra.pop(k) for k in ("timeout_seconds", "dependencies") if k in extra}
    return {"task_id": task_id, "agent": "command", "input_data": {"argv": argv, **extra}, **task_fields}


def test_runs_argv_and_captures_output(trace_dir, workspace):
    (workspace / "sub").mkdir()
    task = command("hello", [sys.executable, "-c", "import os,sys; print(os.getcwd()); print('oops', file=sys.stderr); "
                                                   "print(os.environ['GREETING'])"],
                   cwd="sub", env={"GREETING": "hi"})
    result = dispatch([task], config(trace_dir, workspace), allow_commands=True)
    (r,) = result.results
    assert r.status == "success", r.error
    assert r.output["exit_code"] == 0
    assert r.output["stdout_tail"].splitlines() == [str(workspace / "sub"), "hi"]
    assert r.output["stderr_tail"] == "oops"
    assert Path(r.output["stdout_file"]).read_text().endswith("hi\n")
    assert Path(r.output["stdout_file"]).parent == Path(r.trace_file).parent


def test_no_shell_is_involved(trace_dir, workspace):
    task = command("literal", ["echo", "$HOME;", "&&", "rm", "-rf", "x"])
    (r,) = dispatch([task], config(trace_dir, workspace), allow_commands=True).results
    assert r.output["stdout_tail"] == "$HOME; && rm -rf x"


def test_nonzero_exit_is_an_error_with_the_output_kept(trace_dir, workspace):
    task = command("fails", [sys.executable, "-c", "import sys; print('partial'); sys.exit(3)"])
    (r,) = dispatch([task], config(trace_dir, workspace), allow_commands=True).results
    assert r.status == "error" and r.error == f"{Path(sys.executable).name} exited with code 3"
    assert r.output["exit_code"] == 3 and r.output["stdout_tail"] == "partial"


def test_ok_exit_codes_and_stdin(trace_dir, workspace):
    task = command("grep", ["grep", "needle"], stdin="hay\nneedle\n", ok_exit_codes=[0, 1])
    (r,) = dispatch([task], config(trace_dir, workspace), allow_commands=True).results
    assert r.status == "success" and r.output["stdout_tail"] == "needle"


def test_missing_program_is_a_clear_error(trace_dir, workspace):
    (r,) = dispatch([command("nope", ["no-such-program-xyz"])], config(trace_dir, workspace), allow_commands=True).results
    assert r.status == "error" and r.error.startswith("cannot start 'no-such-program-xyz'")


def test_timeout_kills_the_whole_process_group(trace_dir, workspace):
    # The command starts a grandchild that would outlive a plain kill of the parent.
    script = ("import subprocess, sys, time\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "print(child.pid, flush=True)\n"
              "time.sleep(60)\n")
    task = command("hang", [sys.executable, "-c", script], timeout_seconds=1.0, kill_grace_seconds=0.5)
    started = time.monotonic()
    (r,) = dispatch([task], config(trace_dir, workspace), allow_commands=True).results
    assert time.monotonic() - started < 10
    assert r.status == "timeout"
    trace_folder = Path(r.trace_file).parent
    grandchild = int((trace_folder / "hang.stdout.log").read_text().split()[0])
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_leftover_background_processes_are_killed_when_the_command_exits(trace_dir, workspace):
    script = ("import subprocess, sys\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "print(child.pid)\n")
    (r,) = dispatch([command("bg", [sys.executable, "-c", script])], config(trace_dir, workspace),
                    allow_commands=True).results
    grandchild = int(r.output["stdout_tail"])
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_retried_attempts_keep_separate_logs(trace_dir, workspace):
    task = {**command("flaky", [sys.executable, "-c", "import sys; print('out'); sys.exit(1)"]), "retries": 1}
    (r,) = dispatch([task], config(trace_dir, workspace, retry_backoff_seconds=0), allow_commands=True).results
    folder = Path(r.trace_file).parent
    assert r.attempts == 2
    assert (folder / "flaky.stdout.log").exists() and (folder / "flaky.attempt2.stdout.log").exists()
    assert not (folder / "flaky.stderr.log").exists()  # it printed nothing there: no file


def test_a_silent_command_leaves_no_log_files(trace_dir, workspace):
    (r,) = dispatch([command("quiet", ["true"])], config(trace_dir, workspace), allow_commands=True).results
    assert r.status == "success" and r.output["exit_code"] == 0
    assert r.output["stdout_file"] is None and r.output["stderr_file"] is None
    assert not list(Path(r.trace_file).parent.glob("*.log"))


def test_a_program_on_path_is_found_once_and_a_changed_path_is_honoured(trace_dir, workspace, tmp_path):
    from parallel_execution.agents.command_spawn import _which

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "my-tool-xyz"
    tool.write_text("#!/bin/sh\necho from-tool\n")
    tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    tasks = [command(f"t{i}", ["my-tool-xyz"], env=env) for i in range(3)]
    _which.cache_clear()
    results = dispatch(tasks, config(trace_dir, workspace), allow_commands=True).results
    assert [r.output["stdout_tail"] for r in results] == ["from-tool"] * 3
    assert _which.cache_info().misses == 1 and _which.cache_info().hits == 2
    (r,) = dispatch([command("bare", ["my-tool-xyz"])], config(trace_dir, workspace), allow_commands=True).results
    assert r.status == "error" and "not found on PATH" in r.error  # the runner's own PATH lacks it


def test_a_failure_message_carries_the_last_stderr_line(trace_dir, workspace):
    task = command("fails", [sys.executable, "-c", "import sys; print('noise', file=sys.stderr); sys.exit('No module named pytest')"])
    (r,) = dispatch([task], config(trace_dir, workspace), allow_commands=True).results
    assert r.error == f"{Path(sys.executable).name} exited with code 1: No module named pytest"


def test_a_symlink_planted_by_an_earlier_task_cannot_lead_a_later_one_out(trace_dir, workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    plant = command("plant", ["ln", "-s", str(outside), "link"])
    write = {"task_id": "write", "agent": "coder", "dependencies": ["plant"], "input_data": {
        "contract_description": "Compute node that adds numbers", "node_type": "Compute",
        "output_path": "link/node_add_compute.py"}}
    r = {x.task_id: x for x in dispatch([plant, write], config(trace_dir, workspace), allow_commands=True).results}
    assert r["plant"].status == "success"  # validation passed: "link" did not exist yet
    assert r["write"].status == "error" and "outside the workspace" in r["write"].error
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("log", ["stdout", "stderr"])
def test_a_symlink_planted_in_the_trace_folder_is_not_followed_by_a_log(trace_dir, workspace, tmp_path, log):
    victim = tmp_path / "precious.txt"
    victim.write_text("precious")
    plant = command("plant", [sys.executable, "-c",
                              "import glob, os, sys; folder, = glob.glob(sys.argv[1] + '/*/');"
                              f"os.symlink(sys.argv[2], folder + 'victim.{log}.log')", str(trace_dir), str(victim)])
    speak = command("victim", [sys.executable, "-c", f"import sys; sys.{log}.write('hello')"])
    speak["dependencies"] = ["plant"]
    r = {x.task_id: x for x in dispatch([plant, speak], config(trace_dir, workspace), allow_commands=True).results}
    assert r["plant"].status == "success" and r["victim"].status == "success", r["victim"].error
    assert victim.read_text() == "precious"
    logfile = Path(r["victim"].output[f"{log}_file"])
    assert not logfile.is_symlink() and logfile.read_text() == "hello"
    assert r["victim"].output[f"{log}_tail"] == "hello"


def test_a_path_given_in_env_is_where_the_program_is_found(trace_dir, workspace):
    bin_dir = workspace / "bin"
    bin_dir.mkdir()
    (bin_dir / "only-here").write_text(f"#!{sys.executable}\nimport os\nprint(os.environ['PATH'], os.environ['X'])\n")
    (bin_dir / "only-here").chmod(0o755)
    task = command("lookup", ["only-here"], env={"PATH": str(bin_dir), "X": "é"})
    (r,) = dispatch([task], config(trace_dir, workspace), allow_commands=True).results
    assert r.status == "success", r.error
    assert r.output["stdout_tail"] == f"{bin_dir} é"



PROBE = ("import os, sys; print(os.getsid(0) == os.getpid(), repr(sys.stdin.read()), os.getcwd(), os.environ['X'], "
         "sorted(int(fd) for fd in os.listdir('/proc/self/fd')))")


@pytest.mark.parametrize("cwd", [None, "sub"])  # the runner's own directory (posix_spawn) or another (Popen)
def test_the_cli_starts_programs_alike_in_its_own_directory_and_elsewhere(tmp_path, cwd):
    import json
    import subprocess

    from helpers import RUNNER, runner_env

    (tmp_path / "sub").mkdir()
    at = {"cwd": cwd} if cwd else {}
    tasks = [command("probe", [sys.executable, "-c", PROBE], env={"X": "é"}, **at),
             command("signals", ["grep", "SigIgn", "/proc/self/status"], **at)]  # grep: Python would ignore SIGPIPE
    doc = {"tasks": tasks, "config": {"workspace": str(tmp_path), "trace_dir": str(tmp_path / "traces")}}
    proc = subprocess.run([*RUNNER, "--allow-commands", "--quiet"], input=json.dumps(doc).encode(), cwd=tmp_path,
                          capture_output=True, env=runner_env(), timeout=60)
    probe, signals = json.loads(proc.stdout)["results"]
    assert probe["status"] == signals["status"] == "success", (probe["error"], signals["error"])
    # Its own session, stdin empty, the right directory, no descriptor of ours (3: listdir's own).
    assert probe["output"]["stdout_tail"] == f"True '' {tmp_path / cwd if cwd else tmp_path} é [0, 1, 2, 3]"
    ignored = int(signals["output"]["stdout_tail"].split()[1], 16)
    assert not ignored & (1 << (13 - 1))  # SIGPIPE back at its default, as the runner (Python) ignores it
