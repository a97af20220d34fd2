"""The Claude Code bundle is product code: agent and command files, settings, plugin manifests.

These tests keep the Markdown in step with the runner: frontmatter that Claude Code can load, tool
names it knows, every task JSON example accepted by ``dispatch-runner validate``, every runner
subcommand and flag the files mention present in ``dispatch-runner --help``, output contracts that
match what the real agents return, and the real ``claude plugin validate`` passing offline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import real_claude_cli
from markdown_it import MarkdownIt

import parallel_execution

REPO = Path(__file__).resolve().parent.parent
AGENTS_DIR = REPO / "agents"
COMMANDS_DIR = REPO / ".claude" / "commands"
AGENT_FILES = sorted(AGENTS_DIR.glob("*.md"))
COMMAND_FILES = sorted(COMMANDS_DIR.glob("*.md"))
BUNDLE_FILES = AGENT_FILES + COMMAND_FILES

# Built-in tool names from Claude Code's tools reference (code.claude.com/docs/en/tools-reference).
CLAUDE_CODE_TOOLS = frozenset(
    [
        "Agent",
        "Artifact",
        "AskUserQuestion",
        "Bash",
        "CronCreate",
        "CronDelete",
        "CronList",
        "Edit",
        "EnterPlanMode",
        "EnterWorktree",
        "ExitPlanMode",
        "ExitWorktree",
        "Glob",
        "Grep",
        "ListMcpResourcesTool",
        "LSP",
        "NotebookEdit",
        "Read",
        "ReadMcpResourceTool",
        "Skill",
        "TaskCreate",
        "TaskGet",
        "TaskList",
        "TaskOutput",
        "TaskStop",
        "TaskUpdate",
        "TodoWrite",
        "ToolSearch",
        "WebFetch",
        "WebSearch",
        "Write",
    ]
)
# Frontmatter fields Claude Code documents for subagents and for slash commands.
AGENT_FIELDS = frozenset(
    [
        "name",
        "description",
        "tools",
        "disallowedTools",
        "model",
        "permissionMode",
        "maxTurns",
        "skills",
        "mcpServers",
        "hooks",
        "memory",
        "background",
        "isolation",
        "color",
    ]
)
COMMAND_FIELDS = frozenset(["description", "argument-hint", "allowed-tools", "model", "disable-model-invocation"])
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RUNNER = re.compile(r"(?:dispatch-runner|python -m parallel_execution)\b(.*)")


def split_frontmatter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    assert match, f"{path.name}: no YAML frontmatter between --- lines at the top"
    meta = yaml.safe_load(match.group(1))
    assert isinstance(meta, dict), f"{path.name}: frontmatter is not a mapping"
    return meta, match.group(2)


def tool_names(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else value.split(",")
    return [re.sub(r"\(.*\)$", "", item.strip()) for item in items if item.strip()]


def fences(body: str, lang: str) -> list[str]:
    return [t.content for t in MarkdownIt().parse(body) if t.type == "fence" and t.info.strip() == lang]


def code_snippets(body: str) -> Iterator[str]:
    """Inline code spans and the lines of every fenced block."""
    for token in MarkdownIt().parse(body):
        if token.type == "fence":
            yield from token.content.splitlines()
        for child in token.children or []:
            if child.type == "code_inline":
                yield child.content


def stale_cli_mentions(body: str, help_for: Callable[[str | None], str | None]) -> list[str]:
    """Runner subcommands and flags that ``body`` mentions but the runner's help does not list.

    ``help_for(None)`` is the top-level help, ``help_for(sub)`` the subcommand's help or None when
    the subcommand does not exist. A snippet that is only a flag is checked against ``run``.
    """
    problems = []
    for snippet in code_snippets(body):
        match = RUNNER.search(snippet)
        if match:
            tokens = shlex.split(match.group(1).replace("*)", ""))
            sub = tokens[0] if tokens and re.fullmatch(r"[a-z][a-z0-9-]*", tokens[0]) else None
            flags = [t.split("=")[0] for t in tokens if t.startswith("--")]
        elif snippet.startswith("--"):
            sub, flags = "run", [snippet.split()[0]]
        else:
            continue
        text = help_for(sub)
        if text is None:
            problems.append(f"unknown subcommand {sub!r} in `{snippet}`")
            continue
        problems += [
            f"{sub or 'dispatch-runner'} has no flag {flag} (in `{snippet}`)"
            for flag in flags
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
        ]
    return problems


def runner(*argv: str) -> tuple[int, str]:
    """``dispatch-runner ARGV`` in this process: exit code and stdout (stderr is discarded)."""
    from parallel_execution.commands.cli import main

    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    out.flush()
    return code, raw.getvalue().decode("utf-8")


@cache
def runner_help(sub: str | None) -> str | None:
    """The help of ``dispatch-runner [sub]``, or None when ``sub`` is not one of its subcommands.

    The runner treats an unknown first word as a FILE for ``run``, so a subcommand counts only if
    the top-level help lists it and its own help's usage line names it.
    """
    code, top = runner("--help")
    if code != 0:
        return None
    if sub is None:
        return top
    listed = set(re.findall(r"^ {2,6}([a-z][a-z0-9-]*)(?: |$)", top, re.MULTILINE))
    code, text = runner(sub, "--help")
    return text if sub in listed and code == 0 and f"usage: dispatch-runner {sub}" in text else None


def run_in_subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parallel_execution", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )




# --- agents and commands -----------------------------------------------------------------------


def test_bundle_holds_the_three_agents_and_the_dispatch_command() -> None:
    assert [p.stem for p in AGENT_FILES] == ["agent-parallel-dispatcher", "coder", "debug"]
    assert [p.stem for p in COMMAND_FILES] == ["dispatch"]


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda p: p.stem)
def test_agent_frontmatter_is_complete_and_named_after_its_file(path: Path) -> None:
    meta, body = split_frontmatter(path)
    assert set(meta) <= AGENT_FIELDS, f"unknown fields {set(meta) - AGENT_FIELDS}"
    assert {"name", "description", "tools", "model"} <= set(meta)
    assert meta["name"] == path.stem and KEBAB.match(meta["name"])
    assert meta["model"] == "inherit"
    examples = re.findall(r"<example>(.*?)</example>", meta["description"], re.DOTALL)
    assert 2 <= len(examples) <= 3
    for example in examples:
        assert "user:" in example and "assistant:" in example and "<commentary>" in example
    assert meta["description"].startswith("Use this agent")
    assert 40 <= len(body.strip().splitlines()) <= 160
    assert body.lstrip().startswith("You ")
    assert re.search(r"^## .*(Output|output)", body, re.MULTILINE)
    assert re.search(r"^## Edge cases", body, re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "tools"),
    [
        ("agent-parallel-dispatcher", {"Bash", "Read", "Grep", "Glob", "Write"}),
        ("coder", {"Read", "Write", "Edit", "Grep", "Glob"}),
        ("debug", {"Read", "Grep", "Glob"}),
    ],
)
def test_agent_tools_are_least_privilege_and_real(name: str, tools: set[str]) -> None:
    meta, _ = split_frontmatter(AGENTS_DIR / f"{name}.md")
    names = tool_names(meta["tools"])
    assert set(names) == tools and len(names) == len(tools)
    assert set(names) <= CLAUDE_CODE_TOOLS


def test_debug_agent_cannot_change_files() -> None:
    meta, _ = split_frontmatter(AGENTS_DIR / "debug.md")
    assert not {"Write", "Edit", "NotebookEdit", "Bash"} & set(tool_names(meta["tools"]))


def test_tool_name_check_rejects_an_unknown_tool() -> None:
    assert set(tool_names("Read, Frobnicate, Bash(git *)")) - CLAUDE_CODE_TOOLS == {"Frobnicate"}


@pytest.mark.parametrize("path", COMMAND_FILES, ids=lambda p: p.stem)
def test_command_frontmatter_and_it_hands_arguments_to_the_dispatcher(path: Path) -> None:
    meta, body = split_frontmatter(path)
    assert set(meta) <= COMMAND_FIELDS, f"unknown fields {set(meta) - COMMAND_FIELDS}"
    assert meta["description"] and meta["argument-hint"]
    assert KEBAB.match(path.stem)
    assert body.count("$ARGUMENTS") == 1
    assert "`agent-parallel-dispatcher`" in body and (AGENTS_DIR / "agent-parallel-dispatcher.md").is_file()


def test_names_are_unique_across_agents_and_commands() -> None:
    names = [split_frontmatter(p)[0]["name"] for p in AGENT_FILES] + [p.stem for p in COMMAND_FILES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda p: p.stem)
def test_claude_agents_folder_links_each_agent_without_a_copy(path: Path) -> None:
    link = REPO / ".claude" / "agents" / path.name
    assert link.is_symlink()
    assert os.readlink(link) == f"../../agents/{path.name}"
    assert link.resolve() == path.resolve()


def test_claude_agents_folder_holds_only_links() -> None:
    entries = sorted((REPO / ".claude" / "agents").iterdir())
    assert entries and all(entry.is_symlink() for entry in entries)
    assert [e.name for e in entries] == [p.name for p in AGENT_FILES]


# --- settings and plugin -----------------------------------------------------------------------


def test_project_settings_hold_exactly_the_rules_install_agents_writes() -> None:
    from parallel_execution.claude_code.permissions import permission_rules

    settings = json.loads((REPO / ".claude" / "settings.json").read_text())
    assert set(settings) <= {"$schema", "permissions"}
    assert settings["permissions"] == permission_rules().as_settings()["permissions"]
    allow = settings["permissions"]["allow"]
    assert "Edit(.dispatch/**)" in allow
    assert not [rule for rule in allow if rule.startswith("Bash(") and rule.endswith(" *)") and rule.count(" ") < 2]
    assert "Bash(dispatch-runner * --allow-commands*)" in settings["permissions"]["ask"]


def test_every_allowed_runner_subcommand_exists() -> None:
    from parallel_execution.claude_code.permissions import ASK_SUBCOMMANDS, SAFE_SUBCOMMANDS

    for sub in (*SAFE_SUBCOMMANDS, *ASK_SUBCOMMANDS):
        command, *action = sub.split()  # "worktrees list": the action must be one of its choices
        text = runner_help(command)
        assert text is not None and all(word in text for word in action), \
            f"the rules name `dispatch-runner {sub}`, which does not exist"


def test_allowed_commands_are_real_entry_points() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["dispatch-runner"] == "parallel_execution.launch:entrypoint"
    assert (REPO / "parallel_execution" / "__main__.py").is_file()
    assert (REPO / "parallel_execution" / "dispatch_runner.py").is_file()


def test_plugin_and_marketplace_manifests_agree_with_the_package() -> None:
    plugin = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert KEBAB.match(plugin["name"])
    assert plugin["version"] == parallel_execution.__version__ == pyproject["project"]["version"]
    assert plugin["license"] == pyproject["project"]["license"]["text"]
    assert [(REPO / c).resolve() for c in plugin["commands"]] == [p.resolve() for p in COMMAND_FILES]
    [entry] = market["plugins"]
    assert entry["name"] == plugin["name"] and entry["source"] == "./"
    assert market["owner"]["name"] and market["description"]


def test_wheel_ships_the_files_install_agents_reads() -> None:
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert include["force-include"] == {
        "agents": "parallel_execution/_bundle/agents",
        ".claude/commands": "parallel_execution/_bundle/commands",
    }


@pytest.fixture(scope="module")
def claude(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, Any]]:
    cli = real_claude_cli()
    if cli is None:
        pytest.skip("Claude Code CLI not installed (pip install claude-agent-sdk bundles it)")
    home = tmp_path_factory.mktemp("claude-home")
    env = {
        **os.environ,
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }

    def validate(target: Path) -> dict[str, Any]:
        done = subprocess.run(
            [cli, "plugin", "validate", "--strict", "--json", str(target)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        report = json.loads(done.stdout)
        report["exit_code"] = done.returncode
        return report

    return validate


def test_claude_validates_the_plugin_and_lists_its_parts(claude: Callable[..., dict[str, Any]]) -> None:
    report = claude(REPO / ".claude-plugin" / "plugin.json")
    assert report["exit_code"] == 0 and report["success"] is True
    assert report["manifest"]["errors"] == [] and report["manifest"]["warnings"] == []
    assert report["contents"] == []
    names = {f"parallel-dispatch:{p.stem}" for p in AGENT_FILES}
    assert set(report["provides"]["agents"]) == names
    assert report["provides"]["commands"] == ["parallel-dispatch:dispatch"]


@pytest.mark.parametrize(
    "target",
    [".claude-plugin/marketplace.json", "agents", ".claude/commands"],
    ids=["marketplace", "agents", "commands"],
)
def test_claude_validates_marketplace_and_components(claude: Callable[..., dict[str, Any]], target: str) -> None:
    report = claude(REPO / target)
    assert report["exit_code"] == 0 and report["success"] is True, report
    assert report["contents"] == [] and (report["manifest"] is None or not report["manifest"]["warnings"])


def test_claude_validation_catches_a_broken_agent(claude: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "broken.md").write_text("---\nname: broken\n---\nNo description.\n")
    report = claude(tmp_path)
    assert report["exit_code"] == 1 and report["success"] is False


# --- kept in step with the runner --------------------------------------------------------------


def test_stale_mention_check_flags_unknown_subcommands_and_flags() -> None:
    helps = {None: "COMMAND run validate", "run": "--workspace DIR --max-workers N", "validate": "--workspace"}
    body = (
        "Run `dispatch-runner report --html`, then `dispatch-runner run x.json --max-workers 2 --turbo`; `--workspace`."
    )
    assert stale_cli_mentions(body, helps.get) == [
        "unknown subcommand 'report' in `dispatch-runner report --html`",
        "run has no flag --turbo (in `dispatch-runner run x.json --max-workers 2 --turbo`)",
    ]


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=lambda p: p.stem)
def test_every_runner_command_and_flag_mentioned_exists(path: Path) -> None:
    if runner_help(None) is None:
        pytest.fail("`dispatch-runner --help` failed")
    _, body = split_frontmatter(path)
    assert stale_cli_mentions(body, runner_help) == []


def test_dispatcher_names_the_runner_commands_it_relies_on() -> None:
    _, body = split_frontmatter(AGENTS_DIR / "agent-parallel-dispatcher.md")
    mentioned = {m.group(1).split()[0] for s in code_snippets(body) if (m := RUNNER.search(s)) and m.group(1).split()}
    assert {"schema", "validate", "run"} <= mentioned


def task_examples() -> list[tuple[str, int, str]]:
    found = []
    for path in BUNDLE_FILES:
        for index, block in enumerate(fences(split_frontmatter(path)[1], "json")):
            if "tasks" in json.loads(block):
                found.append((path.stem, index, block))
    return found


def test_dispatcher_shows_the_four_patterns() -> None:
    examples = [json.loads(block) for stem, _, block in task_examples() if stem == "agent-parallel-dispatcher"]
    assert len(examples) == 5  # validate-then-regenerate takes two runs
    uses_from = [t for e in examples for t in e["tasks"] if "$from" in json.dumps(t["input_data"])]
    assert uses_from and all(t["dependencies"] for t in uses_from)
    assert any(len(e["tasks"]) >= 3 and not any(t.get("dependencies") for t in e["tasks"]) for e in examples)


def _agent_ready(name: str) -> bool:
    base = REPO / "parallel_execution" / "agents"
    return (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file()


def seed_workspace(root: Path, document: dict[str, Any]) -> None:
    """Create the files an example reads, as they would exist in a real project."""
    for task in document["tasks"]:
        for key in ("affected_files", "context_files"):
            for rel in task["input_data"].get(key, []):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text("def placeholder() -> None:\n    return None\n")


def offline(document: dict[str, Any]) -> dict[str, Any]:
    """The same graph with model backends swapped for the offline ones (claude tasks use the stand-in CLI)."""
    copy = json.loads(json.dumps(document))
    for task in copy["tasks"]:
        if task["agent"] in ("coder", "debug") and task["input_data"].get("backend") == "claude":
            del task["input_data"]["backend"]
    return copy


@pytest.mark.parametrize(("stem", "index", "block"), task_examples(), ids=lambda v: str(v)[:30])
def test_task_examples_validate_and_run_with_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stem: str, index: int, block: str
) -> None:
    document = json.loads(block)
    missing = sorted({t["agent"] for t in document["tasks"] if not _agent_ready(t["agent"])})
    if missing:
        pytest.skip(f"agents {missing} are not built yet")
    seed_workspace(tmp_path, document)
    (tmp_path / "tasks.json").write_text(block)
    code, out = runner("validate", str(tmp_path / "tasks.json"), "--workspace", str(tmp_path))
    assert code == 0, out
    assert json.loads(out)["status"] == "valid"
    # $from values are only checked once resolved, so only a real run proves them right. Model work
    # runs offline: coder/debug on their default backends, claude tasks against the stand-in CLI.
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(REPO / "tests" / "fake_claude" / "claude"))
    monkeypatch.setenv("FAKE_CLAUDE_STATE", str(tmp_path / "fake-claude"))
    (tmp_path / "tasks.json").write_text(json.dumps(offline(document)))
    trace_dir = str(tmp_path / "traces")
    code, out = runner("run", str(tmp_path / "tasks.json"), "--workspace", str(tmp_path), "--trace-dir", trace_dir)
    result = json.loads(out)
    assert code == 0, [(r["task_id"], r["error"]) for r in result["results"]]
    assert result["summary"]["successful"] == len(document["tasks"])


# --- output contracts match what the runner's agents produce ------------------------------------


def contract(name: str) -> dict[str, Any]:
    """The JSON object an agent file promises to end its answer with (its one non-task json block)."""
    [block] = [
        b for b in fences(split_frontmatter(AGENTS_DIR / f"{name}.md")[1], "json") if "tasks" not in json.loads(b)
    ]
    return json.loads(block)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """``{"a": {"b": 1}, "c": [{"d": 2}]}`` -> ``{"a", "a.b", "c", "c[].d"}`` (lists: their first item)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            paths |= {f"{prefix}{key}"} | key_paths(item, f"{prefix}{key}.")
    elif isinstance(value, list) and value:
        paths |= key_paths(value[0], f"{prefix[:-1]}[].")
    return paths


