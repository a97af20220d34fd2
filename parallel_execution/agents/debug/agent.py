"""The ``debug`` agent: input model, the analysis pipeline (:func:`analyse`), and the agent class.

Pipeline, one direction::

    affected_files --expand (files)--> sources --+
    error_traces --parse (tracebacks)--> frames mapped onto files (files)
                                               |
    quick:    frames, code around the innermost project frame
    standard: + per-file checks (checks, security) and calls/imports resolved through an index
              of the analysed files (calls, index)
    deep:     + the index covers every Python file of the workspace; import cycles
                                               |
    --rank--> root cause, ranked hypotheses, hypothesis check, suggested fix  => Analysis

:func:`analyse` is plain, synchronous CPU work returning an :class:`Analysis` value; the agent runs
it with ``asyncio.to_thread`` and a cancel flag checked between files, so a timeout stops it
promptly. The ``claude`` backend takes that same value as its evidence (``_with_model_diagnosis``).

Failure policy: affected files that do not exist are listed in ``missing_files``; only when none
of them can be read does the task fail (non-retryable, with the partial output attached).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.debug.calls import call_checks, import_checks, import_cycles
from parallel_execution.agents.debug.checks import check_file
from parallel_execution.agents.debug.context import FileContext
from parallel_execution.agents.debug.files import code_snippet, expand_affected, map_errors
from parallel_execution.agents.debug.index import Index, workspace_python_files
from parallel_execution.agents.debug.model import Analysis, Finding, TraceError, finding_sort_key
from parallel_execution.agents.debug.rank import MAX_HYPOTHESES, check_hypothesis, rank
from parallel_execution.agents.debug.scopes import analyse_scopes
from parallel_execution.agents.debug.source import SourceFile, read_source
from parallel_execution.agents.debug.tracebacks import parse_traces
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePath, WorkspacePolicy

__all__ = ["AnalysisCancelled", "DebugAgent", "DebugInput", "NoReadableFiles", "analyse"]

Depth = Literal["quick", "standard", "deep"]
MAX_INDEX_FILES = 3000
MAX_TRACE_FILES = 50


class DebugInput(AgentInput):
    problem_description: str = Field(min_length=1)
    # Files, directories or globs, relative to the workspace (escapes are rejected at validation).
    affected_files: list[WorkspacePath] = Field(min_length=1)
    # Python tracebacks, pytest output or plain error lines; one string may hold several.
    error_traces: list[str] = Field(default_factory=list)
    analysis_depth: Depth = "standard"
    hypothesis: str | None = None
    backend: Literal["static", "claude"] = "static"

    @field_validator("error_traces", mode="before")
    @classmethod
    def _one_trace(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class NoReadableFiles(Exception):
    def __init__(self, message: str, output: dict[str, Any]) -> None:
        super().__init__(message)
        self.output = output


class AnalysisCancelled(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Read:
    sources: dict[str, SourceFile]
    skipped: list[dict[str, str]]


def _read_all(paths: list[Path], cancel: threading.Event | None, *, scope_check: bool = True) -> _Read:
    sources: dict[str, SourceFile] = {}
    skipped: list[dict[str, str]] = []
    for path in paths:
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelled
        try:
            sources[str(path)] = read_source(path, scope_check=scope_check)
        except (OSError, ValueError) as exc:
            skipped.append({"file": str(path), "reason": f"unreadable: {exc}"})
    return _Read(sources, skipped)


def _trace_files(errors: list[TraceError], known: dict[str, SourceFile], policy: WorkspacePolicy) -> list[Path]:
    """Workspace files named by frames that are not analysed yet (they may hold the cause)."""
    found: list[Path] = []
    for error in errors:
        for frame in error.frames:
            if frame.in_workspace and frame.file not in known and frame.file.endswith(".py"):
                path = Path(frame.file)
                if path not in found and path.is_file() and path.is_relative_to(policy.root):
                    found.append(path)
    return found[:MAX_TRACE_FILES]


def _contexts(errors: list[TraceError], sources: dict[str, SourceFile], root_file: str | None,
              root_line: int | None) -> tuple[dict[str, Any], ...]:
    shown: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    places = [(f.file, f.line, f.function, "innermost-frame") for e in errors if (f := e.innermost())]
    if root_file is not None and root_line is not None:
        places.insert(0, (root_file, root_line, None, "root-cause"))
    for file, line, function, role in places:
        if line is None or (file, line) in seen or len(shown) >= 5:
            continue
        seen.add((file, line))
        source = sources.get(file)
        lines = source.lines if source is not None else _lines(file)
        if not lines:
            continue
        function = function or (source.scope_at(line) if source is not None else None)
        shown.append({"file": file, "line": line, "function": function, "role": role,
                      "snippet": code_snippet(lines, line)})
    return tuple(shown)


def _lines(file: str) -> list[str]:
    try:
        return Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def analyse(
    problem_description: str,
    affected_files: list[str],
    error_traces: list[str],
    depth: Depth,
    hypothesis: str | None,
    policy: WorkspacePolicy,
    cancel: threading.Event | None = None,
) -> Analysis:
    """Run the static analysis. Raises ``NoReadableFiles``, ``PathOutsideWorkspace``, ``AnalysisCancelled``."""
    expansion = expand_affected(affected_files, policy)
    notes: list[str] = []
    if expansion.truncated:
        notes.append("affected_files expanded to too many files; the list was truncated")
    read = _read_all(expansion.files, cancel)
    skipped = expansion.skipped + read.skipped
    if not read.sources:
        raise NoReadableFiles(
            f"none of the affected files can be read ({len(expansion.missing)} missing, {len(skipped)} skipped): "
            + ", ".join([*expansion.missing, *(s["file"] for s in skipped)][:5]),
            {"missing_files": expansion.missing, "skipped_files": skipped},
        )
    sources = dict(read.sources)
    affected = set(sources)
    parsed = parse_traces(error_traces)
    errors = map_errors(parsed, policy, sources, affected)

    workspace: dict[str, SourceFile] = {}
    if depth == "deep":
        paths, truncated = workspace_python_files(policy.root, MAX_INDEX_FILES)
        if truncated:
            notes.append(f"the workspace index stops at {MAX_INDEX_FILES} files")
        workspace = _read_all([p for p in paths if str(p) not in sources], cancel, scope_check=False).sources
        errors = map_errors(parsed, policy, [*sources, *workspace], affected)  # more files to map onto
    trace_only: list[str] = []
    if depth != "quick":  # workspace files the traceback runs through are analysed too
        extra = _read_all(_trace_files(errors, sources, policy), cancel)
        skipped += extra.skipped
        sources.update(extra.sources)
        trace_only = sorted(extra.sources)

    findings: set[Finding] = set()
    index = Index([*sources.values(), *(s for f, s in workspace.items() if f not in sources)])
    if depth != "quick":
        hints = index.import_hints()
        graph = index.import_graph() if depth == "deep" else None
        for _, source in sorted(sources.items()):
            if cancel is not None and cancel.is_set():
                raise AnalysisCancelled
            try:
                ctx = FileContext(source, analyse_scopes(source.tree) if source.tree is not None else None, hints)
                found = check_file(ctx) + call_checks(ctx, index) + import_checks(ctx, index)
                if graph is not None:
                    found += import_cycles(ctx, index, graph)
            except RecursionError:
                notes.append(f"{source.path}: nested too deeply for the static checks; only parsed")
                continue
            findings.update(found)
    ordered = sorted(findings, key=finding_sort_key)
    candidates, root_cause = rank(ordered, errors, sources, problem_description, policy.root)
    check = check_hypothesis(hypothesis or "", candidates, policy.root, failure=bool(errors))
    root = root_cause.candidate
    return Analysis(
        problem_description=problem_description,
        depth=depth,
        files=tuple(sorted(affected)),
        trace_files=tuple(trace_only),
        missing_files=tuple(expansion.missing),
        skipped_files=tuple(sorted(skipped, key=lambda s: (s["file"], s["reason"]))),
        errors=tuple(errors),
        findings=tuple(ordered),
        root_cause=root_cause,
        hypotheses=tuple(candidates[:MAX_HYPOTHESES]),
        hypothesis_check=check,
        code_context=_contexts(errors, {**workspace, **sources}, root.file if root else None,
                               root.line if root else None),
        index_modules=len(index) if depth != "quick" else 0,
        notes=tuple(notes),
    )


class DebugAgent(Agent[DebugInput]):
    """Static debugging: tracebacks + checks -> ranked root cause with file, line and fix."""

    name = "debug"
    Input = DebugInput
    read_fields = ("affected_files",)

    @classmethod
    def task_uses_model(cls, data: Mapping[str, Any]) -> bool:
        return data.get("backend") == "claude"

    async def run(self, data: DebugInput, ctx: TaskContext) -> dict[str, Any]:
        cancel = threading.Event()
        ctx.event("debug.start", depth=data.analysis_depth, affected=len(data.affected_files),
                  traces=len(data.error_traces))
        try:
            analysis = await asyncio.to_thread(
                analyse, data.problem_description, list(data.affected_files), data.error_traces,
                data.analysis_depth, data.hypothesis, ctx.workspace, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the worker thread stops at its next file
            raise
        except NoReadableFiles as exc:
            raise TaskFailure(str(exc), output=exc.output, retryable=False) from None
        except PathOutsideWorkspace as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        root = analysis.root_cause.candidate
        ctx.event("debug.done", findings=len(analysis.findings), errors=len(analysis.errors),
                  root_cause=f"{root.file}:{root.line}" if root else None)
        if data.backend == "claude":
            return await _with_model_diagnosis(analysis.to_json(), data, ctx)
        return analysis.to_json()


async def _with_model_diagnosis(static: dict[str, Any], data: DebugInput, ctx: TaskContext) -> dict[str, Any]:
    """The claude backend: a session diagnoses with the static findings as evidence; those stay
    authoritative for file:line, model findings that point nowhere real become ``unverified_findings``."""
    from parallel_execution.claude_code.backends import diagnose  # only model-backed tasks load it
    from parallel_execution.claude_code.reports import merge_diagnosis

    model = await diagnose(ctx, evidence=static, problem_description=data.problem_description,
                           hypothesis=data.hypothesis, affected_files=data.affected_files,
                           error_traces=data.error_traces, analysis_depth=data.analysis_depth)
    merged = merge_diagnosis(static, model.get("diagnosis"), ctx.workspace)
    merged["claude"] = {k: model.get(k) for k in ("session_id", "num_turns", "usage", "total_cost_usd",
                                                  "transcript", "narrative", "report_error")}
    return merged
