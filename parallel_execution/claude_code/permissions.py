"""The Claude Code permission rules the dispatcher needs, and merging them into a settings file.

Claude Code evaluates ``deny`` → ``ask`` → ``allow`` rules; in default permission mode anything no
rule allows needs the user's approval (headless: it is denied). The dispatcher's safe path must
run without a prompt, and everything that can run programs, write outside the project or change
the user's global Claude setup must stay behind the user's approval. A ``Bash(prefix *)`` rule
matches *any* arguments, so the split is made by subcommand, and the dangerous forms get ``ask``
rules that win over every allow rule (the user's own broad ones included):

- allow ``Edit(.dispatch/**)`` (task files; the CLI's Write tool is matched by ``Edit`` rules, not
  by ``Write(...)``) and ``Bash(<runner> <sub> *)`` for the subcommands that only read, check or
  run tasks without programs: ``validate``, ``run``, ``resume``, ``plan``, ``wait``, ``report``,
  ``traces``, ``schema``;
- ask ``Bash(<runner> * --allow-commands*)`` (``command`` tasks and model sessions with a shell),
  ``Bash(<runner> * --allow-outside-project*)`` (the runner refuses, inside Claude Code, to write
  outside the current project without it: see ``inputs.project_guard``), ``install-agents`` (it writes
  settings and agent files, ``--user`` into ``~/.claude``) and ``claude`` (runs the Claude program).

The runner disables argparse's prefix matching, so ``--allow-com`` cannot slip past the ask rule.

``merge_rules`` adds what is missing to a settings file: the user's rules, their order and every
other setting are kept, nothing is removed, and a second merge changes nothing (the file is not even
rewritten). A settings file that is not a JSON object is an error and is left untouched.

Example::

    merge_rules(Path("proj/.claude/settings.json"), permission_rules())   # -> ["Edit(.dispatch/**)", ...] added
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.errors import DispatchError
from parallel_execution.traces.fsio import atomic_write_bytes

__all__ = [
    "ASK_SUBCOMMANDS",
    "DANGEROUS_FLAGS",
    "RUNNER_PREFIXES",
    "SAFE_SUBCOMMANDS",
    "TASK_FILE_RULE",
    "PermissionRules",
    "SettingsError",
    "merge_rules",
    "missing_rules",
    "permission_rules",
    "user_settings_file",
]

RUNNER_PREFIXES = ("dispatch-runner", "python -m parallel_execution")
SAFE_SUBCOMMANDS = ("validate", "run", "resume", "plan", "wait", "report", "traces", "schema", "worktrees list")
DANGEROUS_FLAGS = ("--allow-commands", "--allow-outside-project")
# prune removes worktrees (committing their work first) and, with --branches, run results: the user says yes.
ASK_SUBCOMMANDS = ("install-agents", "claude", "worktrees prune")
TASK_FILE_RULE = "Edit(.dispatch/**)"


class SettingsError(DispatchError):
    """A settings file exists but is not a JSON object with list-valued permission rules."""


@dataclass(frozen=True, slots=True)
class PermissionRules:
    allow: tuple[str, ...]
    ask: tuple[str, ...]

    def as_settings(self) -> dict[str, Any]:
        return {"permissions": {"allow": list(self.allow), "ask": list(self.ask)}}


def permission_rules(prefixes: Sequence[str] = RUNNER_PREFIXES) -> PermissionRules:
    """The rules for ``prefixes`` (the ways the runner is called), allow and ask lists in a stable order."""
    allow = [TASK_FILE_RULE] + [f"Bash({prefix} {sub} *)" for prefix in prefixes for sub in SAFE_SUBCOMMANDS]
    ask = [rule for prefix in prefixes for flag in DANGEROUS_FLAGS
           for rule in (f"Bash({prefix} * {flag}*)", f"Bash({prefix} {flag}*)")]
    ask += [f"Bash({prefix} {sub} *)" for prefix in prefixes for sub in ASK_SUBCOMMANDS]
    return PermissionRules(tuple(allow), tuple(ask))


def user_settings_file() -> Path:
    """``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json`` when that is set)."""
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(configured).expanduser() if configured else Path.home() / ".claude") / "settings.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if not raw.strip():
        return {}
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SettingsError(f"{str(path)!r} is not valid JSON ({exc}); fix it, nothing was written") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{str(path)!r} is not a JSON object; fix it, nothing was written")
    permissions = document.get("permissions", {})
    if not isinstance(permissions, dict) or any(
        not isinstance(permissions.get(kind, []), list) for kind in ("allow", "ask", "deny")
    ):
        raise SettingsError(f"{str(path)!r}: permissions.allow/ask/deny must be lists; nothing was written")
    return document


def missing_rules(path: Path, rules: PermissionRules) -> dict[str, list[str]]:
    """``{"allow": [...], "ask": [...]}``: the rules ``path`` lacks (all of them when it is absent or unreadable)."""
    try:
        permissions = _load(path).get("permissions", {})
    except SettingsError:
        permissions = {}
    return {kind: [r for r in wanted if r not in permissions.get(kind, [])]
            for kind, wanted in (("allow", rules.allow), ("ask", rules.ask))}


def merge_rules(path: Path, rules: PermissionRules) -> dict[str, list[str]]:
    """Add the missing ``rules`` to the settings file at ``path``; return what was added.

    Creates the file (and its folder) when absent; writes nothing when nothing is missing. A rule the
    user put in ``deny`` is respected: it is not added to ``allow`` or ``ask``.
    """
    document = _load(path) or {"$schema": "https://json.schemastore.org/claude-code-settings.json"}
    permissions = document.setdefault("permissions", {})
    denied = set(permissions.get("deny", []))
    added: dict[str, list[str]] = {"allow": [], "ask": []}
    for kind, wanted in (("allow", rules.allow), ("ask", rules.ask)):
        present = permissions.setdefault(kind, [])
        for rule in wanted:
            if rule not in present and rule not in denied:
                present.append(rule)
                added[kind].append(rule)
    if added["allow"] or added["ask"]:
        atomic_write_bytes(path, orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return added
