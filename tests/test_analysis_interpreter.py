"""The project's interpreter is found in the workspace, never silently replaced by the runner's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from parallel_execution.analysis.interpreter import InterpreterNotFound, find_project_interpreter


def test_without_a_project_venv_the_runner_is_used_and_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    found = find_project_interpreter(tmp_path)
    assert found.source == "runner" and found.path == Path(sys.executable)


def test_a_venv_in_the_project_root_is_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    found = find_project_interpreter(tmp_path / "src" / "pkg")
    assert found.source == "workspace venv"
    assert found.path.parent.parent == (tmp_path / ".venv").resolve()
    assert found.has_module("json") and not found.has_module("pydantic")


def test_a_configured_python_that_does_not_exist_is_an_error(tmp_path: Path):
    with pytest.raises(InterpreterNotFound, match="does not exist or does not run"):
        find_project_interpreter(tmp_path, python="nope/bin/python")
