"""errors: one tree holds every exception the package defines, the docstring shows it, and a cycle
is raised as CycleError (a kind of InvalidInput: exit 2) carrying the cycle."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import pytest

import parallel_execution
from parallel_execution import errors
from parallel_execution.commands.cli import main
from parallel_execution.dispatcher import dispatch
from parallel_execution.errors import CycleError, DispatchError, InvalidInput

OPTIONAL = ("rich", "claude_agent_sdk", "dask", "distributed")  # extras a module may need


def _package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(parallel_execution.__path__, "parallel_execution."):
        try:
            module = importlib.import_module(info.name)
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] in OPTIONAL:
                continue
            raise
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_the_package_defines_is_a_dispatch_error_shown_in_the_tree():
    found = _package_exceptions()
    assert len(found) >= 15
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, DispatchError))
    assert outside == []
    tree = errors.__doc__ or ""
    missing = sorted(name for name, cls in found.items() if f"{cls.__name__} " not in tree + " ")
    assert missing == []


def test_errors_all_lists_exactly_what_the_module_defines():
    defined = {name for name, value in vars(errors).items()
               if inspect.isclass(value) and value.__module__ == errors.__name__}
    assert set(errors.__all__) == defined
    assert errors.__all__ == sorted(errors.__all__)


@pytest.mark.parametrize("reexported", ["CycleError", "DispatchError", "InvalidInput", "TaskFailure"])
def test_the_package_root_exports_the_tree_s_public_names(reexported):
    assert getattr(parallel_execution, reexported) is getattr(errors, reexported)


CYCLE = [{"task_id": "a", "agent": "echo", "dependencies": ["c"]},
         {"task_id": "b", "agent": "echo", "dependencies": ["a"]},
         {"task_id": "c", "agent": "echo", "dependencies": ["b"]},
         {"task_id": "d", "agent": "nope"}]


def test_validation_raises_cycle_error_carrying_the_cycle_and_every_other_issue(tmp_path):
    with pytest.raises(CycleError) as caught:
        dispatch(CYCLE, {"trace_dir": str(tmp_path / "t"), "workspace": str(tmp_path)})
    exc = caught.value
    assert isinstance(exc, InvalidInput)
    assert exc.cycle == ["a", "c", "b", "a"] and exc.cycles == [exc.cycle]
    assert {i.field for i in exc.issues} == {"dependencies", "agent"}  # the unknown agent is reported too
    assert not (tmp_path / "t").exists()  # nothing written


def test_a_cycle_on_the_command_line_is_exit_2_with_the_cycle(tmp_path, capsys):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps({"tasks": CYCLE[:3], "config": {"workspace": str(tmp_path)}}))
    assert main(["run", str(path)]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "invalid" and document["errors"][0]["cycle"] == ["a", "c", "b", "a"]


def test_a_usage_error_is_invalid_input():
    from parallel_execution.commands.cli import UsageError

    exc = UsageError("dispatch-runner: unknown flag --x")
    assert isinstance(exc, InvalidInput) and exc.to_json()["errors"][0]["message"].startswith("usage: ")
