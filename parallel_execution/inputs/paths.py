"""Workspace containment: every file path a task names is resolved against the workspace.

Relative paths are taken from the workspace root; ``..`` and symlinks are resolved (realpath)
before the check, so ``../x``, ``/etc/x`` and a symlink that leads out are all rejected unless the
dispatch allows paths outside the workspace. Agents declare path fields with ``WorkspacePath``; the
check runs inside pydantic validation, using the workspace passed as validation context, so it
happens at validation time, before anything runs, and again on the resolved input just before a
task starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

from parallel_execution.errors import DispatchError

__all__ = ["PathOutsideWorkspace", "WorkspacePath", "WorkspacePolicy", "expand_user", "resolve_in_workspace"]

CONTEXT_KEY = "workspace_policy"


class PathOutsideWorkspace(DispatchError, ValueError):
    """A path leads outside the workspace (directly, through ``..`` or through a symlink)."""


@dataclass(frozen=True, slots=True)
class WorkspacePolicy:
    """Where task paths may point. ``root`` is absolute and already resolved."""

    root: Path
    allow_outside: bool = False

    @classmethod
    def create(cls, root: str | os.PathLike[str] | None, allow_outside: bool = False) -> WorkspacePolicy:
        base = expand_user(root) if root is not None else Path.cwd()
        return cls(Path(os.path.realpath(base)), allow_outside)

    def as_context(self) -> dict[str, Any]:
        return {CONTEXT_KEY: self}


def resolve_in_workspace(value: str | os.PathLike[str], policy: WorkspacePolicy) -> Path:
    """Return the absolute, symlink-free form of ``value``; raise if it leaves the workspace."""
    raw = os.fspath(value)
    if not raw or "\x00" in raw:
        raise PathOutsideWorkspace(f"invalid path {raw!r}")
    path = expand_user(raw)
    if not path.is_absolute():
        path = policy.root / path
    resolved = Path(os.path.realpath(path))
    if not policy.allow_outside and not resolved.is_relative_to(policy.root):
        raise PathOutsideWorkspace(
            f"path {raw!r} resolves to {str(resolved)!r}, outside the workspace {str(policy.root)!r} "
            "(point --workspace / config.workspace at a folder containing it, or set "
            "config.allow_outside_workspace)"
        )
    return resolved


def expand_user(value: str | os.PathLike[str]) -> Path:
    """``Path(value).expanduser()``, with an unknown ``~user`` as a ValueError naming it."""
    try:
        return Path(value).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        head = os.fspath(value).split(os.sep, 1)[0]
        raise PathOutsideWorkspace(f"path {os.fspath(value)!r}: cannot expand {head!r} (no such user, or no "
                                   "home directory)") from None


def _check_workspace_path(value: str, info: ValidationInfo) -> str:
    policy = (info.context or {}).get(CONTEXT_KEY)
    if policy is None:  # used outside a dispatch (plain model construction): leave as given
        return value
    return str(resolve_in_workspace(value, policy))


# A path field of an agent input: resolved to an absolute path inside the workspace.
WorkspacePath = Annotated[str, AfterValidator(_check_workspace_path)]
