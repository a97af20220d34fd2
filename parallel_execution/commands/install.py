"""``dispatch-runner install-agents``: copy the Claude Code bundle into a project's or the user's ``.claude/``.

The bundle is the agent definitions (``agents/*.md``) and the slash commands (``commands/*.md``).
In a source checkout they are read from the repository (``agents/`` and ``.claude/commands/``);
in an installed wheel from the package data ``parallel_execution/_bundle/{agents,commands}/``.

Installing never destroys a user's work. Every file written is recorded with its sha256 in a small
manifest, ``.claude/.parallel-dispatch.json``. On the next install a target file is:

- ``created`` when absent, ``unchanged`` when it already holds the bundle's bytes;
- ``updated`` when it still holds exactly what we wrote last time (no local edits);
- ``skipped`` when it differs from both (edited locally, or not ours), unless ``--force``, which
  makes it ``overwritten``;
- ``removed`` when a previous version installed it, the bundle no longer has it, and it is unedited.

So installing twice changes nothing the second time (not even the manifest), and an upgrade
replaces only untouched files. Files are written atomically.

The permission rules the dispatcher needs (``claude_code.permissions``: allow the task files and the safe
runner subcommands, ask before programs, writes outside the project, installs) are merged into one
settings file, chosen with ``--settings``: the target's own ``settings.json`` by default (a
project's is read by Claude Code only once the workspace is trusted), ``local`` for the project's
``settings.local.json``, ``user`` for ``~/.claude/settings.json`` (applies without trust, in every
project), ``none`` to only print them. The user's rules are kept; merging twice changes nothing.
``--rules-only`` writes just the rules (the plugin route: a plugin cannot grant permissions).

Human text goes to stderr and one JSON summary to stdout. Exit 0: the bundle is fully installed;
1: some files were skipped; 2: the target, the bundle or the settings file could not be used.

Example::

    dispatch-runner install-agents --project ~/code/shop
    dispatch-runner install-agents --project . --rules-only --settings user
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import orjson

from parallel_execution import __version__
from parallel_execution.claude_code.permissions import (
    PermissionRules,
    SettingsError,
    merge_rules,
    permission_rules,
    user_settings_file,
)
from parallel_execution.errors import DispatchError
from parallel_execution.traces.fsio import atomic_write_bytes, atomic_write_json, dumps_json

__all__ = [
    "MANIFEST_NAME",
    "PERMISSION_RULES",
    "SETTINGS_CHOICES",
    "BundleFile",
    "FileAction",
    "InstallError",
    "InstallReport",
    "bundle_files",
    "configure_parser",
    "install",
    "install_rules",
    "main",
    "resolve_target",
    "settings_path",
]

MANIFEST_NAME = ".parallel-dispatch.json"
MANIFEST_SCHEMA_VERSION = 1
# The rules the dispatcher agent needs: no prompt on the safe path, the user's approval for the rest.
PERMISSION_RULES: PermissionRules = permission_rules()
SETTINGS_CHOICES = ("target", "local", "user", "none")

_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout: parallel_execution/commands/install.py
_SOURCE_MARKER = "agent-parallel-dispatcher.md"

Action = Literal["created", "updated", "unchanged", "overwritten", "skipped", "removed"]
_WRITTEN: frozenset[str] = frozenset({"created", "updated", "overwritten"})


class InstallError(DispatchError):
    """The target directory or the bundle cannot be used; nothing was written."""


@dataclass(frozen=True, slots=True)
class BundleFile:
    """One bundle file: its path relative to ``.claude/`` (``agents/coder.md``) and its bytes."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class FileAction:
    path: str
    action: Action
    reason: str | None = None


@dataclass(slots=True)
class InstallReport:
    target: Path
    scope: str
    actions: list[FileAction] = field(default_factory=list)
    settings_file: Path | None = None
    rules_added: dict[str, list[str]] = field(default_factory=lambda: {"allow": [], "ask": []})

    @property
    def complete(self) -> bool:
        return not any(a.action == "skipped" for a in self.actions)

    def paths(self, *actions: str) -> list[str]:
        return [a.path for a in self.actions if a.action in actions]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "status": "installed" if self.complete else "incomplete",
            "version": __version__,
            "scope": self.scope,
            "target": str(self.target),
            "manifest": str(self.target / MANIFEST_NAME),
            "files": [{"path": a.path, "action": a.action, "reason": a.reason} for a in self.actions],
            "written": self.paths(*_WRITTEN),
            "unchanged": self.paths("unchanged"),
            "skipped": [{"path": a.path, "reason": a.reason} for a in self.actions if a.action == "skipped"],
            "removed": self.paths("removed"),
            "settings_file": str(self.settings_file) if self.settings_file else None,
            "permission_rules": {"allow": list(PERMISSION_RULES.allow), "ask": list(PERMISSION_RULES.ask)},
            "permission_rules_added": self.rules_added,
            "needs_trust": self.needs_trust,
        }

    @property
    def needs_trust(self) -> bool:
        """Rules in a project's settings apply only after the workspace is trusted in Claude Code."""
        return self.settings_file is not None and self.settings_file != user_settings_file()


