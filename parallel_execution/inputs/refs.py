"""``$from`` references: dependency outputs flowing into a task's ``input_data``.

Anywhere in ``input_data`` (nested objects and lists included) the object::

    {"$from": "<task_id>", "select": "<jq filter>"}

is replaced, just before the task starts, by the jq selection from that task's output. ``select``
defaults to ``.`` (the whole output). A filter yielding exactly one value gives that value; one
yielding zero or several values gives the list of them (write ``[...]`` in the filter to always get a
list). Filters are compiled once, at validation time, so a syntax error is an input error, and so is a
filter that reaches beyond the dependency's output (``$ENV``, ``import``, ``input``, ...: see
``jqpolicy``). At run time a filter runs through ``jqrun``: under the task's timeout and a memory bound,
off the event loop; a jq error, the timeout or the memory bound fails only the task that needed it.
A resolved input must be storable as JSON (as the trace writer stores it), or the task fails saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from parallel_execution.errors import DispatchError

# jqrun, jqpolicy and difflib are imported where used: most dispatches have no ``$from`` filter.

__all__ = ["REF_KEY", "Ref", "RefError", "aresolve_refs", "compile_filter", "find_refs", "is_near_miss",
           "near_miss_key", "resolve_refs"]

REF_KEY = "$from"
_ALLOWED_KEYS = frozenset({REF_KEY, "select"})
Path = tuple[str | int, ...]


class RefError(DispatchError, ValueError):
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
    """Check and compile a jq filter once; RefError on a syntax error or a refused construct."""
    from parallel_execution.inputs.jqpolicy import guarded, refusals

    refused = refusals(select)  # before compiling: jq reads an imported module's file while compiling
    if refused:
        raise RefError(f"jq filter {select!r} refused: " + "; ".join(refused))
    import jq  # here, not at import: only dispatches with ``$from`` filters pay for it

    try:  # the guarded form first: there, a directive the tokenizer missed is a syntax error
        program = jq.compile(guarded(select))
    except ValueError:
        try:
            jq.compile(select)  # for jq's own message, with the user's line and column
        except ValueError as exc:
            raise RefError(f"invalid jq filter {select!r}: {_first_line(exc)}") from None
        raise RefError(f"jq filter {select!r} refused: it only compiles as a whole program") from None
    return program


def find_refs(value: Any, path: Path = ()) -> Iterator[Ref]:
    """Yield every reference inside ``value``; raise RefError for a malformed one (or a near miss)."""
    if isinstance(value, Mapping):
        if REF_KEY in value:
            yield _parse_ref(value, path)
            return
        miss = near_miss_key(value)
        if miss is not None:
            where = "input_data" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            raise RefError(f"{where} has the key {miss!r}: did you mean {REF_KEY!r}? (a reference is "
                           f'{{"{REF_KEY}": "<task_id>", "select": "<jq filter>"}})')
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


async def aresolve_refs(value: Any, outputs: Mapping[str, Any], timeout: float | None = None) -> Any:
    """``resolve_refs`` for the scheduler: every filter within ``timeout`` in all, off the event loop.
    Raises RefError on a failed, timed-out or memory-bound filter, or a result JSON cannot hold."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    selected: dict[Path, Any] = {}
    for ref in find_refs(value):
        left = None if deadline is None else max(deadline - loop.time(), 0.001)
        selected[ref.path] = await _aselect(ref, outputs[ref.source], left)
    resolved = _substitute(value, selected, ())
    try:
        orjson.dumps(resolved, option=orjson.OPT_NON_STR_KEYS, default=str)  # as the trace writer does
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise RefError(f"the input resolved from $from references cannot be stored as JSON: {exc}") from None
    return resolved


def select(ref: Ref, output: Any) -> Any:
    from parallel_execution.inputs import jqrun

    compile_filter(ref.select)
    try:
        values = jqrun.run(ref.select, output)
    except jqrun.JqFailure as exc:
        raise RefError(f"jq filter {ref.select!r} on the output of {ref.source!r} failed: {exc}") from None
    return values[0] if len(values) == 1 else values


async def _aselect(ref: Ref, output: Any, timeout: float | None) -> Any:
    from parallel_execution.inputs import jqrun

    compile_filter(ref.select)
    try:
        values = await jqrun.arun(ref.select, output, timeout)
    except jqrun.JqFailure as exc:
        raise RefError(f"jq filter {ref.select!r} on the output of {ref.source!r} failed: {exc}") from None
    return values[0] if len(values) == 1 else values


def _substitute(value: Any, selected: Mapping[Path, Any], path: Path) -> Any:
    if path in selected:
        return selected[path]
    if isinstance(value, Mapping):
        return {key: _substitute(item, selected, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, selected, (*path, index)) for index, item in enumerate(value)]
    return value


def near_miss_key(value: Mapping[str, Any]) -> str | None:
    """A key that looks like a misspelt ``$from`` (``$form``, ``$From``, ``from$``, `` $from``), or None."""
    for key in value:
        if isinstance(key, str) and is_near_miss(key):
            return key
    return None


def is_near_miss(key: str) -> bool:
    """Whether one key looks like a misspelt ``$from`` (see ``near_miss_key``)."""
    if key == REF_KEY or "$" not in key or len(key) > 12:
        return False
    import difflib

    return difflib.SequenceMatcher(None, key.lower(), REF_KEY).ratio() >= 0.75


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