def test_key_paths_and_types_describe_nested_shapes() -> None:
    value = {"a": {"b": 1}, "c": [{"d": "x"}], "e": [], "f": None}
    assert key_paths(value) == {"a", "a.b", "c", "c[].d", "e", "f"}
    assert leaf_types(value) == {
        "a": "object",
        "a.b": "number",
        "c": "list",
        "c[]": "object",
        "c[].d": "string",
        "e": "list",
    }


def test_coder_contract_reports_the_file_and_leaves_validation_to_the_runner() -> None:
    promised = contract("coder")
    assert set(promised) == {"generated_file", "node_name", "class_name", "node_type", "summary", "todo", "error"}
    assert Path(promised["generated_file"]).is_absolute() and promised["error"] is None
    assert not {"validation_passed", "checks"} & set(promised)
    _, body = split_frontmatter(AGENTS_DIR / "coder.md")
    for key in promised:
        assert f"`{key}`" in body, f"output field {key} is not explained"


def test_coder_conventions_are_the_ones_the_runner_checks() -> None:
    naming = pytest.importorskip("parallel_execution.agents.coder.naming")
    _, body = split_frontmatter(AGENTS_DIR / "coder.md")
    names = naming.node_names("user_writer", "Effect")
    for name in (names.class_name, names.input_model, names.output_model, names.file_name):
        assert f"`{name}`" in body
    for node_type, entry in naming.ENTRY_POINTS.items():
        shape = rf"`(async )?def {entry.method}\(self, {', '.join(entry.params)}[,)]"
        match = re.search(rf"{node_type}: {shape}", body)
        assert match, f"{node_type} entry point {entry.method} not documented"
        assert bool(match.group(1)) == entry.is_async


