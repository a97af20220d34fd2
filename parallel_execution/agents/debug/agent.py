"""The ``debug`` agent: input model, the analysis pipeline (:func:`analyse`), and the agent class.

Pipeline, one direction::

    affected_files --expand (files)--> regular Python files, read once (source)
    error_traces --parse (tracebacks)--> frames mapped onto workspace files (files)
                                               |
    analysis layer (parallel_execution.analysis): ruff, mypy, bandit, core checks, by depth;
    standard/deep also analyse the workspace files the traceback runs through
                                               |
    diagnostics -> findings (rule, tool, code, evidence, scope, mechanical fix: fixes)
    --rank--> root cause, ranked hypotheses, hypothesis check, suggested fix  => Analysis
    --apply (apply_fixes != none)--> fixed files written and re-analysed

Where the work runs: reading, parsing and ranking are short CPU steps done in a *daemon* thread
(:func:`_off_loop`) with a cancel flag checked between files, so they never block the event
loop and can never keep the process alive after a timeout; the analyzers are subprocesses that
the analysis layer kills on cancellation. Only regular files are ever opened (a FIFO named
``*.py`` is skipped with a reason), so nothing here can block on a read.

Failure policy: affected files that do not exist are listed in ``missing_files``; only when none
of them can be read does the task fail (non-retryable, with the partial output attached). A
configured ``python`` that does not run is an input error of the task (non-retryable).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.debug.apply import ApplyMode, apply_fixes
from parallel_execution.agents.debug.files import code_snippet, expand_affected, map_errors
from parallel_execution.agents.debug.fixes import fix_for
from parallel_execution.agents.debug.model import Analysis, Finding, TraceError, finding_sort_key
from parallel_execution.agents.debug.rank import MAX_HYPOTHESES, check_hypothesis, rank
from parallel_execution.agents.debug.rules import RULES
from parallel_execution.agents.debug.source import SourceFile, read_source
from parallel_execution.agents.debug.tracebacks import ParsedError, parse_traces
from parallel_execution.analysis import engine, onex
from parallel_execution.analysis.diagnostics import Diagnostic
from parallel_execution.analysis.files import python_files
from parallel_execution.analysis.interpreter import InterpreterNotFound, ProjectInterpreter, find_project_interpreter
from parallel_execution.errors import DispatchError, TaskFailure
from parallel_execution.inputs.paths import PathOutsideWorkspace, WorkspacePath, WorkspacePolicy

__all__ = ["AnalysisCancelled", "DebugAgent", "DebugInput", "NoReadableFiles", "analyse"]

Depth = Literal["quick", "standard", "deep"]
MAX_INDEX_FILES = 3000
MAX_TRACE_FILES = 50
T = TypeVar("T")


class DebugInput(AgentInput):
    problem_description: str = Field(min_length=1)
    # Files, directories or globs, relative to the workspace (escapes are rejected at validation).
    affected_files: list[WorkspacePath] = Field(min_length=1)
    # Python tracebacks, pytest output or plain error lines; one string may hold several.
    error_traces: list[str] = Field(default_factory=list)
    analysis_depth: Depth = "standard"
    hypothesis: str | None = None
    backend: Literal["static", "claude"] = "static"
    # Write mechanically fixed files: beside the original (<stem>.fixed.py) or in place.
    apply_fixes: ApplyMode = "none"
    # ONEX node conventions: "auto" checks node modules (Node<Name><Type> classes, nodes/ folders).
    conventions: Literal["auto", "onex", "off"] = "auto"
    # The project's interpreter for mypy's import resolution (default: the workspace's virtualenv).
    python: str | None = None

    @field_validator("error_traces", mode="before")
    @classmethod
    def _one_trace(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class NoReadableFiles(DispatchError):
    def __init__(self, message: str, output: dict[str, Any]) -> None:
        super().__init__(message)
        self.output = output


class AnalysisCancelled(DispatchError):
    pass


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in a daemon thread (it cannot keep the process alive) and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, future.set_exception, exc)
        else:
            loop.call_soon_threadsafe(settle, future.set_result, result)

    threading.Thread(target=work, name="debug-analysis", daemon=True).start()
    return await future


@dataclass(slots=True)
class _Prepared:
    sources: dict[str, SourceFile]
    affected: set[str]
    errors: list[TraceError]
    parsed: list[ParsedError]
    skipped: list[dict[str, str]]
    missing: list[str]
    trace_only: list[str]
    package: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_all(paths: list[Path], cancel: threading.Event | None) -> tuple[dict[str, SourceFile], list[dict[str, str]]]:
    sources: dict[str, SourceFile] = {}
    skipped: list[dict[str, str]] = []
    for path in paths:
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelled
        try:
            sources[str(path)] = read_source(path)
        except (OSError, ValueError) as exc:
            skipped.append({"file": str(path), "reason": f"unreadable: {exc}"})
    return sources, skipped


def _trace_files(errors: list[TraceError], known: Mapping[str, SourceFile], policy: WorkspacePolicy) -> list[Path]:
    """Workspace files named by frames that are not analysed yet (they may hold the cause)."""
    found: list[Path] = []
    for error in errors:
        for frame in error.frames:
            if frame.in_workspace and frame.file not in known and frame.file.endswith(".py"):
                path = Path(frame.file)
                if path not in found and path.is_file() and path.is_relative_to(policy.root):
                    found.append(path)
    return found[:MAX_TRACE_FILES]


def _prepare(affected_files: list[str], traces: list[str], depth: Depth, policy: WorkspacePolicy,
             cancel: threading.Event | None) -> _Prepared:
    expansion = expand_affected(affected_files, policy)
    notes = ["affected_files expanded to too many files; the list was truncated"] if expansion.truncated else []
    sources, unreadable = _read_all(expansion.files, cancel)
    skipped = expansion.skipped + unreadable
    if not sources:
        raise NoReadableFiles(
            f"none of the affected files can be read ({len(expansion.missing)} missing, {len(skipped)} skipped): "
            + ", ".join([*expansion.missing, *(s["file"] for s in skipped)][:5]),
            {"missing_files": expansion.missing, "skipped_files": skipped},
        )
    affected = set(sources)
    parsed = parse_traces(traces)
    package: list[str] = []
    if depth == "deep":
        paths, truncated = python_files(policy.root, MAX_INDEX_FILES)
        package = [str(p) for p in paths]
        if truncated:
            notes.append(f"deep analysis stops at {MAX_INDEX_FILES} workspace files")
    errors = map_errors(parsed, policy, [*sources, *package], affected)
    trace_only: list[str] = []
    if depth != "quick":  # workspace files the traceback runs through are analysed too
        extra, more_skipped = _read_all(_trace_files(errors, sources, policy), cancel)
        skipped += more_skipped
        sources.update(extra)
        trace_only = sorted(extra)
    return _Prepared(sources, affected, errors, parsed, skipped, expansion.missing, trace_only, package, notes)


def _finding(diag: Diagnostic, source: SourceFile | None, hints: Mapping[str, str],
             trees: Mapping[str, Any]) -> Finding:
    rule = diag.rule if diag.rule in RULES else "lint"
    if rule != diag.rule:
        diag = diag.with_(rule=rule)
    message = diag.message + (f" ({diag.hint})" if diag.hint and diag.hint not in diag.message else "")
    fix = fix_for(diag, source, hints, trees) if source is not None else None
    if rule == "missing-import" and fix is not None:
        message += f": {fix.description}"
    evidence = source.snippet(diag.line) if source else ""
    if rule == "hardcoded-secret":  # the finding must not repeat the secret it reports
        evidence = redact_literals(evidence)
    return Finding(rule, RULES[rule].severity, diag.file, diag.line, diag.column, message,
                   evidence, diag.end_line, diag.symbol,
                   source.scope_at(diag.line) if source else None, fix, diag.tool, diag.code, diag.also,
                   diag.moved_from)


_LITERAL = re.compile(r"""(?P<q>[rbuRBU]{0,2}["'])(?:\\.|(?!(?P=q)).)+(?P=q)""")


def redact_literals(text: str) -> str:
    return _LITERAL.sub('"<redacted>"', text)


def _contexts(errors: list[TraceError], sources: Mapping[str, SourceFile], root_file: str | None,
              root_line: int | None, secrets: frozenset[tuple[str, int]] = frozenset()) -> tuple[dict[str, Any], ...]:
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
        if source is None:
            try:
                source = read_source(Path(file))
            except (OSError, ValueError):
                continue
        lines = [redact_literals(t) if (file, n) in secrets else t for n, t in enumerate(source.lines, 1)]
        shown.append({"file": file, "line": line, "function": function or source.scope_at(line), "role": role,
                      "snippet": code_snippet(lines, line)})
    return tuple(shown)


def _conclude(prep: _Prepared, report: engine.Report, problem: str, hypothesis: str | None, depth: Depth,
              policy: WorkspacePolicy, extra_diags: list[Diagnostic], notes: list[str]) -> Analysis:
    hints = engine.import_hints(report.trees)
    sources = dict(prep.sources)
    reported = {d.file for d in report.diagnostics if d.rule == "syntax-error"}
    for file, source in sorted(prep.sources.items()):  # what the parser rejects and no tool reported
        if source.error is not None and file not in reported:
            error = source.error
            extra_diags = [*extra_diags, Diagnostic("core", "syntax", file, error.lineno or 1, error.offset or 1,
                                                    f"{type(error).__name__}: {error.msg}", "error",
                                                    rule="syntax-error")]
    findings: set[Finding] = set()
    for diag in [*report.diagnostics, *extra_diags]:
        if diag.file not in sources:
            try:
                sources[diag.file] = read_source(Path(diag.file))
            except (OSError, ValueError):
                continue
        findings.add(_finding(diag, sources[diag.file], hints, report.trees))
    ordered = sorted(findings, key=finding_sort_key)
    candidates, root_cause = rank(ordered, prep.errors, sources, problem, policy.root)
    check = check_hypothesis(hypothesis or "", candidates, policy.root, failure=bool(prep.errors))
    root = root_cause.candidate
    for failed in report.failures():
        notes.append(f"{failed.tool} {failed.status}: {(failed.detail or '').splitlines()[0][:300] if failed.detail else ''}"
                     "; the other analyzers' findings are reported")
    return Analysis(
        problem_description=problem, depth=depth, files=tuple(sorted(prep.affected)),
        trace_files=tuple(prep.trace_only), missing_files=tuple(prep.missing),
        skipped_files=tuple(sorted(prep.skipped, key=lambda s: (s["file"], s["reason"]))),
        errors=tuple(prep.errors), findings=tuple(ordered), root_cause=root_cause,
        hypotheses=tuple(candidates[:MAX_HYPOTHESES]), hypothesis_check=check,
        code_context=_contexts(prep.errors, sources, root.file if root else None, root.line if root else None,
                               frozenset((f.file, f.line) for f in ordered if f.rule == "hardcoded-secret")),
        index_modules=len(prep.package), notes=tuple([*prep.notes, *notes]),
        checks=tuple(c.to_json() for c in report.checks), interpreter=report.interpreter.describe(),
    )


def _onex(prep: _Prepared, report: engine.Report, mode: str, depth: Depth) -> tuple[list[Diagnostic], list[Any]]:
    if mode == "off":
        return [], []
    files = [f for f in sorted(prep.affected) if f in report.trees
             and (mode == "onex" or onex.is_node_module(f, report.trees[f]))]
    if not files:
        return [], []
    strict = depth == "deep"
    found = [d for f in files for d in onex.onex_diagnostics(f, report.trees[f], strict=strict)]
    return found, [onex.onex_check_run(len(files), strict)]


async def analyse(problem_description: str, affected_files: list[str], error_traces: list[str], depth: Depth,
                  hypothesis: str | None, policy: WorkspacePolicy, cancel: threading.Event | None = None, *,
                  python: str | ProjectInterpreter | None = None, apply: ApplyMode = "none",
                  conventions: str = "auto", timeout: float = engine.DEFAULT_TIMEOUT) -> Analysis:
    """Run the analysis. Raises ``NoReadableFiles``, ``PathOutsideWorkspace``, ``AnalysisCancelled``,
    ``InterpreterNotFound``."""
    deadline = time.monotonic() + timeout
    interpreter = python if isinstance(python, ProjectInterpreter) else find_project_interpreter(policy.root, python)
    prep = await _off_loop(_prepare, list(affected_files), list(error_traces), depth, policy, cancel)
    report = await engine.analyse(sorted(prep.sources), root=policy.root, depth=depth,
                                  texts={f: s.text for f, s in prep.sources.items()}, python=interpreter,
                                  package_files=prep.package, timeout=max(deadline - time.monotonic(), 1.0))
    extra, runs = _onex(prep, report, conventions, depth)
    report.checks += runs
    if cancel is not None and cancel.is_set():
        raise AnalysisCancelled
    analysis = await _off_loop(_conclude, prep, report, problem_description, hypothesis, depth, policy, extra, [])
    if apply != "none":
        applied = await apply_fixes([f for f in analysis.findings if f.file in prep.affected], apply, policy, depth,
                                    interpreter, max(deadline - time.monotonic(), 1.0))
        analysis = _with_applied(analysis, applied)
    return analysis


def _with_applied(analysis: Analysis, applied: list[dict[str, Any]]) -> Analysis:
    from dataclasses import replace

    return replace(analysis, applied_fixes=tuple(applied))


class DebugAgent(Agent[DebugInput]):
    """Static debugging: tracebacks + real analyzers -> ranked root cause with file, line and fix."""

    name = "debug"
    Input = DebugInput
    read_fields = ("affected_files",)

    @classmethod
    def task_uses_model(cls, data: Mapping[str, Any]) -> bool:
        return data.get("backend") == "claude"

    @classmethod
    def summarise(cls, output: dict[str, Any]) -> list[str] | None:
        root = output.get("root_cause")
        if not isinstance(root, dict):
            return None
        where = f"{root.get('file')}:{root.get('line')}" if root.get("file") else "no location"
        return [f"{where} {root.get('summary') or ''}".strip()]

    async def run(self, data: DebugInput, ctx: TaskContext) -> dict[str, Any]:
        cancel = threading.Event()
        ctx.event("debug.start", depth=data.analysis_depth, affected=len(data.affected_files),
                  traces=len(data.error_traces))
        try:
            analysis = await analyse(
                data.problem_description, list(data.affected_files), data.error_traces, data.analysis_depth,
                data.hypothesis, ctx.workspace, cancel, python=data.python, apply=data.apply_fixes,
                conventions=data.conventions)
        except asyncio.CancelledError:
            cancel.set()  # the daemon thread stops at its next file; analyzer processes are killed
            raise
        except NoReadableFiles as exc:
            raise TaskFailure(str(exc), output=exc.output, retryable=False) from None
        except (PathOutsideWorkspace, InterpreterNotFound) as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        root = analysis.root_cause.candidate
        ctx.event("debug.done", findings=len(analysis.findings), errors=len(analysis.errors),
                  root_cause=f"{root.file}:{root.line}" if root else None,
                  checks=[f"{c['tool']}:{c['status']}" for c in analysis.checks])
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
