"""pydantic's validation errors as ``InputIssue``s: located by task id and field, unknown fields
with the closest known name ("did you mean ...?"). JSON text is parsed once for all of its errors'
task ids (once per error was quadratic: 8,000 bad tasks took 90 s)."""

from __future__ import annotations

import typing
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from parallel_execution.errors import InputIssue

__all__ = ["pydantic_issues"]


def pydantic_issues(exc: ValidationError, raw: Any, task_id: str | None = None, prefix: str = "",
                    model: type[BaseModel] | None = None) -> list[InputIssue]:
    """Turn pydantic errors into issues; ``tasks[i]`` locations are named by the task's id. Given the
    validated ``model``, an unknown field is reported with the closest known name."""
    issues = []
    document: list[Any] = []  # ``raw`` parsed once, on the first error that needs a task id
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if err["type"] == "extra_forbidden" and model is not None and loc:
            close = _closest(str(loc[-1]), tuple(_field_names(model, loc[:-1])))
            err["msg"] = f"unknown field {loc[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif err["type"] == "missing" and loc:
            err["msg"] = f"required field {loc[-1]!r} is missing"
        tid = task_id
        if not prefix and len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
            if not document:
                document.append(_parsed(raw))
            tid = _raw_task_id(document[0], loc[1])
            loc = loc[2:]
        where = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        message = err["msg"] if err["type"] != "json_invalid" else f"invalid JSON: {err['ctx'].get('error', err['msg'])}"
        message = message.removeprefix("Value error, ")  # our validators' messages stand on their own
        issues.append(InputIssue(message, tid, where or None))
    return issues


@lru_cache(maxsize=1024)
def _closest(name: str, known: tuple[str, ...]) -> list[str]:
    """The known field ``name`` is probably a misspelling of (one misspelling in 10k tasks: one look)."""
    import difflib  # here: only an input with an unknown field pays for it

    return difflib.get_close_matches(name, known, n=1, cutoff=0.6)


def _field_names(model: type[BaseModel], path: list[Any]) -> list[str]:
    """The field names of the (nested) model at ``path`` inside ``model``; [] if it is not a model."""
    current: type[BaseModel] | None = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field_info = current.model_fields.get(part)
        current = _model_in(field_info.annotation) if field_info else None
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):  # list[Task], Task | None, ...
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _parsed(raw: Any) -> Any:
    """The document ``raw`` holds (parsed if it is JSON text), or None when it cannot be parsed."""
    if not isinstance(raw, (bytes, str)):
        return raw
    import json

    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # 1e999, integers beyond 64 bits: the stdlib parser takes them
        try:
            return json.loads(raw)
        except Exception:
            return None
    except Exception:
        return None


def _raw_task_id(document: Any, position: int) -> str:
    try:
        value = document["tasks"][position]["task_id"]
        return value if isinstance(value, str) else f"#{position}"
    except Exception:
        return f"#{position}"