def test_runner_help_knows_real_subcommands_only() -> None:
    assert "--workspace" in (runner_help("validate") or "")
    assert runner_help("bogus") is None  # the runner would read "bogus" as a FILE for run


def leaf_types(value: Any, prefix: str = "") -> dict[str, str]:
    """JSON type of every non-null value by key path (list items: the first item)."""
    kinds: dict[str, str] = {}
    if isinstance(value, dict):
        if prefix:
            kinds[prefix[:-1]] = "object"
        for key, item in value.items():
            kinds |= leaf_types(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        kinds[prefix[:-1]] = "list"
        if value:
            kinds |= leaf_types(value[0], f"{prefix[:-1]}[].")
    elif value is not None:
        kinds[prefix[:-1]] = {bool: "bool", int: "number", float: "number", str: "string"}[type(value)]
    return kinds


def run_task(tmp_path: Path, files: dict[str, str], task: dict[str, Any]) -> dict[str, Any]:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "tasks.json").write_text(json.dumps({"tasks": [task]}))
    done = run_in_subprocess("run", "tasks.json", "--workspace", ".", "--quiet", cwd=tmp_path)
    assert done.stdout.startswith("{"), done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["status"] == "success", result
    return result["output"]


def test_debug_contract_has_the_shape_of_the_runner_debug_output(tmp_path: Path) -> None:
    if not _agent_ready("debug"):
        pytest.skip("the debug agent is not built yet")
    trace = "Traceback (most recent call last):\n  File \"src/store.py\", line 2, in dump\n    return json.dumps(x)\nNameError: name 'json' is not defined"
    output = run_task(
        tmp_path,
        {"src/store.py": "def dump(x: dict) -> str:\n    return json.dumps(x)\n"},
        {
            "task_id": "why",
            "agent": "debug",
            "input_data": {
                "problem_description": "dump() raises NameError",
                "affected_files": ["src/store.py"],
                "error_traces": [trace],
                "hypothesis": "json is never imported",
            },
        },
    )
    promised, produced = leaf_types(contract("debug")), leaf_types(output)
    assert key_paths(contract("debug")) <= key_paths(output)
    assert {p: k for p, k in promised.items() if p in produced and produced[p] != k} == {}


