"""Agent definitions (Claude Code subagent Markdown) used as a headless session's system prompt.

A definition is Markdown with YAML frontmatter; the body becomes the system prompt and a few
frontmatter keys become session defaults that the task can override: ``tools`` (allowed tools),
``model`` (unless ``inherit``), ``permissionMode`` and ``maxTurns``.

Lookup of ``name`` (the frontmatter ``name`` first, then the file name), first match wins:

1. ``<workspace>/.claude/agents/``  (the project's own agents)
2. ``<workspace>/agents/``
3. ``$CLAUDE_CONFIG_DIR/agents/`` or ``~/.claude/agents/``  (the user's agents)
4. this bundle: ``agents/`` of the source checkout, else the wheel's ``parallel_execution/_bundle/agents``

The frontmatter reader handles the subset agent files use (``key: value``, block scalars, lists
inline or with ``- item`` lines), so no YAML library is needed.

Example::

    definition = load_agent_definition("debug", workspace_root)
    definition.system_prompt, definition.tools     # "You find out why ...", ["Read", "Grep", "Glob"]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parallel_execution.errors import DispatchError

__all__ = ["AgentDefinition", "AgentDefinitionError", "agent_search_path", "load_agent_definition", "parse_definition"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # parallel_execution/
_KEY = re.compile(r"^([A-Za-z][\w-]*):\s*(.*)$")


class AgentDefinitionError(DispatchError, ValueError):
    """No definition with that name, or the file is not a valid definition."""


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    name: str
    path: Path
    system_prompt: str
    tools: list[str] | None = None
    model: str | None = None
    permission_mode: str | None = None
    max_turns: int | None = None


def agent_search_path(workspace_root: Path) -> list[Path]:
    """The folders searched for definitions, in order."""
    config_dir = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    return [
        workspace_root / ".claude" / "agents",
        workspace_root / "agents",
        config_dir / "agents",
        _PACKAGE_DIR.parent / "agents",
        _PACKAGE_DIR / "_bundle" / "agents",
    ]


def load_agent_definition(name: str, workspace_root: Path) -> AgentDefinition:
    """Find and parse the definition called ``name``; raise ``AgentDefinitionError`` if absent."""
    searched = agent_search_path(workspace_root)
    for folder in searched:
        if not folder.is_dir():
            continue
        by_stem: AgentDefinition | None = None
        for path in sorted(folder.glob("*.md")):
            try:
                definition = parse_definition(path.read_text(encoding="utf-8"), path)
            except (OSError, UnicodeDecodeError, AgentDefinitionError):
                continue
            if definition.name == name:
                return definition
            if path.stem == name and by_stem is None:
                by_stem = definition
        if by_stem is not None:
            return by_stem
    where = ", ".join(str(p) for p in searched)
    raise AgentDefinitionError(f"no agent definition named {name!r} (searched {where})")


def parse_definition(text: str, path: Path) -> AgentDefinition:
    """Split frontmatter from body and read the keys a headless session uses."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise AgentDefinitionError(f"{path}: no YAML frontmatter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise AgentDefinitionError(f"{path}: frontmatter is not closed by ---") from None
    meta = _frontmatter(lines[1:end])
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise AgentDefinitionError(f"{path}: the definition has no body (system prompt)")
    name = meta.get("name")
    tools = meta.get("tools")
    model = meta.get("model")
    max_turns = meta.get("maxTurns")
    return AgentDefinition(
        name=str(name) if name else path.stem,
        path=path,
        system_prompt=body,
        tools=_tool_list(tools) if tools else None,
        model=str(model) if model and model != "inherit" else None,
        permission_mode=str(meta["permissionMode"]) if meta.get("permissionMode") else None,
        max_turns=int(max_turns) if isinstance(max_turns, str) and max_turns.isdigit() else None,
    )


def _frontmatter(lines: list[str]) -> dict[str, Any]:
    """Top-level keys only; indented lines continue the previous key (block scalar or list)."""
    meta: dict[str, Any] = {}
    key: str | None = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            item = line.strip()
            if key is not None and item.startswith("- ") and isinstance(meta.get(key), list):
                meta[key].append(_scalar(item[2:]))
            continue
        match = _KEY.match(line)
        if not match:
            continue
        key, value = match.group(1), match.group(2).strip()
        if value in ("", "|", "|-", ">", ">-"):
            meta[key] = [] if value == "" else ""  # a list follows, or a block scalar we do not need
        else:
            meta[key] = _scalar(value)
    return meta


def _scalar(value: str) -> Any:
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        return [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _tool_list(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else str(value).split(",")
    tools = [str(t).strip() for t in items if str(t).strip()]
    return tools or None
