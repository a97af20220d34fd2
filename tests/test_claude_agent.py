"""The ``claude`` agent against the stand-in CLI: every outcome, retries, budget, output fields."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fake_claude.harness import calls, events, make_ctx, pids, use_fake, wait_gone
from pydantic import ValidationError

from parallel_execution.agents.base import TaskContext
from parallel_execution.agents.claude import ClaudeAgent, ClaudeInput
from parallel_execution.agents.registry import load_agent
from parallel_execution.errors import TaskFailure
from parallel_execution.run.budget import BUDGET_SERVICE

REPO = Path(__file__).resolve().parent.parent


def run(ctx: TaskContext, **input_data: Any) -> dict[str, Any]:
    data = ClaudeInput.model_validate({"prompt": "Review the code", **input_data}, context=ctx.workspace.as_context())
    return asyncio.run(ClaudeAgent().run(data, ctx))


def fail(ctx: TaskContext, **input_data: Any) -> TaskFailure:
    with pytest.raises(TaskFailure) as info:
        run(ctx, **input_data)
    return info.value


def argv_value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_registered_as_a_model_agent():
    cls = load_agent("claude")
    assert cls is ClaudeAgent and cls.task_uses_model({"prompt": "x"})


def test_success_reports_session_cost_and_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "success", turns="3", cost="0.25")
    ctx = make_ctx(tmp_path, budget=1.0)
    out = run(ctx)
    [call] = calls(state)
    assert out["result"] == "Done: Review the code"
    assert out["session_id"] == argv_value(call["argv"], "--session-id")
    assert (out["num_turns"], out["total_cost_usd"], out["duration_api_ms"]) == (3, 0.25, 812.0)
    assert out["usage"] == {"input_tokens": 300, "output_tokens": 60, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0}
    assert out["files_changed"] == {"created": [], "modified": [], "deleted": []}
    assert out["structured_output"] is None and out["permission_denials"] == []
    assert ctx.cost_usd == 0.25 and ctx.services.get(BUDGET_SERVICE).spent_usd == 0.25
    [session] = events(ctx, "claude_session")
    assert session["session_id"] == out["session_id"] and session["outcome"] == "success"
    assert (session["num_turns"], session["total_cost_usd"], session["usage"]["input_tokens"]) == (3, 0.25, 300)
    transcript = [json.loads(line) for line in Path(out["transcript"]).read_text().splitlines()]
    assert out["transcript"] == str(tmp_path / "traces" / "t1.transcript.jsonl")
    assert transcript[0]["type"] == "dispatch" and transcript[0]["prompt"] == "Review the code"
    assert [m["type"] for m in transcript[1:]] == ["system", "assistant", "user", "assistant", "user", "assistant",
                                                   "result"]


def test_agent_definition_is_the_system_prompt_and_sets_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    run(make_ctx(tmp_path), agent="debug", context={"findings": [1, 2]})
    run(make_ctx(tmp_path), agent="debug", allowed_tools=["Read"], model="haiku", permission_mode="plan", max_turns=4)
    first, second = calls(state)
    body = (REPO / "agents" / "debug.md").read_text().split("\n---\n", 1)[1].strip()
    assert first["system_prompt"] == body
    assert argv_value(first["argv"], "--allowedTools") == "Read,Grep,Glob"
    assert "--model" not in first["argv"]  # model: inherit
    assert first["prompt"].startswith("Review the code\n\nContext (JSON):\n```json\n")
    assert json.loads(first["prompt"].split("```json\n")[1].split("\n```")[0]) == {"findings": [1, 2]}
    assert [argv_value(second["argv"], f) for f in ("--allowedTools", "--model", "--permission-mode", "--max-turns")] \
        == ["Read", "haiku", "plan", "4"]


def test_structured_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", structured='{"verdict": "ok", "issues": 2}')
    schema = {"type": "object", "properties": {"verdict": {"type": "string"}, "issues": {"type": "integer"}}}
    out = run(make_ctx(tmp_path), output_schema=schema)
    assert out["structured_output"] == {"verdict": "ok", "issues": 2}
    assert json.loads(argv_value(calls(state)[0]["argv"], "--json-schema")) == schema


def test_files_changed_under_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "broken_then_fixed")
    ctx = make_ctx(tmp_path)
    (ctx.workspace.root / "src").mkdir()
    target = ctx.workspace.root / "src" / "dump.py"
    prompt = "Write it.\n```json\n" + json.dumps({"output_path": str(target), "node_type": "Compute"}) + "\n```"
    out = run(ctx, prompt=prompt, cwd="src", permission_mode="acceptEdits")
    assert out["files_changed"] == {"created": ["dump.py"], "modified": [], "deleted": []}
    assert out["cwd"] == str(ctx.workspace.root / "src")


def test_permission_denials_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "broken_then_fixed")
    ctx = make_ctx(tmp_path)
    target = ctx.workspace.root / "x.py"
    out = run(ctx, prompt="```json\n" + json.dumps({"output_path": str(target)}) + "\n```")
    assert [d["tool_name"] for d in out["permission_denials"]] == ["Write"]
    assert not target.exists() and out["files_changed"]["created"] == []


@pytest.mark.parametrize(
    ("scenario", "env", "message", "retryable"),
    [
        ("error_exit0", {}, r"^claude session failed \(api_error, HTTP 500\): API Error: 500 ", True),
        ("not_logged_in", {}, r"^Claude Code is not authenticated: Not logged in · Please run /login; ", False),
        ("max_turns", {}, r"^stopped at the turn limit: Reached maximum number of turns \(2\)$", False),
        ("expensive", {"cost": "0.9"}, r"^stopped at the budget limit: Reached maximum budget \(\$0\.5\)$", False),
    ],
)
def test_failures_are_classified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, env: dict[str, str],
                                 message: str, retryable: bool):
    use_fake(monkeypatch, tmp_path / "state", scenario, **env)
    ctx = make_ctx(tmp_path, budget=10.0)
    failure = fail(ctx, max_turns=2, max_budget_usd=0.5)
    assert failure.retryable is retryable
    assert failure.output is not None and failure.output["session_id"]
    assert failure.output["files_changed"] == {"created": [], "modified": [], "deleted": []}
    assert re.search(message, failure.message), failure.message
    if scenario == "expensive":  # a session stopped at its budget still costs what it spent
        assert failure.output["total_cost_usd"] == 0.9 and ctx.services.get(BUDGET_SERVICE).spent_usd == 0.9


def test_rate_limit_then_success_retries_with_backoff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", rate_limits="2")
    ctx = make_ctx(tmp_path)
    started = time.monotonic()
    out = run(ctx, rate_limit_backoff_seconds=0.1)
    assert time.monotonic() - started >= 0.3  # 0.1 then 0.2 (plus jitter)
    assert [s["outcome"] for s in out["sessions"]] == ["rate_limited", "rate_limited", "success"]
    waits = [e["delay_s"] for e in events(ctx, "claude_rate_limited")]
    assert len(waits) == 2 and 0.1 <= waits[0] <= 0.125 and 0.2 <= waits[1] <= 0.25
    assert len(events(ctx, "claude_api_retry")) == 2
    # The model never answered, so each retry is a fresh session (a new id), not a resume.
    ids = [argv_value(c["argv"], "--session-id") for c in calls(state)]
    assert len(set(ids)) == 3 and not any("--resume" in c["argv"] for c in calls(state))


def test_rate_limit_waits_for_the_named_reset_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", limit_style="usage", reset_in="1.5")
    ctx = make_ctx(tmp_path)
    started = time.monotonic()
    out = run(ctx, rate_limit_backoff_seconds=0.05)
    elapsed = time.monotonic() - started
    [waited] = events(ctx, "claude_rate_limited")
    assert waited["reset_at"] is not None
    assert 0.4 <= waited["delay_s"] <= 1.6 and elapsed >= waited["delay_s"]
    assert out["sessions"][-1]["outcome"] == "success"


def test_rate_limit_reset_beyond_the_max_wait_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", limit_style="usage", reset_in="3600")
    failure = fail(make_ctx(tmp_path), rate_limit_max_wait_seconds=60)
    assert failure.retryable is False
    assert "longer than rate_limit_max_wait_seconds=60" in failure.message
    assert failure.message.startswith("rate limited: Claude AI usage limit reached|")


def test_rate_limit_wait_beyond_the_task_timeout_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", limit_style="usage", reset_in="30")
    failure = fail(make_ctx(tmp_path, timeout=5))
    assert "would exceed the task timeout of 5 s" in failure.message and failure.retryable is False


def test_rate_limits_beyond_the_retries_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", rate_limits="9")
    failure = fail(make_ctx(tmp_path), rate_limit_retries=1, rate_limit_backoff_seconds=0.01)
    assert failure.message.endswith("(after 1 rate-limit retries)") and failure.retryable
    assert [s["outcome"] for s in failure.output["sessions"]] == ["rate_limited", "rate_limited"]


def test_stall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "stall")
    failure = fail(make_ctx(tmp_path), stall_timeout_seconds=2.0)  # seconds: the stand-in's start-up under load
    assert failure.message == "claude session stalled: no output for 2 s; its process group was stopped"
    assert failure.retryable and failure.output["sessions"][0]["outcome"] == "stalled"
    assert wait_gone(pids(state)["cli"])


def test_task_timeout_cancels_and_kills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "hang")
    ctx = make_ctx(tmp_path)
    data = ClaudeInput.model_validate({"prompt": "x"}, context=ctx.workspace.as_context())

    async def main() -> None:
        async with asyncio.timeout(3.0):  # long enough for the stand-in to start and record its pid
            await ClaudeAgent().run(data, ctx)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert wait_gone(pids(state)["cli"])


def test_budget_remaining_is_passed_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state")
    ctx = make_ctx(tmp_path, budget=1.0)
    ctx.services.get(BUDGET_SERVICE).add(0.7)
    run(ctx, max_budget_usd=0.5)
    run(ctx)
    assert [argv_value(c["argv"], "--max-budget-usd") for c in calls(state)] == ["0.3", "0.2877"]


def test_exhausted_budget_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state")
    ctx = make_ctx(tmp_path, budget=0.5)
    ctx.services.get(BUDGET_SERVICE).add(0.5)
    failure = fail(ctx)
    assert failure.message == "budget_exhausted: the dispatch has spent $0.5000 of $0.5" and not failure.retryable
    assert calls(state) == []


def test_program_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(tmp_path / "missing"))
    failure = fail(make_ctx(tmp_path))
    assert failure.message.endswith("missing' is not an executable file") and not failure.retryable


@pytest.mark.parametrize(
    ("input_data", "message"),
    [
        ({"prompt": ""}, r"prompt\n  String should have at least 1 character"),
        ({"prompt": "x", "agent": "no-such-agent"}, r"agent\n  Value error, no agent definition named 'no-such-agent'"),
        ({"prompt": "x", "cwd": "../outside"}, r"cwd\n  Value error, path '../outside' resolves to"),
        ({"prompt": "x", "output_schema": {"type": "array"}}, r"output_schema must describe a JSON object"),
        ({"prompt": "x", "permission_mode": "yolo"}, r"permission_mode\n  Input should be 'default', 'acceptEdits'"),
        ({"prompt": "x", "max_turns": 0}, r"max_turns\n  Input should be greater than or equal to 1"),
        ({"prompt": "x", "promt": "typo"}, r"promt\n  Extra inputs are not permitted"),
    ],
)
def test_input_errors_at_validation_time(tmp_path: Path, input_data: dict[str, Any], message: str):
    ctx = make_ctx(tmp_path)
    with pytest.raises(ValidationError, match=message):
        ClaudeInput.model_validate(input_data, context=ctx.workspace.as_context())


@pytest.mark.parametrize("module", ["binary", "agentdefs", "session", "outcome", "limiter", "changes", "runner",
                                    "reports", "backends"])
def test_public_names_exist(module: str):
    import importlib

    loaded = importlib.import_module(f"parallel_execution.claude_code.{module}")
    assert loaded.__doc__ and all(hasattr(loaded, name) for name in loaded.__all__)


def test_a_far_reset_pauses_other_sessions_only_up_to_the_max_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_fake(monkeypatch, tmp_path / "state", "rate_limit_then_success", limit_style="usage", reset_in="3600")
    ctx = make_ctx(tmp_path)
    fail(ctx, rate_limit_max_wait_seconds=2)
    limiter = ctx.services.get("claude.limiter")
    assert 1.0 < limiter.snapshot()["paused_for_s"] <= 2.0


def test_rejected_credentials_stop_the_session_without_waiting_out_the_cli_retries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state = use_fake(monkeypatch, tmp_path / "state", "bad_api_key", retry_delay_ms="300")
    ctx = make_ctx(tmp_path)
    started = time.monotonic()
    failure = fail(ctx)
    assert time.monotonic() - started < 2  # the stand-in would take 3 s to give up by itself
    assert failure.message == ("Claude Code is not authenticated: the API rejected the credentials 2 times (HTTP 401); "
                               "log in with `dispatch-runner claude -- auth login` or set a valid ANTHROPIC_API_KEY")
    assert failure.retryable is False and len(events(ctx, "claude_api_retry")) == 2
    assert failure.output["sessions"][0]["outcome"] == "not_logged_in"
    assert wait_gone(pids(state)["cli"])