def test_coder_contract_agrees_with_the_runner_coder_output(tmp_path: Path) -> None:
    if not _agent_ready("coder"):
        pytest.skip("the coder agent is not built yet")
    output = run_task(
        tmp_path,
        {},
        {
            "task_id": "gen",
            "agent": "coder",
            "input_data": {
                "contract_description": "Effect node that writes audit events to the audit table",
                "node_type": "Effect",
                "node_name": "audit_writer",
                "output_path": "nodes/node_audit_writer_effect.py",
            },
        },
    )
    promised = contract("coder")
    assert set(promised) - set(output) == {"summary", "error"}  # the worker's own notes
    assert (output["node_name"], output["class_name"]) == (promised["node_name"], promised["class_name"])
    produced = leaf_types(output)
    assert {p: k for p, k in leaf_types(promised).items() if p in produced and produced[p] != k} == {}
    assert output["generated_file"] == str((tmp_path / "nodes" / "node_audit_writer_effect.py").resolve())


def documented_agent_inputs() -> dict[str, dict[str, set[str] | None]]:
    """``agent -> {field: allowed values or None}`` from the dispatcher's "Agents:" paragraph."""
    _, body = split_frontmatter(AGENTS_DIR / "agent-parallel-dispatcher.md")
    paragraph = " ".join(re.search(r"^Agents: (.*?)\n\n", body, re.MULTILINE | re.DOTALL).group(1).split())  # type: ignore[union-attr]
    documented = {}
    for segment in paragraph.split(";"):
        match = re.match(r"\s*`(\w+)` \((.*?)\)", segment)
        assert match, f"cannot read agent segment {segment!r}"
        fields = re.findall(r"`(\w+)`(?: ([\w|]+\|[\w|]+))?", match.group(2))
        documented[match.group(1)] = {name: set(values.split("|")) if values else None for name, values in fields}
    return documented


def test_dispatcher_documents_real_agent_input_fields() -> None:
    from parallel_execution.agents.registry import load_agent

    documented = documented_agent_inputs()
    assert set(documented) == {"coder", "debug", "command", "claude", "echo"}
    for agent, fields in documented.items():
        properties = load_agent(agent).Input.model_json_schema()["properties"]
        assert set(fields) <= set(properties), f"{agent}: unknown fields {set(fields) - set(properties)}"
        for name, values in fields.items():
            if values is not None:
                assert values == set(properties[name]["enum"]), f"{agent}.{name}"
