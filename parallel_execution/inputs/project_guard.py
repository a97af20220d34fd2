"""Inside Claude Code the runner writes only inside the project unless the user approved more.

A task file is written by a model, so a permission rule on the command line cannot see what it
asks for (``config.workspace: "/"``, ``config.trace_dir: "/tmp/x"``, ``allow_outside_workspace``).
When the runner is started by Claude Code's tools (``CLAUDECODE=1`` is in the environment of every
command Claude Code runs), every place it would write must therefore lie inside the current
directory, the project the session works in: the workspace, the trace folder, the isolation
repository, ``report -o``, a plan file. Anything else is an input error (exit 2, nothing run,
nothing written) that names the path and says how to go on: ask the user, and with their consent rerun with ``--allow-outside-project``,
which the installed ``ask`` rule puts in front of the user (``claude_code.permissions``).

Outside Claude Code (a shell, CI, Python) nothing changes: the flag is accepted and does nothing.

Example::

    check_args(args)            # CLI paths: --workspace, --trace-dir, -o, the plan file
    check_input(data, args)     # the task file's own config.workspace / trace_dir / allow_outside_workspace
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.schema import DispatchInput

__all__ = ["FLAG", "GUARD_ENV", "active", "add_flag", "check_args", "check_input"]

GUARD_ENV = "CLAUDECODE"
FLAG = "--allow-outside-project"
_ARG_PATHS = (("workspace", "--workspace"), ("trace_dir", "--trace-dir"), ("output", "--output"),
              ("plan_file", "PLAN"))


def active(args: argparse.Namespace | None = None) -> bool:
    """True when started by Claude Code and the user has not approved writing outside the project."""
    approved = bool(getattr(args, "allow_outside_project", False))
    return os.environ.get(GUARD_ENV) == "1" and not approved


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(FLAG, action="store_true",
                        help="inside Claude Code: allow writing outside the current project (ask the user first)")


def _outside(value: str, base: Path) -> Path | None:
    path = Path(os.path.realpath(base / Path(value).expanduser()))
    return None if path.is_relative_to(Path(os.path.realpath(Path.cwd()))) else path


def _refusal(what: str, value: str, path: Path, field: str | None) -> InputIssue:
    return InputIssue(
        f"inside Claude Code the runner writes only inside the project {str(Path.cwd())!r}: {what} {value!r} "
        f"resolves to {str(path)!r}. Ask the user; with their consent rerun the same command with {FLAG}",
        None, field)


def check_args(args: argparse.Namespace) -> None:
    """Refuse command-line paths outside the project; raise ``InvalidInput`` listing each one."""
    if not active(args):
        return
    issues = [_refusal(flag, value, path, flag)
              for attribute, flag in _ARG_PATHS
              if isinstance(value := getattr(args, attribute, None), str) and value != "-"
              and (path := _outside(value, Path.cwd())) is not None]
    if issues:
        raise InvalidInput(issues)


def check_input(data: DispatchInput, args: argparse.Namespace | None) -> None:
    """Refuse a task file whose config writes outside the project (after CLI overrides)."""
    if not active(args):
        return
    config = data.config
    issues = []
    if config.allow_outside_workspace:
        issues.append(InputIssue(
            f"inside Claude Code config.allow_outside_workspace needs the user's consent: ask them, then rerun "
            f"with {FLAG}; otherwise keep every path inside the project", None, "config.allow_outside_workspace"))
    repo = config.isolation.repo if config.isolation is not None else None
    for field, value in (("config.workspace", config.workspace), ("config.trace_dir", config.trace_dir),
                         ("config.isolation.repo", repo)):
        if isinstance(value, str) and (path := _outside(value, Path.cwd())) is not None:
            issues.append(_refusal(field, value, path, field))
    if issues:
        raise InvalidInput(issues)
