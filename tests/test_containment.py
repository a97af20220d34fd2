"""Processes that leave the task's process group (setsid, setpgid, double fork, a daemon with a
cleared environment) die with the task: when it exits, when it times out, from the CLI and from the
Python API; and the containment helpers themselves."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RUNNER, runner_env
from test_command import alive

from parallel_execution import dispatch
from parallel_execution.run import containment

# ESCAPE <how> <pidfile> <then>: start a child that leaves our process group, write its pid, then
# exit ("exit") or hang until the task's timeout ("hang").
ESCAPE = r"""
import os, sys, time
how, pidfile, then = sys.argv[1:4]

def escaped(cleared_env=False):
    with open(pidfile, "a") as f:
        f.write(f"{os.getpid()}\n")
    if cleared_env:  # a daemon that scrubs its environment: no tag to find it by
        os.execve("/bin/sleep", ["sleep", "120"], {})
    time.sleep(120)
    os._exit(0)

if how == "setsid":
    if os.fork() == 0:
        os.setsid(); escaped()
elif how == "setpgid":
    if os.fork() == 0:
        os.setpgid(0, 0); escaped()
elif how in ("double_fork", "cleared_env"):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            escaped(cleared_env=how == "cleared_env")
        os._exit(0)
deadline = time.monotonic() + 20
while time.monotonic() < deadline and not (os.path.exists(pidfile) and open(pidfile).read().endswith("\n")):
    time.sleep(0.01)
if then == "hang":
    time.sleep(120)
"""

VARIANTS = ["setsid", "setpgid", "double_fork", "cleared_env"]


def escape_task(ws: Path, how: str, then: str, task_id: str = "escape") -> dict:
    (ws / "escape.py").write_text(ESCAPE)
    task = {"task_id": task_id, "agent": "command", "input_data": {
        "argv": [sys.executable, "escape.py", how, f"{task_id}.pid", then], "kill_grace_seconds": 0.5}}
    if then == "hang":
        task["timeout_seconds"] = 3
    return task


def escaped_pids(ws: Path) -> list[int]:
    return [int(p) for f in ws.glob("*.pid") for p in f.read_text().split()]


def wait_dead(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


@pytest.mark.parametrize("then", ["exit", "hang"])
@pytest.mark.parametrize("how", VARIANTS)
def test_the_cli_kills_processes_that_left_the_group(tmp_path, how, then):
    doc = {"tasks": [escape_task(tmp_path, how, then)], "config": {"workspace": str(tmp_path),
                                                                   "trace_dir": str(tmp_path / "traces")}}
    proc = subprocess.run([*RUNNER, "--allow-commands", "--quiet"], input=json.dumps(doc).encode(), cwd=tmp_path,
                          capture_output=True, env=runner_env(), timeout=90)
    pids = escaped_pids(tmp_path)
    try:
        assert len(pids) == 1, proc.stderr.decode()
        result = json.loads(proc.stdout)
        assert result["results"][0]["status"] == ("success" if then == "exit" else "timeout")
        assert wait_dead(pids) == []
    finally:
        kill_all(pids)


CHECK_DEAD = ("import os, sys, time\n"
             "pid = int(open('escape.pid').read())\n"
             "deadline = time.monotonic() + 10\n"
             "while time.monotonic() < deadline:\n"
             "    try:\n"
             "        state = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0]\n"
             "    except FileNotFoundError:\n"
             "        sys.exit(0)\n"
             "    if state == 'Z':\n"
             "        sys.exit(0)\n"
             "    time.sleep(0.05)\n"
             "sys.exit(f'{pid} still alive')\n")


@pytest.mark.parametrize("how", ["setsid", "double_fork"])
def test_escaped_processes_die_when_their_task_ends_not_only_at_exit(tmp_path, how):
    # The escaping task ends first; a later task (after it) checks its escapee is already gone.
    (tmp_path / "check.py").write_text(CHECK_DEAD)
    tasks = [escape_task(tmp_path, how, "exit"),
             {"task_id": "check", "agent": "command", "dependencies": ["escape"],
              "input_data": {"argv": [sys.executable, "check.py"]}}]
    doc = {"tasks": tasks, "config": {"workspace": str(tmp_path), "trace_dir": str(tmp_path / "traces")}}
    proc = subprocess.run([*RUNNER, "--allow-commands", "--quiet"], input=json.dumps(doc).encode(), cwd=tmp_path,
                          capture_output=True, env=runner_env(), timeout=90)
    try:
        result = json.loads(proc.stdout)
        assert [r["status"] for r in result["results"]] == ["success", "success"], result["results"][1]["error"]
        events = [e["event"] for a in json.loads(Path(result["results"][0]["trace_file"]).read_text())["attempts"]
                  for e in a["events"]]
        assert "killed_leftover_processes" in events
    finally:
        kill_all(escaped_pids(tmp_path))


@pytest.mark.skipif(containment.cgroup_root() is None, reason="needs a writable cgroup v2")
def test_a_reused_cgroup_still_catches_a_daemon_without_the_tag(tmp_path):
    # Silent tasks leave their empty cgroups for reuse; the daemon (setsid, cleared environment: only
    # the cgroup knows it) of the task after them must still die when that task ends.
    (tmp_path / "check.py").write_text(CHECK_DEAD)
    # It forks only once it is in its task's cgroup (the move runs beside it: on a loaded machine a
    # daemon forked before it is found only at exit, which is not what this test is about).
    (tmp_path / "in_cgroup.py").write_text(
        "import os, runpy, sys, time\n"
        "deadline = time.monotonic() + 20\n"
        "while 'parallel-dispatch-' not in open('/proc/self/cgroup').read() and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    quiet = [{"task_id": f"quiet{i}", "agent": "command",
              "input_data": {"argv": [sys.executable, "-c", "import time; time.sleep(0.2)"]}} for i in range(4)]
    escape = {**escape_task(tmp_path, "cleared_env", "exit"), "dependencies": [t["task_id"] for t in quiet]}
    escape["input_data"]["argv"][1:1] = ["in_cgroup.py"]
    check = {"task_id": "check", "agent": "command", "dependencies": ["escape"],
             "input_data": {"argv": [sys.executable, "check.py"]}}
    doc = {"tasks": [*quiet, escape, check],
           "config": {"workspace": str(tmp_path), "trace_dir": str(tmp_path / "traces"), "max_workers": 4}}
    proc = subprocess.run([*RUNNER, "--allow-commands", "--quiet"], input=json.dumps(doc).encode(), cwd=tmp_path,
                          capture_output=True, env=runner_env(), timeout=90)
    try:
        result = {r["task_id"]: r for r in json.loads(proc.stdout)["results"]}
        assert result["check"]["status"] == "success", result["check"]["error"]
    finally:
        kill_all(escaped_pids(tmp_path))


@pytest.mark.parametrize("how", ["setsid", "double_fork"])
def test_the_python_api_contains_them_too(tmp_path, how):
    # No subreaper in someone else's process: the scope's tag (and cgroup, where there is one) does it.
    assert not containment.is_subreaper()
    result = dispatch([escape_task(tmp_path, how, "exit")],
                      {"workspace": str(tmp_path), "trace_dir": str(tmp_path / "traces")}, allow_commands=True)
    pids = escaped_pids(tmp_path)
    try:
        assert result.status == "success" and len(pids) == 1
        assert wait_dead(pids) == []
    finally:
        kill_all(pids)


def test_descendants_lists_children_and_grandchildren():
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while len(containment.descendants(child.pid)) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.pid in containment.descendants()
        assert len(containment.descendants(child.pid)) == 1
    finally:
        for pid in containment.descendants(child.pid):
            os.kill(pid, 9)
        child.kill()
        child.wait()


def test_a_closed_scope_leaves_no_cgroup_behind():
    scope = containment.open_scope("t")
    child = subprocess.Popen(["sleep", "30"], env={**os.environ, **scope.env()}, start_new_session=True)
    scope.adopt(child.pid)
    if containment.cgroup_root() is not None:
        assert scope.cgroup is not None and str(child.pid) in (scope.cgroup / "cgroup.procs").read_text()
    folder = scope.cgroup
    scope.close(spawned=child.pid)
    assert child.wait(timeout=10) == -9
    if folder is not None:  # it held a process: not kept for reuse
        assert not folder.exists()


DAEMON = r"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(sys.argv[1], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    os._exit(0)
"""


