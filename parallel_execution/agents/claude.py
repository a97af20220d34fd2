"""The ``claude`` agent: one free-form headless Claude Code session per task.

The prompt (plus an optional ``context`` value, appended as JSON, which is where ``$from``
references to earlier tasks' outputs go) is sent to ``claude -p``; ``agent`` names a definition in
``agents/`` whose body becomes the system prompt and whose ``tools``/``model``/``permissionMode``/
``maxTurns`` are defaults the task may override. Sessions of a dispatch share an adaptive
concurrency limit and the dispatch's budget; see ``parallel_execution.claude_code``.

Output: ``result``, ``structured_output``, ``session_id``, ``num_turns``, ``usage`` (tokens),
``total_cost_usd``, ``duration_api_ms``, ``transcript`` (the stream-json log in the trace folder),
``session_file`` (Claude Code's own copy, if found), ``files_changed`` under ``cwd``
(``created``/``modified``/``deleted``), ``permission_denials`` and one record per session.

Example task::

    {"task_id": "review-auth", "agent": "claude",
     "input_data": {"prompt": "Review src/auth for injection bugs", "agent": "debug",
                    "max_turns": 20, "max_budget_usd": 0.5}}
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from parallel_execution.agents.base import Agent, AgentInput, TaskContext, brief
from parallel_execution.claude_code.agentdefs import AgentDefinitionError, load_agent_definition
from parallel_execution.claude_code.changes import diff, snapshot
from parallel_execution.claude_code.runner import DEFAULT_STALL_SECONDS, ClaudeRequest, ClaudeWorker
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import CONTEXT_KEY, PathOutsideWorkspace, WorkspacePath, resolve_in_workspace
from parallel_execution.traces.fsio import dumps_json

__all__ = ["ClaudeAgent", "ClaudeInput", "PermissionMode"]

_UNGUARDED_MODES = frozenset({"bypassPermissions", "auto"})
PermissionMode = Literal["default", "acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk", "plan"]


class ClaudeInput(AgentInput):
    prompt: str = Field(min_length=1, description="What to ask; sent on stdin.")
    agent: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][\w.-]*$",
        description="Agent definition (agents/<name>.md, .claude/agents/...) used as the system prompt.",
    )
    context: Any = Field(default=None, description="Any JSON value appended to the prompt (e.g. $from outputs).")
    model: str | None = Field(default=None, min_length=1)
    allowed_tools: list[str] | None = Field(default=None, description="Tool rules auto-approved, e.g. Read, Bash(git *).")
    permission_mode: PermissionMode | None = None
    max_turns: int | None = Field(default=None, ge=1)
    max_budget_usd: float | None = Field(default=None, gt=0, description="Cap for this task, all its sessions.")
    cwd: WorkspacePath | None = Field(default=None, description="Session folder; default the workspace root.")
    stall_timeout_seconds: float | None = Field(
        default=DEFAULT_STALL_SECONDS, gt=0, description="No output for this long stops the session; null = never."
    )
    output_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema for structured_output.")
    rate_limit_retries: int = Field(default=3, ge=0, le=20)
    rate_limit_backoff_seconds: float = Field(default=10.0, ge=0, description="First wait after a rate limit; doubles.")
    rate_limit_max_wait_seconds: float = Field(default=900.0, ge=0, description="Longer waits fail the task at once.")

    @field_validator("agent")
    @classmethod
    def _definition_exists(cls, name: str | None, info: ValidationInfo) -> str | None:
        policy = (info.context or {}).get(CONTEXT_KEY)
        if name is not None and policy is not None:
            try:
                load_agent_definition(name, policy.root)
            except AgentDefinitionError as exc:
                raise ValueError(str(exc)) from None
        return name

    @field_validator("output_schema")
    @classmethod
    def _schema_is_object(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None and schema.get("type", "object") != "object":
            raise ValueError("output_schema must describe a JSON object (type: object)")
        return schema


class ClaudeAgent(Agent[ClaudeInput]):
    name = "claude"
    Input = ClaudeInput
    uses_model = True

    @classmethod
    def summarise(cls, output: dict[str, Any]) -> list[str] | None:
        if "result" not in output:
            return None
        parts = [brief(output["result"], 60)]
        if isinstance(output.get("total_cost_usd"), (int, float)):
            parts.append(f"${output['total_cost_usd']:.4f}")
        return parts

    @classmethod
    def task_runs_commands(cls, data: Mapping[str, Any], workspace_root: Path) -> str | None:
        """A session that may use Bash, or is not asked before acting, can run any program."""
        tools, mode = data.get("allowed_tools"), data.get("permission_mode")
        name = data.get("agent")
        if isinstance(name, str) and (tools is None or mode is None):
            try:
                definition = load_agent_definition(name, workspace_root)
            except AgentDefinitionError:
                definition = None  # reported when the task runs
            if definition is not None:
                tools = definition.tools if tools is None else tools
                mode = definition.permission_mode if mode is None else mode
        if mode in _UNGUARDED_MODES:
            return f"permission_mode {mode!r} lets the Claude session run programs without asking"
        if isinstance(tools, list) and any(isinstance(t, str) and t.split("(")[0].strip() == "Bash" for t in tools):
            return "the Claude session may use Bash (allowed_tools or its agent definition's tools)"
        return None

    async def run(self, data: ClaudeInput, ctx: TaskContext) -> dict[str, Any]:
        cwd = _session_dir(data.cwd, ctx)
        request = _request(data, cwd, ctx)
        worker = ClaudeWorker(ctx)
        before = await asyncio.to_thread(snapshot, cwd)
        try:
            session = await worker.run(request)
        except TaskFailure as failure:
            changes = diff(before, await asyncio.to_thread(snapshot, cwd))
            failure.output = {**(failure.output or worker.summary()), "files_changed": changes}
            raise
        changes = diff(before, await asyncio.to_thread(snapshot, cwd))
        result = session.result
        return {
            "result": session.text,
            "structured_output": result.get("structured_output"),
            **worker.summary(),
            "files_changed": changes,
            "permission_denials": result.get("permission_denials") or [],
            "agent": data.agent,
            "cwd": str(cwd),
        }


def _session_dir(cwd: str | None, ctx: TaskContext) -> Path:
    try:
        folder = resolve_in_workspace(cwd, ctx.workspace) if cwd else ctx.workspace.root
    except PathOutsideWorkspace as exc:
        raise TaskFailure(f"cwd: {exc}", retryable=False) from None
    if not folder.is_dir():
        raise TaskFailure(f"cwd {str(folder)!r} is not a folder", retryable=False)
    return folder


def _request(data: ClaudeInput, cwd: Path, ctx: TaskContext) -> ClaudeRequest:
    system_prompt = allowed = model = permission_mode = max_turns = None
    if data.agent:
        try:
            definition = load_agent_definition(data.agent, ctx.workspace.root)
        except AgentDefinitionError as exc:
            raise TaskFailure(str(exc), retryable=False) from None
        system_prompt, allowed, model = definition.system_prompt, definition.tools, definition.model
        permission_mode, max_turns = definition.permission_mode, definition.max_turns
    prompt = data.prompt
    if data.context is not None:
        prompt += "\n\nContext (JSON):\n```json\n" + dumps_json(data.context, indent=True).decode() + "\n```\n"
    return ClaudeRequest(
        prompt=prompt,
        cwd=cwd,
        system_prompt=system_prompt,
        model=data.model or model,
        allowed_tools=data.allowed_tools if data.allowed_tools is not None else allowed,
        permission_mode=data.permission_mode or permission_mode,
        max_turns=data.max_turns or max_turns,
        max_budget_usd=data.max_budget_usd,
        json_schema=data.output_schema,
        stall_timeout_seconds=data.stall_timeout_seconds,
        rate_limit_retries=data.rate_limit_retries,
        rate_limit_backoff_seconds=data.rate_limit_backoff_seconds,
        rate_limit_max_wait_seconds=data.rate_limit_max_wait_seconds,
    )
