"""The user's project interpreter: where code is analysed, imported and validated.

Generated or debugged code runs in the user's project, not in the runner's environment, so every
check that depends on installed packages (imports resolving, mypy's view of third-party types, the
ONEX framework's validators) asks that project's Python. It is found in this order:

1. an explicit ``python`` (a task field or ``config``), relative to the workspace when not absolute;
2. a virtual environment in the workspace or one of its parents up to the project root (the first
   folder holding ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``): ``.venv``, ``venv``,
   ``env``;
3. ``$VIRTUAL_ENV`` when the workspace lies inside the folder it was activated for;
4. otherwise the runner's own interpreter, reported as such (``source == "runner"``) so callers can
   say that the project declared none.

Example::

    py = find_project_interpreter(Path("examples/workspace"))
    py.source, py.version          # ("workspace venv", "3.12.1")
    py.has_module("pydantic")      # asks that interpreter, cached per (interpreter, module)

Raises :class:`InterpreterNotFound` when an explicit ``python`` does not exist or does not run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from parallel_execution.errors import DispatchError

__all__ = ["InterpreterNotFound", "ProjectInterpreter", "find_project_interpreter"]

Source = Literal["configured", "workspace venv", "active venv", "runner"]

_VENV_NAMES = (".venv", "venv", "env")
_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_PROBE_TIMEOUT = 30.0


class InterpreterNotFound(DispatchError):
    """An explicitly configured interpreter is missing or does not run."""


@dataclass(frozen=True, slots=True)
class ProjectInterpreter:
    """A Python interpreter of the user's project and where it was found."""

    path: Path
    source: Source
    version: str = field(default="")

    @property
    def is_runner(self) -> bool:
        return self.source == "runner"

    def has_module(self, name: str) -> bool:
        """Whether ``import name`` would find the top-level module in this interpreter."""
        return _has_module(str(self.path), name.partition(".")[0])

    def describe(self) -> str:
        return f"{self.path} (Python {self.version}, {self.source})"


def find_project_interpreter(workspace: Path, python: str | None = None) -> ProjectInterpreter:
    """The interpreter that runs the project at ``workspace`` (see the module docstring for the order)."""
    workspace = workspace.resolve()
    if python:
        candidate = Path(python).expanduser()
        if not candidate.is_absolute():
            candidate = workspace / candidate
        version = _version(str(candidate))
        if version is None:
            raise InterpreterNotFound(f"configured python {python!r} does not exist or does not run")
        return ProjectInterpreter(candidate, "configured", version)
    for folder in _folders_up_to_root(workspace):
        for name in _VENV_NAMES:
            found = _venv_python(folder / name)
            if found is not None and (version := _version(str(found))) is not None:
                return ProjectInterpreter(found, "workspace venv", version)
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        root = Path(active).resolve().parent
        found = _venv_python(Path(active))
        if found is not None and workspace.is_relative_to(root) and (version := _version(str(found))):
            return ProjectInterpreter(found, "active venv", version)
    return ProjectInterpreter(Path(sys.executable), "runner", ".".join(map(str, sys.version_info[:3])))


def _folders_up_to_root(start: Path) -> list[Path]:
    """``start`` and its parents, stopping at the first project root (inclusive)."""
    folders: list[Path] = []
    for folder in (start, *start.parents):
        folders.append(folder)
        if any((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folders
    return [start]  # no project root: look only in the workspace itself


def _venv_python(venv: Path) -> Path | None:
    if not (venv / "pyvenv.cfg").is_file():
        return None
    for relative in ("bin/python", "bin/python3", "Scripts/python.exe"):
        if (venv / relative).exists():
            return venv / relative
    return None


@lru_cache(maxsize=64)
def _version(python: str) -> str | None:
    try:
        proc = subprocess.run([python, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                              capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@lru_cache(maxsize=1024)
def _has_module(python: str, module: str) -> bool:
    if python == sys.executable:
        import importlib.util

        return importlib.util.find_spec(module) is not None
    code = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)"
    try:
        proc = subprocess.run([python, "-c", code, module], capture_output=True, timeout=_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0
