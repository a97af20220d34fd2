"""One quick walk over a task's ``input_data``: its ``$from`` references, or "look closer".

Validation needs three things from every task's ``input_data``: the first number JSON output cannot
hold (``unstorable_number``), a malformed reference or a near miss of ``$from`` (``refs.find_refs``),
and otherwise the list of references. The exact checks say what is wrong and where, in their own
order, but they are a generator walk and a walk that builds a field name for every value: several
µs a task, most of validation's per-task cost at 100k tasks.

``quick_refs`` is one recursive pass with neither: the usual task (a few literal fields, a reference
or two) costs about a µs. It answers only when the exact checks would find nothing - it returns the
same references, in the same order, as ``find_refs`` - and gives up (``None``) on anything they might
report: an out-of-range integer, an infinite float, a reference that is not a plain
``{"$from": str, "select": str}``, a key that might be a near miss, a container that is not a plain
dict or list, nesting too deep to recurse. Then the caller runs the exact checks, so every message
is theirs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from parallel_execution.inputs.refs import REF_KEY, Ref, is_near_miss

__all__ = ["quick_refs", "unstorable_number"]

_INT_MIN, _INT_END = -(2**63), 2**64  # what JSON output (orjson) holds: int64 and uint64
_REF_KEYS = frozenset({REF_KEY, "select"})
_Path = tuple[str | int, ...]


def quick_refs(input_data: Any) -> list[Ref] | None:
    """The references in ``input_data`` when the exact checks would find no problem; else None."""
    if type(input_data) is not dict or REF_KEY in input_data:
        return None
    refs: list[Ref] = []
    try:
        return refs if _dict_ok(input_data, (), refs) else None
    except RecursionError:
        return None


def _dict_ok(value: dict[Any, Any], path: _Path, refs: list[Ref]) -> bool:
    for key, item in value.items():
        if type(key) is not str or ("$" in key and is_near_miss(key)):
            return False
        if not _item_ok(item, (*path, key), refs):
            return False
    return True


def _item_ok(item: Any, path: _Path, refs: list[Ref]) -> bool:
    kind = type(item)
    if kind is str or kind is bool or item is None:
        return True
    if kind is int:
        return _INT_MIN <= item < _INT_END
    if kind is float:
        return math.isfinite(item)
    if kind is dict:
        if REF_KEY not in item:
            return _dict_ok(item, path, refs)
        source, select = item[REF_KEY], item.get("select", ".")
        if type(source) is not str or type(select) is not str or not item.keys() <= _REF_KEYS:
            return False
        refs.append(Ref(path, source, select))
        return True
    if kind is list:
        return all(_item_ok(element, (*path, index), refs) for index, element in enumerate(item))
    # Other values are neither walked for numbers nor searched for references, unless they are
    # Mappings or lists of another type: those the exact checks treat their own way.
    return not isinstance(item, (Mapping, list))


def unstorable_number(value: Any) -> tuple[str, str] | None:
    """(field, message) for the first number JSON output cannot hold: an integer beyond 64 bits
    (traces and results would refuse it) or an infinity (1e999; it would come back as null)."""
    stack: list[tuple[str, Any]] = [("input_data", value)]
    while stack:
        where, item = stack.pop()
        if type(item) is dict:
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif type(item) is list:
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
        elif type(item) is int and not _INT_MIN <= item < _INT_END:
            return where, (f"an integer of {item.bit_length()} bits does not fit in 64 bits; pass it as a "
                           "string, or as a float (e.g. 1e20)")
        elif type(item) is float and not math.isfinite(item):
            return where, "the number is too large for JSON (it parses as infinity); pass it as a string"
    return None
