"""Read the JSON report a worker session ends with, and merge a model's diagnosis with static findings.

The ``coder`` and ``debug`` agent definitions end their final message with one fenced ``json``
block (their output contract). ``extract_json_report`` takes the last such block that parses as an
object, so prose before it, or an earlier example block, does no harm.

``merge_diagnosis`` combines the ``debug`` agent's static analysis with the model's report (both
have the shape in ``agents/debug.md``). The static findings stay authoritative for locations:

- every static finding is kept, tagged ``"source": "static"``;
- a model finding about the same defect (same ``rule`` and ``file``) as a static one adds its
  message as ``model_note`` to the static finding and is not listed twice;
- any other model finding is kept (``"source": "model"``) only if its ``file`` exists inside the
  workspace and its ``line`` is within the file; otherwise it goes to ``unverified_findings``;
- the root cause is the model's (it reads the code and can weigh the evidence), but when it names
  the rule and file of a static finding, ``file`` and ``line`` are taken from that finding; a
  model root cause whose location cannot be verified falls back to the static one;
- ``hypotheses``, ``hypothesis_check`` and ``suggested_fix`` come from the model when it gave them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePolicy, resolve_in_workspace

__all__ = ["extract_json_report", "merge_diagnosis", "split_report"]

_FENCE = re.compile(r"```json[ \t]*\n(.*?)\n[ \t]*```", re.S)


def split_report(text: str) -> tuple[str, dict[str, Any] | None]:
    """``(narrative, report)``: the text before the last JSON object block, and that object."""
    for match in reversed(list(_FENCE.finditer(text))):
        try:
            value = orjson.loads(match.group(1))
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return text[: match.start()].strip(), value
    return text.strip(), None


def extract_json_report(text: str) -> dict[str, Any] | None:
    """The last fenced ``json`` block of ``text`` that holds an object, or ``None``."""
    return split_report(text)[1]


def merge_diagnosis(static: dict[str, Any], diagnosis: dict[str, Any] | None, workspace: WorkspacePolicy) -> dict[str, Any]:
    """Merge the model's ``diagnosis`` into the ``static`` debug output (see module docstring)."""
    merged = dict(static)
    static_findings = [{**f, "source": "static"} for f in static.get("findings") or [] if isinstance(f, dict)]
    if not diagnosis:
        merged["findings"] = static_findings
        return merged
    by_defect = {(f.get("rule"), _norm(f.get("file"), workspace)): f for f in static_findings}
    verified: list[dict[str, Any]] = []
    unverified: list[dict[str, Any]] = []
    for finding in diagnosis.get("findings") or []:
        if not isinstance(finding, dict):
            continue
        same = by_defect.get((finding.get("rule"), _norm(finding.get("file"), workspace)))
        if same is not None:
            same.setdefault("model_note", finding.get("message"))
        elif _location_ok(finding.get("file"), finding.get("line"), workspace):
            verified.append({**finding, "source": "model"})
        else:
            unverified.append({**finding, "source": "model"})
    merged["findings"] = static_findings + verified
    merged["unverified_findings"] = unverified
    merged["root_cause"] = _root_cause(static.get("root_cause"), diagnosis.get("root_cause"), by_defect, workspace)
    for key in ("hypotheses", "hypothesis_check", "hypothesis_supported", "suggested_fix"):
        if diagnosis.get(key) is not None:
            merged[key] = diagnosis[key]
    return merged


def _root_cause(
    static: Any, model: Any, by_defect: dict[tuple[Any, str | None], dict[str, Any]], workspace: WorkspacePolicy
) -> Any:
    if not isinstance(model, dict):
        return static
    match = by_defect.get((model.get("rule"), _norm(model.get("file"), workspace)))
    if match is not None:
        return {**model, "file": match.get("file"), "line": match.get("line"), "source": "model+static"}
    if model.get("file") is None or _location_ok(model.get("file"), model.get("line"), workspace):
        if model.get("file") is None and isinstance(static, dict) and static.get("file") is not None:
            return static  # the model found nothing; the static analysis did
        return {**model, "source": "model"}
    return static


def _norm(path: Any, workspace: WorkspacePolicy) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    try:
        return str(resolve_in_workspace(path, workspace))
    except (PathOutsideWorkspace, OSError):
        return None


def _location_ok(path: Any, line: Any, workspace: WorkspacePolicy) -> bool:
    """The file exists in the workspace and ``line`` (if given) is one of its lines."""
    resolved = _norm(path, workspace)
    if resolved is None or not Path(resolved).is_file():
        return False
    if line is None:
        return True
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        return False
    try:
        with open(resolved, "rb") as handle:
            count = sum(1 for _ in handle)
    except OSError:
        return False
    return line <= count
