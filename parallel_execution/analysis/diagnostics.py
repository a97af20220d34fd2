"""What the analyzers report, as one value type, and the parsers for each tool's JSON output.

A :class:`Diagnostic` is one finding exactly as a tool reported it (``tool`` + ``code``, 1-based
line and column, the tool's message), plus ``rule``: the stable kebab-case defect kind the rest of
the package reasons about (``catalogue.classify``). A :class:`CheckRun` records one check that ran
(tool, version, the rules it was asked for, on how many files, and whether it failed), so an empty
list of diagnostics means something.

Parsers take the tool's raw stdout and return diagnostics; output that does not parse raises
``ValueError`` (the caller reports the tool as failed, the other tools' findings still count).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["CheckRun", "Diagnostic", "parse_bandit", "parse_mypy", "parse_ruff", "symbol_of"]

ToolSeverity = Literal["error", "warning", "info"]

_QUOTED = re.compile(r"[`\"']([A-Za-z_][\w.]*)[`\"']")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    tool: str
    code: str
    file: str
    line: int
    column: int
    message: str
    severity: ToolSeverity = "error"
    end_line: int | None = None
    hint: str | None = None
    rule: str = "lint"
    symbol: str | None = None
    also: tuple[str, ...] = ()  # other tool:code pairs that reported the same defect here
    moved_from: int | None = None  # the tool's own line when a core check moved it to the cause

    @property
    def tool_rule(self) -> str:
        return f"{self.tool}:{self.code}"

    def with_(self, **changes: Any) -> Diagnostic:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "code": self.code, "rule": self.rule, "file": self.file, "line": self.line,
                "column": self.column, "end_line": self.end_line or self.line, "message": self.message,
                "hint": self.hint, "severity": self.severity, "symbol": self.symbol, "also": list(self.also),
                "moved_from": self.moved_from}


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One analyzer invocation (or one core check) and what it covered."""

    tool: str
    version: str | None
    rules: tuple[str, ...]
    files: int
    status: Literal["ok", "missing", "failed", "skipped"] = "ok"
    detail: str | None = None
    config: str | None = None
    seconds: float = 0.0
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "version": self.version, "rules": list(self.rules), "files": self.files,
                "status": self.status, "detail": self.detail, "config": self.config,
                "seconds": round(self.seconds, 3), "cached": self.cached, **self.extra}


def symbol_of(message: str) -> str | None:
    """The first quoted identifier of a message (``Undefined name `sys``` -> ``sys``)."""
    match = _QUOTED.search(message)
    return match.group(1) if match else None


def _absolute(file: str, cwd: Path) -> str:
    path = Path(file)
    return str(path if path.is_absolute() else (cwd / path).resolve())


def parse_ruff(stdout: str, cwd: Path) -> list[Diagnostic]:
    rows = json.loads(stdout or "[]")
    if not isinstance(rows, list):
        raise ValueError("ruff output is not a JSON list")
    found = []
    for row in rows:
        code = row.get("code") or "invalid-syntax"
        message = str(row.get("message", ""))
        end = (row.get("end_location") or {}).get("row")
        found.append(Diagnostic("ruff", code, _absolute(row["filename"], cwd), int(row["location"]["row"]),
                                int(row["location"]["column"]), message, "error" if code == "invalid-syntax"
                                else "warning", end, None, symbol=symbol_of(message)))
    return found


def parse_mypy(stdout: str, cwd: Path) -> list[Diagnostic]:
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        severity = row.get("severity", "error")
        if severity == "note":
            continue
        message = str(row.get("message", ""))
        found.append(Diagnostic("mypy", str(row.get("code") or "misc"), _absolute(row["file"], cwd),
                                max(int(row.get("line") or 1), 1), int(row.get("column") or 0) + 1, message,
                                "error", row.get("end_line"), row.get("hint"), symbol=_mypy_symbol(message)))
    return found


def _mypy_symbol(message: str) -> str | None:
    names = re.findall(r'"([A-Za-z_][\w.]*)"', message)
    if " has no attribute " in message and len(names) >= 2:
        return names[-1]  # "Cache" has no attribute "ttl" -> ttl
    return names[0] if names else None


def parse_bandit(stdout: str, cwd: Path) -> list[Diagnostic]:
    data = json.loads(stdout or "{}")
    if not isinstance(data, dict):
        raise ValueError("bandit output is not a JSON object")
    found = []
    for row in data.get("results", []):
        severity = {"HIGH": "error", "MEDIUM": "warning"}.get(str(row.get("issue_severity")), "info")
        message = f"{row.get('issue_text', '')} ({row.get('test_name', '')}, confidence {row.get('issue_confidence')})"
        lines = row.get("line_range") or [row.get("line_number", 1)]
        found.append(Diagnostic("bandit", str(row.get("test_id")), _absolute(row["filename"], cwd),
                                int(row.get("line_number") or 1), int(row.get("col_offset") or 0) + 1, message,
                                severity, max(lines), symbol=symbol_of(str(row.get("issue_text", "")))))  # type: ignore[arg-type]
    return found
