"""The analysis as plain values: findings, frames, root cause, hypotheses, suggested fix.

Everything here is a frozen dataclass with a ``to_json`` method, so an :class:`Analysis` can be
handed as evidence to another backend (the future ``claude`` backend narrates from it) or turned
into the task output without knowing how it was computed. Sorting keys live here too, so the
output order is defined in one place: findings by (file, line, column, rule, message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from parallel_execution.agents.debug.rules import Severity

__all__ = [
    "Analysis",
    "Candidate",
    "Edit",
    "Finding",
    "Fix",
    "Frame",
    "HypothesisCheck",
    "RootCause",
    "TraceError",
    "finding_sort_key",
]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Edit:
    """A mechanical edit of one line: insert ``new`` before ``line``, or replace ``old`` by ``new``."""

    kind: Literal["insert", "replace"]
    line: int
    new: str
    old: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "line": self.line, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class Fix:
    description: str
    edit: Edit | None = None

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "edit": self.edit.to_json() if self.edit else None}


@dataclass(frozen=True, slots=True)
class Finding:
    """One static-check result (1-based line and column, like tracebacks and editors).

    ``symbol`` is the name involved, ``scope`` the enclosing function's qualified name.
    """

    rule: str
    severity: Severity
    file: str
    line: int
    column: int
    message: str
    evidence: str
    end_line: int | None = None
    symbol: str | None = None
    scope: str | None = None
    fix: Fix | None = None
    tool: str = "core"
    code: str = ""
    also: tuple[str, ...] = ()
    moved_from: int | None = None

    @property
    def id(self) -> str:
        return f"{self.tool}:{self.code}@{self.line}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "tool": self.tool,
            "code": self.code,
            "also": list(self.also),
            "moved_from": self.moved_from,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line if self.end_line is not None else self.line,
            "message": self.message,
            "evidence": self.evidence,
            "symbol": self.symbol,
            "scope": self.scope,
            "fix": self.fix.to_json() if self.fix else None,
        }


def finding_sort_key(item: Finding) -> tuple[str, int, int, str, str]:
    return (item.file, item.line, item.column, item.rule, item.message)


@dataclass(frozen=True, slots=True)
class Frame:
    """One traceback frame. ``file`` is resolved (absolute) when it maps to a workspace file."""

    file: str
    line: int | None
    function: str | None
    code: str | None
    error_index: int
    in_workspace: bool = False
    affected: bool = False
    original_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "error": self.error_index,
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "code": self.code,
            "in_workspace": self.in_workspace,
            "affected": self.affected,
            "original_file": self.original_file,
        }


@dataclass(frozen=True, slots=True)
class TraceError:
    """One exception (or error line) parsed from ``error_traces``, oldest frame first.

    ``chain`` groups exceptions printed as one chained report; ``position`` is 0 for the first
    (original) exception of its chain. ``relation`` says how it follows the previous one:
    ``cause`` ("direct cause", ``raise ... from``) or ``context`` ("during handling").
    """

    index: int
    source: int
    format: Literal["python", "pytest", "plain"]
    exc_type: str | None
    message: str
    frames: tuple[Frame, ...]
    chain: int
    position: int
    relation: Literal["cause", "context"] | None = None

    def innermost(self) -> Frame | None:
        """The deepest frame in the workspace (outside virtualenvs), where the code is ours."""
        for frame in reversed(self.frames):
            if frame.in_workspace and frame.line is not None:
                return frame
        return None

    def headline(self) -> str:
        if self.exc_type:
            return f"{self.exc_type}: {self.message}" if self.message else self.exc_type
        return self.message

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "format": self.format,
            "type": self.exc_type,
            "message": self.message,
            "chain": self.chain,
            "position": self.position,
            "relation": self.relation,
            "frames": len(self.frames),
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ranked explanation: a finding (or a bare traceback frame) with its score and reasons."""

    rule: str
    file: str | None
    line: int | None
    summary: str
    confidence: float
    reasons: tuple[str, ...]
    finding: Finding | None = None
    fix: Fix | None = None

    def to_json(self, rank: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "file": self.file,
            "line": self.line,
            "summary": self.summary,
            "confidence": self.confidence,
            "why": list(self.reasons),
        }
        if rank is not None:
            out = {"rank": rank, **out}
        return out