@pytest.mark.parametrize("scan", ["new pids only", "every process"])
def test_a_scope_kills_a_tagged_daemon_that_is_no_child_of_ours(tmp_path, monkeypatch, scan):
    # Without the subreaper the daemon is re-parented outside our tree: only the tag finds it, by
    # a scan of the pids handed out since the scope opened, or of every process where that is unknown.
    assert not containment.is_subreaper()
    if scan == "every process":
        monkeypatch.setattr(containment, "_allocator", lambda: None)
    scope = containment.open_scope("daemon")
    pidfile = tmp_path / "daemon.pid"
    subprocess.run([sys.executable, "-c", DAEMON, str(pidfile)], env={**os.environ, **scope.env()}, check=True)
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    daemon = int(pidfile.read_text())
    try:
        assert containment.proc_stat(daemon)[1] != str(os.getpid()).encode()  # not ours to reap
        assert scope.close() == 1
        assert wait_dead([daemon]) == []
    finally:
        kill_all([daemon])


@pytest.mark.parametrize(("last", "now", "forks", "expected"), [
    (1000, 1200, 250, (1000, 1200)),  # new pids are 1001..1200
    (32000, 500, 1300, (32000, 500)),  # the allocator went past pid_max and started again at 300
    (1000, 1000, 0, (1000, 1000)),  # nothing new: an empty range
    (1000, 1200, 32000, None),  # so many tasks created that it may have come round: scan everything
])
def test_a_scope_knows_which_pids_are_new(monkeypatch, last, now, forks, expected):
    monkeypatch.setattr(containment, "_allocator", lambda: (now, 5000 + forks, 120))
    monkeypatch.setitem(containment._state, "pid_max", 32768)
    assert containment._Mark(ticks=0, last_pid=last, forks=5000).new_pids() == expected


def test_processes_started_before_a_scope_are_older_than_its_mark():
    mark = containment._mark(allocator=False)
    assert mark.older(containment.proc_stat(1)) and mark.older(containment.proc_stat(os.getpid()))
    time.sleep(0.03)  # a few clock ticks later
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not mark.older(containment.proc_stat(child.pid))
    finally:
        child.kill()
        child.wait()
