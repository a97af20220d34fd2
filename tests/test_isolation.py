"""Worktree isolation with real git: parallel tasks merge in DAG order behind a gate, nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import RUNNER, runner_env

from parallel_execution import dispatch
from parallel_execution.errors import InvalidInput
from parallel_execution.isolation.worktrees import branch_name

# The project's tests, as a gate would run them (a one-liner: pytest's start-up would dominate the suite).
GATE = {"argv": [sys.executable, "-c", "import calc; assert calc.add(1, 2) == 3, 'add is broken'"]}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "test_calc.py").write_text("import calc\n\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n")
    (root / ".gitignore").write_text("__pycache__/\n")
    git(root, "add", ".")
    git(root, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "init")
    return root


def shell(task_id: str, script: str, deps: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "agent": "command", "isolation": "worktree", "dependencies": deps or [],
            "input_data": {"argv": ["sh", "-c", script]}, **extra}


def run(repo: Path, tasks: list[dict[str, Any]], **isolation: Any) -> Any:
    config = {"workspace": str(repo), "trace_dir": str(repo.parent / "traces"), "max_workers": 8,
              "isolation": isolation}
    return dispatch({"tasks": tasks, "config": config}, allow_commands=True)


def our_worktrees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listing.splitlines()
            if line.startswith("worktree ") and "parallel-dispatch" in line]


def test_three_parallel_tasks_all_merge_and_the_gate_runs_after_each(repo: Path):
    result = run(repo, [shell(n, f"echo {n} > {n}.txt") for n in ("a", "b", "c")], merge_check=GATE)
    assert result.status == "success", [r.error for r in result.results]
    for r in result.results:
        assert r.isolation["merge"] == "merged" and r.isolation["gate"]["exit_code"] == 0
        assert r.isolation["worktree_removed"]
    tip = result.isolation["tip"]
    assert sorted(git(repo, "ls-tree", "--name-only", tip).split()) == [
        ".gitignore", "a.txt", "b.txt", "c.txt", "calc.py", "test_calc.py"]
    assert sorted(result.isolation["merged"]) == ["a", "b", "c"]
    # the user's branch and working tree are untouched; nothing is left behind
    assert git(repo, "rev-parse", "main") == result.isolation["base"]
    assert not (repo / "a.txt").exists() and git(repo, "status", "--porcelain") == ""
    assert our_worktrees(repo) == []


def test_two_tasks_editing_the_same_lines_give_one_merge_and_one_conflict(repo: Path):
    slow = "sleep 0.5; "  # the second finishes later, so it is the one that meets the conflict
    result = run(repo, [
        shell("first", "printf 'def add(a, b):\\n    return b + a\\n' > calc.py"),
        shell("second", slow + "printf 'def add(a, b):\\n    return sum((a, b))\\n' > calc.py"),
        shell("after", "true", ["second"]),
    ])
    by_id = {r.task_id: r for r in result.results}
    assert by_id["first"].status == "success" and by_id["first"].isolation["merge"] == "merged"
    second = by_id["second"]
    assert second.status == "error" and second.isolation["merge"] == "conflict"
    assert second.isolation["conflicts"] == ["calc.py"] and "calc.py" in second.error
    assert Path(second.isolation["worktree"]).is_dir()  # kept for inspection
    assert by_id["after"].status == "skipped"
    assert "return b + a" in git(repo, "show", f"{result.isolation['tip']}:calc.py")


def test_a_red_gate_resets_the_integration_branch(repo: Path):
    result = run(repo, [shell("breaks", "printf 'def add(a, b):\\n    return a - b\\n' > calc.py")],
                 merge_check=GATE)
    r = result.results[0]
    assert r.status == "error" and r.isolation["merge"] == "gate_failed"
    assert r.isolation["gate"]["exit_code"] != 0 and "merge check" in r.error
    assert any("add is broken" in line for line in r.isolation["gate"]["output_tail"])
    assert result.isolation["tip"] == result.isolation["base"]  # reset to its previous tip


def test_a_dependent_starts_from_the_tip_that_holds_its_dependencies(repo: Path):
    result = run(repo, [shell("a", "echo A > a.txt"), shell("b", "echo B > b.txt"),
                        shell("c", "cat a.txt b.txt > c.txt", ["a", "b"])])
    assert result.status == "success", [r.error for r in result.results]
    assert git(repo, "show", f"{result.isolation['tip']}:c.txt").split() == ["A", "B"]


def test_eight_concurrent_tasks_never_hit_a_git_lock(repo: Path):
    result = run(repo, [shell(f"t{i}", f"echo {i} > f{i}.txt") for i in range(8)])
    assert result.status == "success", [r.error for r in result.results]
    assert len(result.isolation["merged"]) == 8


def test_a_retry_starts_from_a_clean_worktree(repo: Path):
    script = "test -e leftover && exit 3; touch leftover; test -e ../../tried || { touch ../../tried; exit 1; }"
    result = run(repo, [shell("flaky", script, retries=1)])
    r = result.results[0]
    assert r.status == "success" and r.attempts == 2, r.error


def test_fast_forward_only_when_every_task_succeeded(repo: Path):
    result = run(repo, [shell("a", "echo A > a.txt")], fast_forward="main")
    assert result.isolation["fast_forward"]["done"]
    assert git(repo, "rev-parse", "main") == result.isolation["tip"] and (repo / "a.txt").exists()


def test_the_gate_needs_allow_commands(repo: Path):
    config = {"workspace": str(repo), "isolation": {"mode": "worktree", "merge_check": GATE}}
    with pytest.raises(InvalidInput, match=r"isolation\.merge_check runs"):
        dispatch({"tasks": [{"task_id": "e", "agent": "echo", "isolation": "worktree"}], "config": config})


def test_isolated_tasks_may_declare_the_same_write(repo: Path):
    tasks = [shell(n, f"echo {n} > out.txt", writes=["out.txt"]) for n in ("x", "y")]
    result = run(repo, tasks)  # no conflict error at validation: the merge decides
    assert sorted(r.isolation["merge"] for r in result.results) == ["conflict", "merged"]


def test_branch_names_are_valid_for_any_task_id():
    assert branch_name("d1", "fix auth/..lock") .startswith("pd/d1/t/fix-auth-..lock-")
    assert branch_name("d1", "plain_id") == "pd/d1/t/plain_id"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_killed_or_interrupted_runs_leave_no_stale_worktree_after_the_next_run(repo: Path, tmp_path: Path,
                                                                               signum: int):
    task_file = tmp_path / "tasks.json"
    task_file.write_bytes(orjson.dumps({"tasks": [shell("hang", "echo partial > work.txt; sleep 60")],
                                        "config": {"workspace": str(repo), "trace_dir": str(tmp_path / "t")}}))
    proc = subprocess.Popen([*RUNNER, "--allow-commands", "--quiet", str(task_file)], env=runner_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while not our_worktrees(repo) or not any(Path(p, "work.txt").exists() for p in our_worktrees(repo)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.1)
    os.kill(proc.pid, signum)
    proc.communicate(timeout=60)
    if signum == signal.SIGKILL:
        _kill_processes_in(repo)  # its orphaned command (its own process group), as a reaper would
        assert our_worktrees(repo)  # the killed run could not clean up
        result = run(repo, [shell("next", "true")])
        assert result.status == "success"
    assert our_worktrees(repo) == []
    # the interrupted task's partial work was committed on its branch, not thrown away
    wip = [b for b in git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/pd/").split()
           if b.endswith("/t/hang")]
    assert len(wip) == 1 and git(repo, "show", f"{wip[0]}:work.txt") == "partial"


def _kill_processes_in(folder: Path) -> None:
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc_dir / "cwd")).is_relative_to(folder):
                os.kill(int(proc_dir.name), signal.SIGKILL)
        except OSError:
            continue


def test_prune_removes_kept_worktrees(repo: Path):
    result = run(repo, [shell("bad", "echo x > x.txt; exit 1")])
    kept = result.results[0].isolation["worktree"]
    assert Path(kept).is_dir()
    listing = orjson.loads(subprocess.run([*RUNNER, "worktrees", "list", "--repo", str(repo)], env=runner_env(),
                                          capture_output=True, check=True).stdout)
    assert [t["worktree"] for t in listing["worktrees"]] == [kept] and listing["worktrees"][0]["kept"]
    pruned = orjson.loads(subprocess.run([*RUNNER, "worktrees", "prune", "--all", "--repo", str(repo)],
                                         env=runner_env(), capture_output=True, check=True).stdout)
    assert pruned["removed_worktrees"] == [kept] and our_worktrees(repo) == []


def test_not_a_git_repository_fails_the_isolated_tasks_clearly(tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    result = dispatch({"tasks": [shell("a", "true")], "config": {"workspace": str(plain),
                                                                 "trace_dir": str(tmp_path / "t")}},
                      allow_commands=True)
    assert result.results[0].status == "error"
    assert "needs a git repository" in result.results[0].error


def test_the_report_shows_branch_merge_and_gate(repo: Path):
    result = run(repo, [shell("ok", "echo A > a.txt"), shell("bad", "sleep 0.3; echo B > a.txt")],
                 merge_check=GATE)
    report = subprocess.run([*RUNNER, "report", result.trace_index], env=runner_env(), capture_output=True,
                            text=True, check=True).stdout
    section = report.split("## Worktrees", 1)[1]
    assert "| ok | `pd/" in section and "| merged | passed |" in section
    assert "conflict: a.txt" in section and "kept at `" in section


def test_resume_builds_on_the_work_already_merged(repo: Path, tmp_path: Path):
    gate_file = tmp_path / "b-may-run"
    task_file = tmp_path / "tasks.json"
    task_file.write_bytes(orjson.dumps({
        "tasks": [shell("a", "echo A > a.txt"), shell("b", f"test -e {gate_file} && echo B > b.txt")],
        "config": {"workspace": str(repo), "trace_dir": str(tmp_path / "traces")}}))
    first = orjson.loads(subprocess.run([*RUNNER, "--allow-commands", "--quiet", str(task_file)], env=runner_env(),
                                        capture_output=True).stdout)
    assert [r["status"] for r in first["results"]] == ["success", "error"]
    gate_file.touch()
    second = orjson.loads(subprocess.run([*RUNNER, "resume", "latest", str(task_file), "--allow-commands", "--quiet"],
                                         env=runner_env(), capture_output=True).stdout)
    assert second["status"] == "success" and second["resume"]["reused"] == ["a"]
    tip = second["isolation"]["tip"]
    assert git(repo, "show", f"{tip}:a.txt") == "A" and git(repo, "show", f"{tip}:b.txt") == "B"
