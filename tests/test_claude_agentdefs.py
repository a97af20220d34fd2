"""Agent definitions as system prompts: frontmatter reading and the lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_execution.claude_code.agentdefs import AgentDefinitionError, load_agent_definition, parse_definition

REPO = Path(__file__).resolve().parent.parent

DEFINITION = """---
name: reviewer
description: |-
  Use this agent to review code.
  tools: not-a-key (inside a block scalar)
tools: Read, Grep, Glob
model: haiku
permissionMode: plan
maxTurns: 12
---

You review code.
"""


@pytest.mark.parametrize(
    ("frontmatter", "field", "expected"),
    [
        ("tools: Read, Grep", "tools", ["Read", "Grep"]),
        ("tools: [Read, 'Bash(git *)']", "tools", ["Read", "Bash(git *)"]),
        ("tools:\n  - Read\n  - Edit", "tools", ["Read", "Edit"]),
        ("model: inherit", "model", None),
        ("model: \"opus\"", "model", "opus"),
        ("maxTurns: many", "max_turns", None),
        ("", "tools", None),
    ],
)
def test_frontmatter_fields(frontmatter: str, field: str, expected):
    definition = parse_definition(f"---\nname: x\n{frontmatter}\n---\nBody.\n", Path("x.md"))
    assert getattr(definition, field) == expected


def test_full_definition():
    definition = parse_definition(DEFINITION, Path("agents/other-file-name.md"))
    assert definition.name == "reviewer"
    assert definition.system_prompt == "You review code."
    assert definition.tools == ["Read", "Grep", "Glob"]
    assert (definition.model, definition.permission_mode, definition.max_turns) == ("haiku", "plan", 12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no frontmatter", r"^x\.md: no YAML frontmatter$"),
        ("---\nname: x\n", r"^x\.md: frontmatter is not closed by ---$"),
        ("---\nname: x\n---\n\n", r"^x\.md: the definition has no body \(system prompt\)$"),
    ],
)
def test_invalid_definitions(text: str, message: str):
    with pytest.raises(AgentDefinitionError, match=message):
        parse_definition(text, Path("x.md"))


def test_bundle_definitions_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    debug = load_agent_definition("debug", tmp_path)
    assert debug.path == REPO / "agents" / "debug.md"
    assert debug.tools == ["Read", "Grep", "Glob"] and debug.model is None
    assert debug.system_prompt.startswith("You find out why something fails")
    assert load_agent_definition("coder", tmp_path).tools == ["Read", "Write", "Edit", "Grep", "Glob"]


def test_project_definitions_win_and_name_beats_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / ".claude" / "agents").mkdir(parents=True)
    (tmp_path / ".claude" / "agents" / "zz.md").write_text("---\nname: debug\n---\nProject debug.\n")
    (tmp_path / ".claude" / "agents" / "debug.md").write_text("---\nname: something-else\n---\nOther.\n")
    assert load_agent_definition("debug", tmp_path).system_prompt == "Project debug."
    assert load_agent_definition("something-else", tmp_path).system_prompt == "Other."


def test_user_definitions_come_before_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "config"
    (config / "agents").mkdir(parents=True)
    (config / "agents" / "coder.md").write_text("---\nname: coder\n---\nMine.\n")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    assert load_agent_definition("coder", tmp_path / "ws").system_prompt == "Mine."


def test_unknown_definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    with pytest.raises(AgentDefinitionError, match=r"^no agent definition named 'nope' \(searched .*\.claude/agents, "):
        load_agent_definition("nope", tmp_path)
