"""pydantic's validation errors as ``InputIssue``s: located by task id and field, unknown fields
with the closest known name ("did you mean ...?")."""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from parallel_execution.errors import InputIssue

__all__ = ["pydantic_issues"]


def pydantic_issues(exc: ValidationError, raw: Any, task_id: str | None = None, prefix: str = "",
                    model: type[BaseModel] | None = None) -> list[InputIssue]:
    """Turn pydantic errors into issues; ``tasks[i]`` locations are named by the task's id. Given the
    validated ``model``, an unknown field is reported with the closest known name."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if err["type"] == "extra_forbidden" and model is not None and loc:
            known = _field_names(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            err["msg"] = f"unknown field {loc[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif err["type"] == "missing" and loc:
            err["msg"] = f"required field {loc[-1]!r} is missing"
        tid = task_id
        if not prefix and len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
            tid = _raw_task_id(raw, loc[1])
            loc = loc[2:]
        where = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        message = err["msg"] if err["type"] != "json_invalid" else f"invalid JSON: {err['ctx'].get('error', err['msg'])}"
        message = message.removeprefix("Value error, ")  # our validators' messages stand on their own
        issues.append(InputIssue(message, tid, where or None))
    return issues


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


def _raw_task_id(raw: Any, position: int) -> str:
    try:
        if isinstance(raw, (bytes, str)):
            import json

            import orjson

            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:  # 1e999, integers beyond 64 bits: the stdlib parser takes them
                raw = json.loads(raw)
        value = raw["tasks"][position]["task_id"]
        return value if isinstance(value, str) else f"#{position}"
    except Exception:
        return f"#{position}"