# --- the bundle -------------------------------------------------------------------------------


def bundle_files(source_root: Path | None = None, package_root: Traversable | None = None) -> list[BundleFile]:
    """The bundle's files, from the source checkout if this is one, else from the package data."""
    source = _SOURCE_ROOT if source_root is None else source_root
    if (source / "agents" / _SOURCE_MARKER).is_file():
        dirs: dict[str, Traversable] = {"agents": source / "agents", "commands": source / ".claude" / "commands"}
    else:
        package = resources.files("parallel_execution") / "_bundle" if package_root is None else package_root
        dirs = {"agents": package / "agents", "commands": package / "commands"}
    found = [BundleFile(f"{kind}/{name}", data) for kind, folder in dirs.items() for name, data in _markdown(folder)]
    if not any(f.path.startswith("agents/") for f in found):
        where = ", ".join(str(folder) for folder in dirs.values())
        raise InstallError(f"bundle files not found (looked in {where}); reinstall parallel-dispatch")
    return found


def _markdown(folder: Traversable) -> Iterable[tuple[str, bytes]]:
    if not folder.is_dir():
        return []
    entries = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".md")), key=lambda e: e.name)
    return [(entry.name, entry.read_bytes()) for entry in entries if entry.is_file()]


# --- the target -------------------------------------------------------------------------------


def resolve_target(project: str | os.PathLike[str] | None, user: bool) -> tuple[str, Path]:
    """``("project", DIR/.claude)`` or ``("user", ~/.claude)``; honours ``CLAUDE_CONFIG_DIR`` for the user."""
    if user:
        configured = os.environ.get("CLAUDE_CONFIG_DIR")
        return "user", Path(configured).expanduser() if configured else Path.home() / ".claude"
    if project is None:
        raise InstallError("choose a target: --project DIR or --user")
    root = Path(project).expanduser()
    if not root.is_dir():
        raise InstallError(f"project directory {str(root)!r} does not exist or is not a directory")
    return "project", root.resolve() / ".claude"


def install(files: Sequence[BundleFile], target: Path, *, force: bool = False, scope: str = "project") -> InstallReport:
    """Copy ``files`` under ``target`` (a ``.claude`` folder) as the module docstring describes."""
    if target.exists() and not target.is_dir():
        raise InstallError(f"{str(target)!r} exists and is not a directory")
    previous, previous_version = _read_manifest(target / MANIFEST_NAME)
    recorded = dict(previous)
    report = InstallReport(target=target, scope=scope)
    for bundle_file in files:
        action = _install_one(bundle_file, target, previous.get(bundle_file.path), force)
        report.actions.append(action)
        if action.action != "skipped":
            recorded[bundle_file.path] = bundle_file.sha256
    bundled = {f.path for f in files}
    for stale in sorted(set(previous) - bundled):
        action = _remove_stale(stale, target, previous[stale])
        report.actions.append(action)
        if action.action == "removed":
            del recorded[stale]
    if recorded != previous or previous_version != __version__:
        manifest = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "installer": "parallel-dispatch",
            "version": __version__,
            "files": {path: {"sha256": digest} for path, digest in sorted(recorded.items())},
        }
        atomic_write_json(target / MANIFEST_NAME, manifest)
    return report


def settings_path(choice: str, target: Path) -> Path | None:
    """Where ``--settings choice`` puts the rules for a bundle installed into ``target``."""
    if choice == "none":
        return None
    if choice == "user":
        return user_settings_file()
    return target / ("settings.local.json" if choice == "local" else "settings.json")


def install_rules(report: InstallReport, settings: Path | None) -> None:
    """Merge the permission rules into ``settings`` (none: just report where they would go)."""
    report.settings_file = settings
    if settings is not None:
        report.rules_added = merge_rules(settings, PERMISSION_RULES)


