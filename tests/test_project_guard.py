"""Inside Claude Code (CLAUDECODE=1) the runner writes only inside the current project without --allow-outside-project."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import RUNNER, runner_env

TASK = {"task_id": "hi", "agent": "echo", "input_data": {"message": "hi"}}


def run(cwd: Path, *args: str, inside: bool = True) -> subprocess.CompletedProcess[str]:
    env = runner_env()
    env.pop("CLAUDECODE", None)
    if inside:
        env["CLAUDECODE"] = "1"
    return subprocess.run([*RUNNER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.mark.parametrize(
    ("config", "flags", "field"),
    [
        ({"trace_dir": "../traces"}, [], "config.trace_dir"),
        ({"workspace": "/"}, [], "config.workspace"),
        ({"allow_outside_workspace": True}, [], "config.allow_outside_workspace"),
        ({"isolation": {"mode": "none", "repo": ".."}}, [], "config.isolation.repo"),
        ({}, ["--trace-dir", "../t"], "--trace-dir"),
        ({}, ["--workspace", ".."], "--workspace"),
    ],
)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_writes_outside_the_project_are_refused_inside_claude_code(
    project: Path, config: dict, flags: list[str], field: str, command: str
) -> None:
    (project / "t.json").write_text(json.dumps({"tasks": [TASK], "config": config}))
    done = run(project, command, "t.json", *flags)
    assert done.returncode == 2, done.stderr
    [issue] = json.loads(done.stdout)["errors"]
    assert issue["field"] == field
    assert "--allow-outside-project" in issue["message"]
    assert not (project.parent / "traces").exists() and not (project / "traces").exists()


def test_the_users_consent_flag_lets_it_run(project: Path) -> None:
    (project / "t.json").write_text(json.dumps({"tasks": [TASK], "config": {"trace_dir": "../traces"}}))
    done = run(project, "run", "t.json", "--allow-outside-project")
    assert done.returncode == 0, done.stderr
    assert (project.parent / "traces").is_dir()


def test_outside_claude_code_nothing_changes(project: Path) -> None:
    (project / "t.json").write_text(json.dumps({"tasks": [TASK], "config": {"trace_dir": "../traces"}}))
    done = run(project, "run", "t.json", inside=False)
    assert done.returncode == 0, done.stderr


def test_inside_the_project_is_fine_and_report_o_outside_is_refused(project: Path) -> None:
    (project / "t.json").write_text(json.dumps({"tasks": [TASK]}))
    assert run(project, "run", "t.json", "--trace-dir", "sub/traces").returncode == 0
    assert run(project, "report", "--trace-dir", "sub/traces", "-o", "r.md").returncode == 0
    done = run(project, "report", "--trace-dir", "sub/traces", "-o", "../r.md")
    assert done.returncode == 2 and json.loads(done.stdout)["errors"][0]["field"] == "--output"
    assert not (project.parent / "r.md").exists()


def test_abbreviated_flags_are_not_accepted(project: Path) -> None:
    """`--allow-com` must not reach --allow-commands past the `ask` rule `Bash(dispatch-runner * --allow-commands*)`."""
    (project / "t.json").write_text(json.dumps({"tasks": [TASK]}))
    done = run(project, "run", "t.json", "--allow-com", inside=False)
    assert done.returncode == 2 and "unrecognized arguments: --allow-com" in json.loads(done.stdout)["errors"][0]["message"]