@dataclass(frozen=True, slots=True)
class RootCause:
    candidate: Candidate | None
    summary: str

    def to_json(self) -> dict[str, Any]:
        if self.candidate is None:
            return {"file": None, "line": None, "rule": None, "summary": self.summary,
                    "confidence": 0.0, "why": []}
        return {**self.candidate.to_json(), "summary": self.summary}


@dataclass(frozen=True, slots=True)
class HypothesisCheck:
    text: str
    verdict: Literal["supported", "partially_supported", "not_supported", "inconclusive"]
    explanation: str
    matched: tuple[str, ...] = ()

    @property
    def supported(self) -> bool | None:
        if self.verdict == "inconclusive":
            return None
        return self.verdict == "supported"

    def to_json(self) -> dict[str, Any]:
        return {"hypothesis": self.text, "verdict": self.verdict, "supported": self.supported,
                "explanation": self.explanation, "matched": list(self.matched)}


@dataclass(frozen=True, slots=True)
class Analysis:
    """The whole static result; ``to_json`` is the debug task's output."""

    problem_description: str
    depth: str
    files: tuple[str, ...]
    trace_files: tuple[str, ...]
    missing_files: tuple[str, ...]
    skipped_files: tuple[dict[str, str], ...]
    errors: tuple[TraceError, ...]
    findings: tuple[Finding, ...]
    root_cause: RootCause
    hypotheses: tuple[Candidate, ...]
    hypothesis_check: HypothesisCheck | None
    code_context: tuple[dict[str, Any], ...]
    index_modules: int = 0
    notes: tuple[str, ...] = field(default=())
    checks: tuple[dict[str, Any], ...] = field(default=())
    applied_fixes: tuple[dict[str, Any], ...] = field(default=())
    interpreter: str | None = None

    @property
    def frames(self) -> list[Frame]:
        return [frame for error in self.errors for frame in error.frames]

    def to_json(self) -> dict[str, Any]:
        by_rule: dict[str, int] = {}
        by_severity = {"error": 0, "warning": 0, "info": 0}
        for item in self.findings:
            by_rule[item.rule] = by_rule.get(item.rule, 0) + 1
            by_severity[item.severity] += 1
        root = self.root_cause.candidate
        fix = root.fix if root is not None else None
        check = self.hypothesis_check
        return {
            "problem_description": self.problem_description,
            "analysis_depth": self.depth,
            "root_cause": self.root_cause.to_json(),
            "suggested_fix": (
                {"rule": root.rule, "file": root.file, "line": root.line, **fix.to_json()}
                if fix is not None and root is not None else None
            ),
            "hypotheses": [item.to_json(rank) for rank, item in enumerate(self.hypotheses, 1)],
            "hypothesis_supported": check.supported if check else None,
            "hypothesis_check": check.to_json() if check else None,
            "findings": [item.to_json() for item in self.findings],
            "frames": [frame.to_json() for frame in self.frames],
            "exceptions": [error.to_json() for error in self.errors],
            "code_context": list(self.code_context),
            "files_analysed": list(self.files),
            "trace_files": list(self.trace_files),
            "missing_files": list(self.missing_files),
            "skipped_files": list(self.skipped_files),
            "summary": {
                "files_analysed": len(self.files),
                "findings": len(self.findings),
                "by_severity": by_severity,
                "by_rule": dict(sorted(by_rule.items())),
                "exceptions": len(self.errors),
                "index_modules": self.index_modules,
            },
            "notes": list(self.notes),
            "checks": list(self.checks),
            "interpreter": self.interpreter,
            "applied_fixes": list(self.applied_fixes),
        }
