"""The ``claude`` backend of the ``coder`` and ``debug`` agents.

``generate_code``: a session with ``agents/coder.md`` as system prompt gets the task as JSON and
writes the file, then the *same* validator as the scaffold backend runs. The session writes to a
staging copy (same file name, in ``.dispatch-staging/<task_id>/`` beside the target), so
``output_path`` only ever receives code that passed validation, written atomically. When checks
fail, the failed checks are sent back into the same session (``--resume``) up to
``repair_attempts`` times; if they still fail the task fails, the rejected code is kept in the
trace folder, and nothing is written to ``output_path``. Generated code with a missing import
therefore never reaches the user as valid.

``diagnose``: the ``debug`` agent runs its static analysis first and passes the findings in as
``evidence``; a session with ``agents/debug.md`` (read-only tools) confirms, refutes and extends
them and ends with a JSON report. This returns the model's diagnosis; ``reports.merge_diagnosis``
merges it with the static findings, which stay authoritative for file:line.

Both add the session accounting of ``ClaudeWorker.summary()`` (session id, turns, tokens, cost,
transcript) and the files the session changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from parallel_execution.agents.base import TaskContext
from parallel_execution.claude_code.agentdefs import AgentDefinition, AgentDefinitionError, load_agent_definition
from parallel_execution.claude_code.changes import diff, snapshot
from parallel_execution.claude_code.reports import split_report
from parallel_execution.claude_code.runner import DEFAULT_STALL_SECONDS, ClaudeRequest, ClaudeWorker
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import PathOutsideWorkspace, resolve_in_workspace
from parallel_execution.traces.fsio import atomic_write_text, dumps_json

__all__ = ["STAGING_DIR", "Validator", "diagnose", "generate_code"]

# Source text -> (passed, checks); each check a dict (``name``/``passed``/``message``, ...). Either a
# plain function (run in a worker thread) or a coroutine function (awaited).
Validator = Callable[[str], tuple[bool, list[dict[str, Any]]] | Awaitable[tuple[bool, list[dict[str, Any]]]]]
STAGING_DIR = ".dispatch-staging"
_CODER_TOOLS = ["Read", "Write", "Edit", "Grep", "Glob"]
_DEBUG_TOOLS = ["Read", "Grep", "Glob"]
_WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})


async def generate_code(
    ctx: TaskContext,
    *,
    contract: str,
    node_type: str,
    output_path: str | Path,
    context_files: Sequence[str] = (),
    validate: Validator,
    repair_attempts: int = 1,
    node_name: str | None = None,
    validation_level: str = "moderate",
    overwrite: bool = False,
    model: str | None = None,
    max_turns: int | None = None,
    max_budget_usd: float | None = None,
    stall_timeout_seconds: float | None = DEFAULT_STALL_SECONDS,
    agent: str = "coder",
    write_output: bool = True,
    instructions: str = "",
) -> dict[str, Any]:
    """Have a session write ``output_path``, validate it, repair by resuming; see module docstring.

    With ``write_output=False`` the validated code is returned as ``source`` instead of being
    written, for a caller that writes files itself. ``instructions`` (the coder's mode: omnibase
    layout or the project's conventions) are added to the prompt.
    """
    target = _in_workspace(output_path, ctx, "output_path")
    if target.exists() and not overwrite:
        raise TaskFailure(f"{target} already exists and overwrite is false", retryable=False)
    definition = _definition(agent, ctx)
    staging_dir = target.parent / STAGING_DIR / f"{ctx.task_id}.{ctx.attempt}"
    staging = staging_dir / target.name
    task_input = {
        "contract_description": contract, "node_type": node_type, "output_path": str(staging),
        "context_files": [str(f) for f in context_files], "validation_level": validation_level,
    }
    if node_name:
        task_input["node_name"] = node_name
    prompt = (
        f"You are the headless worker behind the parallel-dispatch `coder` task {ctx.task_id!r}.\n\n"
        f"Task input:\n```json\n{_json(task_input)}\n```\n\n"
        f"Write the file at output_path. It is a staging copy: after you finish, the runner validates it "
        f"(it must parse, every name must resolve, the conventions must hold) and moves it to {target}, so "
        f"name everything for that final path. If checks fail you will be asked, in this session, to fix them.\n"
        + (f"{instructions}\n\n" if instructions else "")
        + "End with the JSON report your instructions describe."
    )
    request = _request(definition, prompt, ctx, model=model, max_turns=max_turns, max_budget_usd=max_budget_usd,
                       stall_timeout_seconds=stall_timeout_seconds, default_tools=_CODER_TOOLS,
                       permission_mode="default")
    # Writes are approved in the staging folder only: acceptEdits let the session edit any file of
    # the workspace (checked with the real CLI); headless, a write elsewhere is now denied.
    request = replace(request, allowed_tools=_staging_only(request.allowed_tools or (), staging_dir, ctx.workspace.root))
    worker = ClaudeWorker(ctx)
    root = ctx.workspace.root
    before = await asyncio.to_thread(snapshot, root)
    rounds, passed, checks, code, report = 0, False, [], None, None
    try:
        staging_dir.mkdir(parents=True, exist_ok=True)
        session = await worker.run(request)
        while True:
            _, report = split_report(session.text)
            code = staging.read_text(encoding="utf-8") if staging.is_file() else None
            if code is None:
                why = (report or {}).get("error") or "the session did not write it"
                passed, checks = False, [{"name": "file_written", "passed": False,
                                          "message": f"{staging} was not written: {why}"}]
            else:
                passed, checks = await _run_validator(validate, code)
            failed = [] if passed else _failed(checks)
            ctx.event("claude_validation", round=rounds, passed=passed, failed=[_check_name(c) for c in failed])
            if passed or rounds >= repair_attempts:
                break
            rounds += 1
            session = await worker.run(replace(request, prompt=_repair_prompt(staging, failed), resume=session.session_id))
        if passed and code is not None and write_output:
            atomic_write_text(target, code)
    finally:
        _remove_staging(staging_dir)
    changes = diff(before, await asyncio.to_thread(snapshot, root))
    if report is not None and report.get("generated_file") == str(staging):  # the model saw the staging path
        report["generated_file"] = str(target) if passed else None
    outcome: dict[str, Any] = {
        "backend": "claude", "generated_file": str(target) if passed and write_output else None,
        "validation_passed": passed,
        "checks": checks, "repair_rounds": rounds, "report": report, **worker.summary(), "files_changed": changes,
        "unexpected_changes": _unexpected(changes, target.relative_to(root).as_posix() if target.is_relative_to(root) else ""),
    }
    if not passed:
        if code is not None:
            rejected = atomic_write_text(ctx.artifact_path("rejected" + (target.suffix or ".txt")), code)
            outcome["rejected_file"] = str(rejected)
        names = ", ".join(_check_name(c) for c in _failed(checks))
        raise TaskFailure(f"generated code failed validation after {rounds} repair round(s): {names}",
                          output=outcome, retryable=True)
    if not write_output:
        outcome["source"] = code
    return outcome


async def diagnose(
    ctx: TaskContext,
    *,
    evidence: dict[str, Any],
    problem_description: str,
    hypothesis: str | None = None,
    affected_files: Sequence[str] = (),
    error_traces: Sequence[str] = (),
    analysis_depth: str = "standard",
    model: str | None = None,
    max_turns: int | None = None,
    max_budget_usd: float | None = None,
    stall_timeout_seconds: float | None = DEFAULT_STALL_SECONDS,
    agent: str = "debug",
) -> dict[str, Any]:
    """Ask a read-only session for a diagnosis, given the static findings as evidence."""
    definition = _definition(agent, ctx)
    task_input = {
        "problem_description": problem_description, "affected_files": [str(f) for f in affected_files],
        "error_traces": list(error_traces), "analysis_depth": analysis_depth, "hypothesis": hypothesis,
    }
    prompt = (
        f"You are the headless worker behind the parallel-dispatch `debug` task {ctx.task_id!r}.\n\n"
        f"Task input:\n```json\n{_json(task_input)}\n```\n\n"
        "Static findings of the runner's analysis. They are authoritative for file and line: confirm or "
        "refute each by reading the code, keep its rule, and add what static analysis cannot see.\n"
        f"```json\n{_json(evidence)}\n```\n\n"
        "End with the JSON report your instructions describe."
    )
    request = _request(definition, prompt, ctx, model=model, max_turns=max_turns, max_budget_usd=max_budget_usd,
                       stall_timeout_seconds=stall_timeout_seconds, default_tools=_DEBUG_TOOLS, permission_mode=None)
    worker = ClaudeWorker(ctx)
    root = ctx.workspace.root
    before = await asyncio.to_thread(snapshot, root)
    session = await worker.run(request)
    changes = diff(before, await asyncio.to_thread(snapshot, root))
    narrative, report = split_report(session.text)
    return {
        "backend": "claude",
        "diagnosis": report,
        "narrative": narrative,
        "report_error": None if report is not None else "the session's final message has no JSON report",
        **worker.summary(),
        "files_changed": changes,
    }


def _request(definition: AgentDefinition, prompt: str, ctx: TaskContext, *, model: str | None, max_turns: int | None,
             max_budget_usd: float | None, stall_timeout_seconds: float | None, default_tools: list[str],
             permission_mode: str | None) -> ClaudeRequest:
    return ClaudeRequest(
        prompt=prompt, cwd=ctx.workspace.root, system_prompt=definition.system_prompt,
        model=model or definition.model, allowed_tools=definition.tools or default_tools,
        permission_mode=permission_mode or definition.permission_mode, max_turns=max_turns or definition.max_turns,
        max_budget_usd=max_budget_usd, stall_timeout_seconds=stall_timeout_seconds,
    )


def _definition(agent: str, ctx: TaskContext) -> AgentDefinition:
    try:
        return load_agent_definition(agent, ctx.workspace.root)
    except AgentDefinitionError as exc:
        raise TaskFailure(str(exc), retryable=False) from None


def _in_workspace(path: str | Path, ctx: TaskContext, field: str) -> Path:
    try:
        return resolve_in_workspace(path, ctx.workspace)
    except PathOutsideWorkspace as exc:
        raise TaskFailure(f"{field}: {exc}", retryable=False) from None


async def _run_validator(validate: Validator, code: str) -> tuple[bool, list[dict[str, Any]]]:
    if inspect.iscoroutinefunction(validate):
        return await validate(code)
    result = await asyncio.to_thread(validate, code)
    if inspect.isawaitable(result):  # a plain function that returned a coroutine
        return await result
    return result


def _repair_prompt(staging: Path, failed: list[dict[str, Any]]) -> str:
    return (
        f"The runner validated {staging} and these checks failed:\n```json\n{_json(failed)}\n```\n\n"
        "Fix the file in place (Read it, then Edit) so that every check passes. Change nothing else and "
        "write no other file. End with the JSON report your instructions describe."
    )


def _failed(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    bad = [c for c in checks if c.get("passed") is False or c.get("ok") is False
           or c.get("status") in ("failed", "error")]
    return bad or checks


def _check_name(check: dict[str, Any]) -> str:
    return str(check.get("name") or check.get("check") or check.get("rule") or check.get("id") or "check")


def _staging_only(tools: Sequence[str], staging_dir: Path, root: Path) -> list[str]:
    """``tools`` with every bare write tool replaced by one rule for the staging folder.

    The CLI matches its Write tool against ``Edit(...)`` rules (a ``Write(...)`` rule does not match),
    and a path in a rule is relative to the session's working directory, the workspace.
    """
    scoped = [tool for tool in tools if tool not in _WRITE_TOOLS]
    try:
        where = staging_dir.relative_to(root).as_posix()
    except ValueError:  # not under the root as spelt (a symlinked root): "//" starts an absolute path
        where = "/" + staging_dir.as_posix()
    return [*scoped, f"Edit({where}/**)"]


def _unexpected(changes: dict[str, Any], target: str) -> list[str]:
    """Changed paths other than the output file: the session wrote where it should not have."""
    changed = changes["created"] + changes["modified"] + changes["deleted"]
    return sorted(p for p in changed if p != target and f"/{STAGING_DIR}/" not in f"/{p}")


def _remove_staging(staging_dir: Path) -> None:
    shutil.rmtree(staging_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging_dir.parent.rmdir()  # only when no other task is staging beside it


def _json(value: Any) -> str:
    return dumps_json(value, indent=True).decode()
