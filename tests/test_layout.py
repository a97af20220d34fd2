"""The package layout: old flat import paths are the same modules as their new homes."""

from __future__ import annotations

import importlib

import pytest

from parallel_execution._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_import_path_is_the_moved_module_itself(old: str):
    assert importlib.import_module(f"parallel_execution.{old}") is importlib.import_module(
        f"parallel_execution.{MOVED[old]}")


def test_the_old_claude_package_and_its_submodules_are_claude_code():
    old = importlib.import_module("parallel_execution.claude.session")
    assert old is importlib.import_module("parallel_execution.claude_code.session")
    assert importlib.import_module("parallel_execution.claude") is importlib.import_module(
        "parallel_execution.claude_code")


def test_graph_and_traces_packages_keep_the_old_modules_names():
    from parallel_execution.graph import detect_circular_dependencies, validate_task_dependencies
    from parallel_execution.traces import TraceWriter, index_path

    assert callable(detect_circular_dependencies) and callable(validate_task_dependencies)
    assert TraceWriter and callable(index_path)
