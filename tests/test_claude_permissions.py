"""The permission rules install-agents writes, and which tasks count as running programs."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_execution.agents.registry import load_agent
from parallel_execution.claude_code.permissions import PermissionRules, SettingsError, merge_rules, permission_rules
from parallel_execution.errors import InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input


def test_rules_allow_the_safe_subcommands_and_ask_for_the_rest() -> None:
    rules = permission_rules(["dispatch-runner"])
    assert rules.allow[0] == "Edit(.dispatch/**)"
    assert "Bash(dispatch-runner run *)" in rules.allow and "Bash(dispatch-runner *)" not in rules.allow
    assert not [r for r in rules.allow if "install-agents" in r or "claude" in r]
    assert set(rules.ask) == {"Bash(dispatch-runner * --allow-commands*)", "Bash(dispatch-runner --allow-commands*)",
                              "Bash(dispatch-runner * --allow-outside-project*)",
                              "Bash(dispatch-runner --allow-outside-project*)",
                              "Bash(dispatch-runner install-agents *)", "Bash(dispatch-runner claude *)",
                              "Bash(dispatch-runner worktrees prune *)"}
    assert "Bash(dispatch-runner worktrees list *)" in rules.allow  # read-only; prune removes folders


def test_merge_is_idempotent_and_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    rules = PermissionRules(("A",), ("B",))
    assert merge_rules(path, rules) == {"allow": ["A"], "ask": ["B"]}
    text = path.read_text()
    assert merge_rules(path, rules) == {"allow": [], "ask": []} and path.read_text() == text


def test_merge_refuses_a_non_object(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("[]")
    with pytest.raises(SettingsError, match=r"is not a JSON object; fix it, nothing was written$"):
        merge_rules(path, permission_rules())


@pytest.mark.parametrize(
    ("input_data", "runs"),
    [
        ({"prompt": "p"}, False),
        ({"prompt": "p", "allowed_tools": ["Read", "Grep"]}, False),
        ({"prompt": "p", "allowed_tools": ["Read", "Bash(git *)"]}, True),
        ({"prompt": "p", "allowed_tools": ["Bash"]}, True),
        ({"prompt": "p", "permission_mode": "bypassPermissions"}, True),
        ({"prompt": "p", "permission_mode": "acceptEdits"}, False),
        ({"prompt": "p", "agent": "agent-parallel-dispatcher"}, True),  # its definition's tools include Bash
        ({"prompt": "p", "agent": "debug"}, False),
        ({"prompt": "p", "agent": "agent-parallel-dispatcher", "allowed_tools": ["Read"]}, False),
    ],
)
def test_a_claude_session_with_a_shell_needs_allow_commands(input_data: dict, runs: bool) -> None:
    repo = Path(__file__).resolve().parent.parent
    assert bool(load_agent("claude").task_runs_commands(input_data, repo)) is runs
    data = parse_input({"tasks": [{"task_id": "c", "agent": "claude", "input_data": input_data}],
                        "config": {"workspace": str(repo)}})
    if runs:
        with pytest.raises(InvalidInput, match=r"start the runner with --allow-commands"):
            build_plan(data)
    else:
        build_plan(data)
    build_plan(data, allow_commands=True)


def test_a_shell_that_arrives_through_from_is_refused_at_run_time(tmp_path: Path) -> None:
    from parallel_execution.dispatcher import dispatch

    tasks = [{"task_id": "tools", "agent": "echo", "input_data": {"message": ["Bash"]}},
             {"task_id": "c", "agent": "claude", "dependencies": ["tools"],
              "input_data": {"prompt": "p", "allowed_tools": {"$from": "tools", "select": ".message"}}}]
    result = dispatch({"tasks": tasks, "config": {"workspace": str(tmp_path), "trace_dir": str(tmp_path / "t")}})
    by_id = {r.task_id: r for r in result.results}
    assert by_id["c"].status == "error"
    assert by_id["c"].error == ("the Claude session may use Bash (allowed_tools or its agent definition's tools); "
                                "start the runner with --allow-commands to allow it (ask the user first)")
