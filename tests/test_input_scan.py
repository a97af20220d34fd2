"""``inputs.scan.quick_refs`` (the fast walk over a task's ``input_data``) agrees with the exact
checks it stands in for: whenever it answers, ``find_refs`` gives the same references in the same
order and ``unstorable_number`` finds nothing; whenever the exact checks object, it gives up."""

from __future__ import annotations

import types

from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_execution.inputs.refs import REF_KEY, RefError, find_refs
from parallel_execution.inputs.scan import quick_refs, unstorable_number

_KEYS = st.sampled_from(["a", "b", "message", "$from", "select", "$form", "$From", "from$", " $from", "$schema",
                         "x$y", "items"])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.text(max_size=4),
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1]),
    st.floats(allow_nan=False), st.sampled_from([float("inf"), float("-inf"), 1e308]),
)
_REFS = st.builds(lambda source, select, extra: {REF_KEY: source, **select, **extra},
                  st.one_of(st.sampled_from(["t0", "t1"]), st.integers(0, 3)),
                  st.one_of(st.just({}), st.fixed_dictionaries({"select": st.one_of(st.just(".a"), st.integers())})),
                  st.one_of(st.just({}), st.just({"x": 1})))
_VALUES = st.recursive(
    st.one_of(_SCALARS, _REFS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4),
                            st.builds(tuple, st.lists(inner, max_size=2)),
                            st.builds(types.MappingProxyType, st.dictionaries(_KEYS, inner, max_size=2))),
    max_leaves=12)


def exact(value: object) -> tuple[str, object]:
    """What validation's exact checks make of ``value``: a number problem, a reference error, or refs."""
    number = unstorable_number(value)
    if number is not None:
        return "number", number
    try:
        return "refs", list(find_refs(value, ()))
    except RefError as exc:
        return "error", str(exc)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_quick_refs_answers_only_what_the_exact_checks_would(input_data):
    quick = quick_refs(input_data)
    kind, found = exact(input_data)
    if quick is not None:
        assert (kind, found) == ("refs", quick)
    elif kind == "refs":  # it gave up without cause: allowed only for what it leaves to the exact checks
        assert REF_KEY in input_data or _unusual(input_data)


def _unusual(value: object) -> bool:
    """Something quick_refs deliberately leaves to the exact checks although they find nothing."""
    if isinstance(value, types.MappingProxyType) or (isinstance(value, dict) and REF_KEY in value):
        return True
    if isinstance(value, dict):
        return any(_unusual(v) or ("$" in k) for k, v in value.items())
    if isinstance(value, list):
        return any(_unusual(v) for v in value)
    return False


def test_common_inputs_take_the_quick_path():
    assert quick_refs({"message": 1, "delay_seconds": 0.5, "tags": ["a", {"b": None}]}) == []
    refs = quick_refs({"message": {REF_KEY: "t0", "select": ".x"}, "list": [1, {REF_KEY: "t1"}]})
    assert [(r.path, r.source, r.select) for r in refs] == [(("message",), "t0", ".x"), (("list", 1), "t1", ".")]
    for bad in ({"n": 2**64}, {"n": [float("inf")]}, {"m": {"$form": "t0"}}, {"m": {REF_KEY: "t0", "x": 1}},
                {REF_KEY: "t0"}, {"m": {REF_KEY: 3}}):
        assert quick_refs(bad) is None, bad


def test_deep_nesting_is_left_to_the_exact_checks():
    value: dict = {}
    for _ in range(5000):
        value = {"a": value}
    assert quick_refs(value) is None
