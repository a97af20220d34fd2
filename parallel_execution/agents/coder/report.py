"""Validation results: one :class:`Check` per rule, gathered in a :class:`ValidationReport`.

A check is a value, never an exception: ``name`` identifies the rule (stable, tests and the
dispatcher agent match on it), ``severity`` says whether a failure rejects the code (``error``) or
is only reported (``warning``), ``message`` says what was found and where. The report passes when
no ``error`` check failed; ``findings`` are the analysis layer's diagnostics the checks were made of.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Check", "Level", "Severity", "ValidationReport", "issues_check"]

Level = Literal["lenient", "moderate", "strict"]
Severity = Literal["error", "warning"]

_MAX_LISTED = 8


class Check(BaseModel):
    """The outcome of one validation rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    passed: bool
    severity: Severity = "error"
    message: str
    line: int | None = None


class ValidationReport(BaseModel):
    """Every check run at ``level`` on one source text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Level
    node_type: str
    class_name: str | None
    checks: list[Check]
    findings: list[dict[str, Any]] = []  # the analysis layer's diagnostics behind the checks (tool, rule, line)

    @property
    def passed(self) -> bool:
        return all(c.passed or c.severity == "warning" for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """Failed checks that reject the code."""
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[str]:
        return [f"{c.name}: {c.message}" for c in self.checks if not c.passed and c.severity == "warning"]

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        """One line naming each failed error check and its message."""
        return "; ".join(f"{c.name}: {c.message}" for c in self.failed) or "all checks passed"


def issues_check(
    name: str,
    issues: Sequence[tuple[int, str]],
    ok_message: str,
    *,
    severity: Severity = "error",
) -> Check:
    """A check that passes when ``issues`` (``(line, text)`` pairs) is empty, else lists them."""
    if not issues:
        return Check(name=name, passed=True, severity=severity, message=ok_message)
    ordered = sorted(set(issues))
    shown = "; ".join(f"line {line}: {text}" for line, text in ordered[:_MAX_LISTED])
    more = f" (and {len(ordered) - _MAX_LISTED} more)" if len(ordered) > _MAX_LISTED else ""
    return Check(name=name, passed=False, severity=severity, message=shown + more, line=ordered[0][0])
