"""End to end inside the real Claude Code CLI: the bundle, installed as the README says, works headless.

The real program (the copy bundled in claude-agent-sdk, else ``claude`` on PATH) runs in ``-p`` mode,
default permission mode, with a scratch ``HOME`` and ``ANTHROPIC_BASE_URL`` pointed at a local
stand-in of the Messages API (``fake_messages_api``) that scripts the model's tool calls. The
dispatcher agent is reached on each route users have:

- project agents: ``dispatch-runner install-agents --project P`` (agents, ``/dispatch`` and the rules
  in ``P/.claude/settings.json``), the workspace trusted as a user does once; ``--agent``;
- the plugin: ``--plugin-dir`` (the same loading as ``claude plugin install``, which the slow test
  does from the local marketplace), rules from ``install-agents --rules-only --settings user`` into
  ``~/.claude/settings.json``, the workspace *not* trusted (user rules apply without trust);
- ``/dispatch``: the command hands the request to the subagent with the Agent tool.

On each: the task file is written under ``.dispatch/``, ``validate``, ``run``, ``report`` and
``traces list`` execute and say what they should, the traces exist, and the result's
``permission_denials`` is empty. Then the least-privilege half: ``curl``, ``run --allow-commands``,
``install-agents --user`` and a Write outside ``.dispatch/`` are denied by Claude Code itself, and a
task file whose trace folder lies outside the project is refused by the runner (``inputs.project_guard``).
Last, ``run --detach`` returns inside the Bash call and ``wait`` collects the result.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_messages_api import Conversation, FakeMessagesAPI, Text, Tool, serve

from parallel_execution.claude_code.binary import bundled_binary

REPO = Path(__file__).resolve().parent.parent
_bundled = bundled_binary()
CLI = str(_bundled) if _bundled else shutil.which("claude")
DISPATCHER = "You turn a plain-language request"  # the dispatcher definition's first words
COMMAND = "Hand the request below"  # the /dispatch command's first words

pytestmark = pytest.mark.skipif(CLI is None, reason="Claude Code CLI not installed (pip install claude-agent-sdk)")

BUGGY = "import os\n\n\ndef greet(name: str) -> str:\n    return f'hello {nme}'\n"
TASKS = {
    "user_prompt": "Check src/app.py and generate a greeting Compute node",
    "tasks": [
        {"task_id": "check-app", "agent": "debug", "description": "Static checks of src/app.py",
         "input_data": {"problem_description": "greet() fails", "affected_files": ["src/app.py"],
                        "analysis_depth": "standard"}},
        {"task_id": "gen-greeter", "agent": "coder", "description": "Greeting Compute node",
         "input_data": {"contract_description": "Compute node that builds a greeting from a name",
                        "node_type": "Compute", "node_name": "greeter",
                        "output_path": "nodes/node_greeter_compute.py"}},
    ],
}


def bash(command: str) -> Tool:
    return Tool("Bash", {"command": command, "description": command[:40]})


def write(path: str, document: dict[str, Any]) -> Tool:
    return Tool("Write", {"file_path": path, "content": json.dumps(document, indent=1)})


SAFE_PATH = [
    write(".dispatch/check.json", TASKS),
    bash("dispatch-runner validate .dispatch/check.json"),
    bash("dispatch-runner run .dispatch/check.json"),
    bash("dispatch-runner report latest"),
    bash("dispatch-runner traces list"),
    Text("Checked src/app.py and generated a greeter skeleton."),
]


class Scratch:
    """A scratch HOME and project with the runner on PATH, as a user's machine after step 1 of the README."""

    def __init__(self, root: Path) -> None:
        self.home, self.project, self.bin = root / "home", root / "project", root / "bin"
        for folder in (self.home / ".claude", self.project / "src", self.bin):
            folder.mkdir(parents=True)
        (self.project / "src" / "app.py").write_text(BUGGY)
        shim = self.bin / "dispatch-runner"  # what `pip install` puts on PATH
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m parallel_execution "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "PARALLEL_DISPATCH"))}
        self.env = {**keep, "HOME": str(self.home), "PATH": f"{self.bin}{os.pathsep}{keep.get('PATH', '')}",
                    "PYTHONPATH": str(REPO), "ANTHROPIC_API_KEY": "sk-ant-test-dummy", "DISABLE_TELEMETRY": "1",
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}

    def runner(self, *args: str) -> dict[str, Any]:
        done = subprocess.run(["dispatch-runner", *args], cwd=self.project, env=self.env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def trust(self) -> None:
        """What accepting Claude Code's trust dialog in the project records."""
        (self.home / ".claude.json").write_text(json.dumps(
            {"projects": {str(self.project.resolve()): {"hasTrustDialogAccepted": True}}}))

    def claude(self, api: FakeMessagesAPI, prompt: str, *flags: str) -> dict[str, Any]:
        assert CLI is not None
        done = subprocess.run([CLI, "-p", prompt, "--output-format", "json", "--permission-mode", "default", *flags],
                              cwd=self.project, env={**self.env, "ANTHROPIC_BASE_URL": api.url},
                              capture_output=True, text=True, timeout=180)
        assert done.stdout.strip(), done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        assert "has not been trusted" not in done.stderr, done.stderr
        return result


def first_json(text: str) -> Any:
    """The runner's JSON document in a Bash tool result (which also holds "Exit code N" and stderr lines)."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip() in ("{", "[", "[]"))
    return json.JSONDecoder().raw_decode("".join(lines[start:]))[0]


def assert_safe_path_ran(scratch: Scratch, api: FakeMessagesAPI, result: dict[str, Any]) -> None:
    assert result["is_error"] is False and result["subtype"] == "success", result
    assert result["permission_denials"] == []
    wrote, validated, ran, reported, listed = api.tool_results(DISPATCHER)
    assert wrote.startswith("File created successfully")
    assert json.loads((scratch.project / ".dispatch" / "check.json").read_text()) == TASKS
    assert first_json(validated)["status"] == "valid"
    outcome = first_json(ran)
    assert outcome["status"] == "success", outcome
    by_id = {r["task_id"]: r for r in outcome["results"]}
    assert by_id["check-app"]["output"]["root_cause"]["line"] == 5  # `nme` is undefined: standard depth finds it
    assert by_id["gen-greeter"]["output"]["implementation"] == "scaffold"
    assert (scratch.project / "nodes" / "node_greeter_compute.py").is_file()
    dispatch_id = outcome["dispatch_id"]
    assert dispatch_id in reported and "check-app" in reported
    assert [d["dispatch_id"] for d in first_json(listed)] == [dispatch_id]
    trace_dir = scratch.project / "traces"
    assert any(trace_dir.rglob("*.json")), "no trace files written"
    assert dispatch_id in json.dumps(scratch.runner("traces", "list"))


Route = Callable[[Scratch], tuple[str, Sequence[str], list[Conversation]]]


def project_agents(scratch: Scratch) -> tuple[str, Sequence[str], list[Conversation]]:
    installed = scratch.runner("install-agents", "--project", str(scratch.project))
    assert installed["settings_file"] == str(scratch.project / ".claude" / "settings.json")
    assert installed["needs_trust"] is True
    scratch.trust()
    return "Check src/app.py", ["--agent", "agent-parallel-dispatcher"], [Conversation(DISPATCHER, SAFE_PATH)]


def plugin(scratch: Scratch) -> tuple[str, Sequence[str], list[Conversation]]:
    installed = scratch.runner("install-agents", "--project", ".", "--rules-only", "--settings", "user")
    assert installed["files"] == [] and installed["needs_trust"] is False
    assert not (scratch.project / ".claude").exists()
    return ("Check src/app.py", ["--plugin-dir", str(REPO), "--agent", "parallel-dispatch:agent-parallel-dispatcher"],
            [Conversation(DISPATCHER, SAFE_PATH)])


def slash_dispatch(scratch: Scratch) -> tuple[str, Sequence[str], list[Conversation]]:
    scratch.runner("install-agents", "--project", str(scratch.project))
    scratch.trust()
    handoff = Tool("Agent", {"subagent_type": "agent-parallel-dispatcher", "description": "Dispatch the request",
                             "prompt": "Check src/app.py", "run_in_background": False})
    main = Conversation(COMMAND, [handoff, Text("The dispatcher answered.")])
    return "/dispatch Check src/app.py", [], [Conversation(DISPATCHER, SAFE_PATH), main]


@pytest.mark.parametrize("route", [project_agents, plugin, slash_dispatch], ids=lambda r: r.__name__)
def test_dispatcher_safe_path_runs_without_a_denial(tmp_path: Path, route: Route) -> None:
    scratch = Scratch(tmp_path)
    prompt, flags, conversations = route(scratch)
    with serve(conversations) as api:
        result = scratch.claude(api, prompt, *flags)
        assert_safe_path_ran(scratch, api, result)
        answer = SAFE_PATH[-1].text  # type: ignore[union-attr]
        if route is slash_dispatch:  # the command's session got the subagent's answer back from the Agent tool
            [handed_back] = api.tool_results(COMMAND)
            assert answer in handed_back and result["result"] == "The dispatcher answered."
        else:
            assert result["result"] == answer


def test_programs_installs_and_writes_outside_the_project_are_not_allowed(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    scratch.runner("install-agents", "--project", str(scratch.project))
    scratch.trust()
    escape = {**TASKS, "config": {"trace_dir": str(tmp_path / "elsewhere")}}
    denied = [
        bash("curl -s http://127.0.0.1:9/"),
        bash("dispatch-runner run .dispatch/check.json --allow-commands"),
        bash("dispatch-runner --allow-commands .dispatch/check.json"),
        bash("dispatch-runner install-agents --user"),
        write("src/injected.py", {"x": 1}),
    ]
    refused = [
        write(".dispatch/escape.json", escape),
        bash("dispatch-runner run .dispatch/escape.json"),
        bash(f"dispatch-runner report latest -o {tmp_path / 'report.md'}"),
    ]
    conversation = Conversation(DISPATCHER, [*denied, *refused, Text("done")])
    with serve([conversation]) as api:
        result = scratch.claude(api, "Run whatever it takes", "--agent", "agent-parallel-dispatcher")
        results = api.tool_results(DISPATCHER)
    def what(tool_input: dict[str, Any]) -> str:  # the CLI records file paths made absolute
        return tool_input.get("command") or Path(tool_input["file_path"]).name

    assert [what(d["tool_input"]) for d in result["permission_denials"]] == [what(step.input) for step in denied]
    assert not (scratch.project / "src" / "injected.py").exists()
    assert not (scratch.home / ".claude" / "agents").exists()
    ran_escape, ran_report = results[-2:]
    for text in (ran_escape, ran_report):
        assert "Exit code 2" in text and "inside Claude Code the runner writes only inside the project" in text
        assert "--allow-outside-project" in text
    assert first_json(ran_escape)["errors"][0]["field"] == "config.trace_dir"
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "report.md").exists()


@pytest.mark.slow
def test_plugin_installs_from_the_local_marketplace_as_the_readme_says(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    assert CLI is not None
    with serve([Conversation(DISPATCHER, SAFE_PATH)]) as api:
        # With an API key and no reachable API the plugin commands wait ~17 s each on the network:
        # they too are pointed at the local stand-in.
        for argv in (["plugin", "marketplace", "add", str(REPO)],
                     ["plugin", "install", "parallel-dispatch@parallel-dispatch"]):
            done = subprocess.run([CLI, *argv], cwd=scratch.project, env={**scratch.env, "ANTHROPIC_BASE_URL": api.url},
                                  capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
        scratch.runner("install-agents", "--project", ".", "--rules-only", "--settings", "user")
        result = scratch.claude(api, "Check src/app.py", "--agent", "parallel-dispatch:agent-parallel-dispatcher")
        assert_safe_path_ran(scratch, api, result)
        assert result["result"] == SAFE_PATH[-1].text  # type: ignore[union-attr]


def test_a_detached_run_returns_at_once_and_wait_collects_it(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    scratch.runner("install-agents", "--project", str(scratch.project))
    scratch.trust()
    steps = [write(".dispatch/check.json", TASKS), bash("dispatch-runner run .dispatch/check.json --detach"),
             bash("dispatch-runner wait latest --timeout 60"), Text("collected")]
    with serve([Conversation(DISPATCHER, steps)]) as api:
        result = scratch.claude(api, "Check src/app.py", "--agent", "agent-parallel-dispatcher")
        _, detached, waited = api.tool_results(DISPATCHER)
    assert result["permission_denials"] == [] and result["result"] == "collected"
    started = first_json(detached)
    assert started["status"] == "started" and started["wait"].startswith("dispatch-runner wait ")
    final = first_json(waited)
    assert final["status"] == "success" and final["dispatch_id"] == started["dispatch_id"]
