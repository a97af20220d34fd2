"""``dispatch-runner schema`` accepts what the runner accepts: ``$from`` references in any field
(issue 13, item 20), and still rejects what the runner rejects."""

from __future__ import annotations

import pytest

from parallel_execution.commands.cli import input_schema

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(input_schema())


def _doc(message_field):
    return {"tasks": [{"task_id": "a", "agent": "echo", "input_data": {"message": "x"}},
                      {"task_id": "b", "agent": "echo", "dependencies": ["a"],
                       "input_data": {"delay_seconds": message_field}}]}


@pytest.mark.parametrize("value", [
    {"$from": "a", "select": ".message | length"},
    {"$from": "a"},
    [0.1, {"$from": "a"}],
    {"nested": {"deeper": [{"$from": "a", "select": "."}]}},
])
def test_valid_input_with_from_references_is_valid_against_the_schema(validator, value):
    assert list(validator.iter_errors(_doc(value))) == []


@pytest.mark.parametrize("value", [-1, "soon", {"$from": 5}, {"$from": "a", "sel": "."}, {"nested": {"no": "ref"}}])
def test_invalid_input_is_still_invalid(validator, value):
    assert list(validator.iter_errors(_doc(value)))
