"""``$from`` references: dependency outputs flowing into a task's ``input_data``.

Anywhere in ``input_data`` (nested objects and lists included) the object::

    {"$from": "<task_id>", "select": "<jq filter>"}

is replaced, just before the task starts, by the jq selection from that task's output. ``select``
defaults to ``.`` (the whole output). A filter yielding exactly one value gives that value; one
yielding zero or several values gives the list of them (write ``[...]`` in the filter to always get a
list). Filters are compiled once, at validation time, so a syntax error is an input error; a jq
runtime error fails only the task that needed it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jq

__all__ = ["REF_KEY", "Ref", "RefError", "compile_filter", "find_refs", "resolve_refs"]

REF_KEY = "$from"
_ALLOWED_KEYS = frozenset({REF_KEY, "select"})
Path = tuple[str | int, ...]


class RefError(ValueError):
    """A reference is malformed, or its jq filter failed."""


@dataclass(frozen=True, slots=True)
class Ref:
    path: Path  # where in input_data the reference stands
    source: str  # the task whose output it selects from
    select: str

    @property
    def field(self) -> str:
        return "input_data" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)


@lru_cache(maxsize=4096)
def compile_filter(select: str) -> Any:
    """Compile a jq filter once; raises RefError with jq's message on a syntax error."""
    try:
        return jq.compile(select)
    except ValueError as exc:
        raise RefError(f"invalid jq filter {select!r}: {_first_line(exc)}") from None


def find_refs(value: Any, path: Path = ()) -> Iterator[Ref]:
    """Yield every reference inside ``value``; raise RefError for a malformed one."""
    if isinstance(value, Mapping):
        if REF_KEY in value:
            yield _parse_ref(value, path)
            return
        for key, item in value.items():
            yield from find_refs(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_refs(item, (*path, index))


def resolve_refs(value: Any, outputs: Mapping[str, Any]) -> Any:
    """Return a copy of ``value`` with every reference replaced by its selection from ``outputs``."""
    if isinstance(value, Mapping):
        if REF_KEY in value:
            ref = _parse_ref(value, ())
            return select(ref, outputs[ref.source])
        return {key: resolve_refs(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_refs(item, outputs) for item in value]
    return value


def select(ref: Ref, output: Any) -> Any:
    try:
        values = compile_filter(ref.select).input_value(output).all()
    except ValueError as exc:
        raise RefError(
            f"jq filter {ref.select!r} on the output of {ref.source!r} failed: {_first_line(exc)}"
        ) from None
    return values[0] if len(values) == 1 else values


def _parse_ref(value: Mapping[str, Any], path: Path) -> Ref:
    extra = set(value) - _ALLOWED_KEYS
    if extra:
        raise RefError(f"a $from reference takes only '$from' and 'select', not {sorted(extra)}")
    source, selector = value[REF_KEY], value.get("select", ".")
    if not isinstance(source, str) or not isinstance(selector, str):
        raise RefError("'$from' must be a task id and 'select' a jq filter (strings)")
    return Ref(path, source, selector)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__