def _install_one(bundle_file: BundleFile, target: Path, recorded_sha: str | None, force: bool) -> FileAction:
    dest = target / bundle_file.path
    if dest.is_dir():
        return FileAction(bundle_file.path, "skipped", "a directory is in the way")
    current = _read_bytes(dest)
    if current is None:
        action: Action = "created"
    elif current == bundle_file.data:
        return FileAction(bundle_file.path, "unchanged")
    elif recorded_sha is not None and hashlib.sha256(current).hexdigest() == recorded_sha:
        action = "updated"
    elif force:
        action = "overwritten"
    else:
        why = "local edits" if recorded_sha is not None else "not installed by parallel-dispatch"
        return FileAction(bundle_file.path, "skipped", f"{why}; rerun with --force to overwrite")
    atomic_write_bytes(dest, bundle_file.data)
    return FileAction(bundle_file.path, action)


def _remove_stale(path: str, target: Path, recorded_sha: str) -> FileAction:
    dest = target / path
    if dest.is_dir():
        return FileAction(path, "skipped", "no longer in the bundle; a directory is in its place")
    current = _read_bytes(dest)
    if current is not None and hashlib.sha256(current).hexdigest() != recorded_sha:
        return FileAction(path, "skipped", "no longer in the bundle but has local edits; left in place")
    dest.unlink(missing_ok=True)
    return FileAction(path, "removed")


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_manifest(path: Path) -> tuple[dict[str, str], str | None]:
    """Recorded ``path -> sha256`` and version; an absent or unreadable manifest records nothing."""
    try:
        document = orjson.loads(path.read_bytes())
        files = {str(name): str(entry["sha256"]) for name, entry in document["files"].items()}
        return files, document.get("version")
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return {}, None


# --- command line -----------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``install-agents`` options to ``parser``."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--project", metavar="DIR", help="install into DIR/.claude/ (a project's Claude Code setup)")
    target.add_argument(
        "--user", action="store_true", help="install into ~/.claude/ (or $CLAUDE_CONFIG_DIR) for every project"
    )
    parser.add_argument("--force", action="store_true", help="overwrite bundle files that were edited locally")
    parser.add_argument(
        "--settings", choices=SETTINGS_CHOICES, default="target",
        help="where the permission rules go: the target's settings.json (default; a project's needs the workspace "
             "trusted), the project's settings.local.json, ~/.claude/settings.json (no trust needed), or none (print)",
    )
    parser.add_argument("--rules-only", action="store_true",
                        help="write only the permission rules, no agent files (for the plugin route)")


def main(args: argparse.Namespace) -> int:
    """Run ``install-agents`` with parsed ``args``; returns the exit code."""
    try:
        scope, target = resolve_target(args.project, args.user)
        if args.settings == "local" and scope == "user":
            raise InstallError("--settings local is a project's file; use it with --project DIR")
        if args.rules_only:
            report = InstallReport(target=target, scope=scope)
        else:
            report = install(bundle_files(), target, force=args.force, scope=scope)
        install_rules(report, settings_path(args.settings, target))
    except (InstallError, SettingsError, OSError) as exc:
        print(f"install-agents: {exc}", file=sys.stderr)
        _emit({"schema_version": MANIFEST_SCHEMA_VERSION, "status": "error", "error": str(exc)})
        return 2
    _explain(report)
    _emit(report.to_json())
    return 0 if report.complete else 1


def _explain(report: InstallReport) -> None:
    lines = [f"parallel-dispatch {__version__} bundle -> {report.target} ({report.scope})"]
    lines += [f"  {a.action:<11} {a.path}" + (f"  ({a.reason})" if a.reason else "") for a in report.actions]
    if report.actions:
        lines.append("Claude Code loads new agents and commands at the next session start.")
    added = report.rules_added["allow"] + report.rules_added["ask"]
    if report.settings_file is None:
        rules = orjson.dumps(PERMISSION_RULES.as_settings()).decode()
        lines.append(f"Permission rules not written (--settings none); add them to a settings file: {rules}")
    elif added:
        lines.append(f"Added {len(added)} permission rules to {report.settings_file} (your rules are kept).")
    else:
        lines.append(f"Permission rules already in {report.settings_file}.")
    if report.needs_trust:
        lines.append("Claude Code applies a project's settings only once the workspace is trusted: start `claude` "
                     "there once and accept the trust dialog (or use --settings user).")
    print("\n".join(lines), file=sys.stderr)


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.buffer.write(dumps_json(document, indent=True) + b"\n")
    sys.stdout.flush()


def _standalone(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parallel_execution.commands.install", description="Copy the Claude Code bundle into a .claude/ folder."
    )
    configure_parser(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(_standalone())
