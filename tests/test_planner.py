"""Validation before anything runs: every problem named by task and field."""

from __future__ import annotations

import os

import pytest

from parallel_execution.errors import InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input


def plan_errors(document, **kw):
    with pytest.raises(InvalidInput) as info:
        build_plan(parse_input(document), **kw)
    return [(i.task_id, i.field, i.message) for i in info.value.issues]


def doc(*tasks, **config):
    return {"tasks": list(tasks), "config": config}


def echo(task_id, deps=(), **input_data):
    return {"task_id": task_id, "agent": "echo", "dependencies": list(deps), "input_data": input_data}


@pytest.mark.parametrize(
    ("task_id", "ok"),
    [("gen-user.effect_1", True), ("a" * 128, True), ("a" * 129, False), ("has space", False),
     ("../escape", False), ("", False), ("ünï", False)],
)
def test_task_ids_must_be_safe_file_names(task_id, ok):
    document = doc({"task_id": task_id, "agent": "echo"})
    if ok:
        parse_input(document)
    else:
        with pytest.raises(InvalidInput, match="task_id"):
            parse_input(document)


def test_unknown_fields_are_errors_at_every_level():
    with pytest.raises(InvalidInput) as info:
        parse_input({"tasks": [{"task_id": "a", "agent": "echo", "dependancies": []}], "config": {"max_worker": 2},
                     "extra": 1})
    fields = {(i.task_id, i.field) for i in info.value.issues}
    assert fields == {("a", "dependancies"), (None, "config.max_worker"), (None, "extra")}


def test_agent_input_is_validated_before_running():
    errors = plan_errors(doc(echo("a", mesage="typo"), {"task_id": "b", "agent": "nope"}))
    assert ("a", "input_data.mesage", "unknown field 'mesage' (did you mean 'message'?)") in errors
    assert errors[-1][:2] == ("b", "agent") and errors[-1][2].startswith("unknown agent 'nope'; known agents: ")


def test_fields_holding_references_are_checked_after_resolution_only():
    build_plan(parse_input(doc(echo("a"), echo("b", ["a"], delay_seconds={"$from": "a", "select": ".x"}))))


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"$from": "c"}, "$from 'c' refers to a task that is not one of its (transitive) dependencies"),
        ({"$from": "ghost"}, "$from 'ghost' refers to a unknown task"),
        ({"$from": "a", "select": ".["}, "invalid jq filter '.['"),
        ({"$from": "a", "selct": "."}, "a $from reference takes only '$from' and 'select', not ['selct']"),
    ],
)
def test_bad_references_are_input_errors(ref, message):
    document = doc(echo("a"), echo("c"), echo("b", ["a"], message={"nested": [ref]}))
    errors = plan_errors(document)
    assert any(task == "b" and msg.startswith(message) for task, _, msg in errors), errors


def test_reference_field_path_is_reported():
    errors = plan_errors(doc(echo("a"), echo("b", [], message={"nested": [{"$from": "a"}]})))
    assert errors[0][:2] == ("b", "input_data.message.nested[0]")


def test_transitive_dependencies_may_be_referenced():
    build_plan(parse_input(doc(echo("a"), echo("b", ["a"]), echo("c", ["b"], message={"$from": "a"}))))


def test_write_conflicts_between_concurrent_tasks(tmp_path):
    tasks = [{"task_id": "w1", "agent": "echo", "writes": ["out/x.py"]},
             {"task_id": "w2", "agent": "echo", "writes": ["./out/../out/x.py"]},
             {"task_id": "w3", "agent": "echo", "writes": ["out/x.py"], "dependencies": ["w1", "w2"]},
             {"task_id": "r1", "agent": "echo", "reads": ["out/y.py"]},
             {"task_id": "w4", "agent": "echo", "writes": ["out/y.py"]},
             {"task_id": "r2", "agent": "echo", "reads": ["out/y.py"], "dependencies": ["w4"]}]
    errors = plan_errors(doc(*tasks, workspace=str(tmp_path)))
    target = os.path.realpath(tmp_path / "out" / "x.py")
    assert errors == [
        ("w1", "writes", f"conflict on {target!r}: task 'w2' also writes it and may run at the same time; "
                         "make one depend on the other"),
        ("r1", "reads", f"conflict on {os.path.realpath(tmp_path / 'out' / 'y.py')!r}: task 'w4' also writes it "
                        "and may run at the same time; make one depend on the other"),
    ]


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "link/escape.txt"])
def test_paths_leaving_the_workspace_are_rejected(tmp_path, path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "link").symlink_to(tmp_path)
    errors = plan_errors(doc({"task_id": "a", "agent": "echo", "writes": [path]}, workspace=str(ws)))
    assert errors[0][:2] == ("a", "writes[0]") and "outside the workspace" in errors[0][2]


def test_allow_outside_workspace_lifts_the_path_check(tmp_path):
    build_plan(parse_input(doc({"task_id": "a", "agent": "echo", "writes": ["/tmp/x"]},
                               workspace=str(tmp_path), allow_outside_workspace=True)))


def test_command_tasks_need_allow_commands():
    document = doc({"task_id": "c", "agent": "command", "input_data": {"argv": ["true"]}})
    assert plan_errors(document)[0][:2] == ("c", "agent")
    build_plan(parse_input(document), allow_commands=True)


def test_missing_workspace_is_an_error(tmp_path):
    errors = plan_errors(doc(echo("a"), workspace=str(tmp_path / "missing")))
    assert errors[0][1] == "config.workspace"


def test_plan_description_has_levels_and_expectations():
    tasks = [{**echo("a"), "estimated_seconds": 2}, echo("b"), {**echo("c", ["a", "b"]), "estimated_seconds": 3}]
    plan = build_plan(parse_input(doc(*tasks, max_workers=2)))
    d = plan.describe()
    assert d["levels"] == [["a", "b"], ["c"]]
    assert d["critical_path"] == ["a", "c"] and d["critical_path_seconds"] == 5
    assert d["expected_makespan_seconds"] == 5 and d["expected_speedup"] == 1.2


def test_empty_and_non_json_input():
    with pytest.raises(InvalidInput, match="empty input"):
        parse_input(b"   ")
    with pytest.raises(InvalidInput, match="invalid JSON"):
        parse_input(b"{nope")
    with pytest.raises(InvalidInput, match=r"^input is not UTF-8 text \(byte 0\)"):
        parse_input(b"\xff\xfe")


def test_a_folder_covers_the_files_in_it(tmp_path):
    tasks = [{"task_id": "gen", "agent": "echo", "writes": ["out/n.py"]},
             {"task_id": "scan", "agent": "echo", "reads": ["out"]},
             {"task_id": "later", "agent": "echo", "reads": ["out"], "dependencies": ["gen"]}]
    errors = plan_errors(doc(*tasks, workspace=str(tmp_path)))
    out = os.path.realpath(tmp_path / "out")
    assert errors == [("gen", "writes", f"conflict on {os.path.join(out, 'n.py')!r} and {out!r}: task 'scan' also "
                                        f"reads {out!r} and may run at the same time; make one depend on the other")]
