"""Against the real Claude Code program (the copy bundled in claude-agent-sdk).

Without credentials (the normal case in CI) the real CLI still runs offline up to the API call: it
must accept every flag we pass and its "Not logged in" answer must be classified as such, never as
a success. Pointed at a local stand-in of the Messages API (``fake_messages_api``) it runs
whole sessions offline: tool calls, structured output, a 429, the turn limit, all with the real
program's own result objects. With credentials (``ANTHROPIC_API_KEY``, ``CLAUDE_CODE_OAUTH_TOKEN`` or a logged-in
``~/.claude``) one tiny real session runs instead (marker ``real_claude``; it costs a fraction of a
cent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_claude.harness import make_ctx
from fake_messages_api import Error, Text, Tool

from parallel_execution.agents.claude import ClaudeAgent, ClaudeInput
from parallel_execution.claude_code.binary import bundled_binary
from parallel_execution.errors import TaskFailure

REAL = bundled_binary()
HAS_CREDENTIALS = bool(
    os.environ.get("ANTHROPIC_API_KEY")
    or os.environ.get("CLAUDE_CODE_OAUTH_TOKEN")
    or (Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude") / ".credentials.json").exists()
)

pytestmark = pytest.mark.skipif(REAL is None, reason="claude-agent-sdk (the bundled CLI) is not installed")


def run(tmp_path: Path, **input_data) -> dict:
    ctx = make_ctx(tmp_path, budget=0.2)
    data = ClaudeInput.model_validate({"prompt": "Reply with the single word: pong", **input_data},
                                      context=ctx.workspace.as_context())
    return asyncio.run(ClaudeAgent().run(data, ctx))


@pytest.mark.skipif(HAS_CREDENTIALS, reason="credentials present: the session would really run")
def test_real_cli_accepts_our_flags_and_reports_not_logged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(REAL))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CLAUDECODE", "1")
    with pytest.raises(TaskFailure, match=r"^Claude Code is not authenticated: Not logged in") as info:
        run(tmp_path, agent="debug", model="haiku", allowed_tools=["Read", "Bash(git *)"], permission_mode="acceptEdits",
            max_turns=2, max_budget_usd=0.05, output_schema={"type": "object", "properties": {"w": {"type": "string"}}},
            stall_timeout_seconds=60)
    failure = info.value
    assert failure.retryable is False
    output = failure.output
    assert output["sessions"][0]["outcome"] == "not_logged_in" and output["total_cost_usd"] == 0
    lines = [json.loads(line) for line in Path(output["transcript"]).read_text().splitlines()]
    init = next(m for m in lines if m.get("subtype") == "init")
    assert init["session_id"] == output["session_id"] and init["permissionMode"] == "acceptEdits"
    assert lines[-1]["type"] == "result" and lines[-1]["is_error"] is True


@pytest.mark.skipif(HAS_CREDENTIALS, reason="credentials present")
def test_real_cli_resume_of_an_unknown_session_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from parallel_execution.claude_code.outcome import classify
    from parallel_execution.claude_code.session import SessionSpec, run_session

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    spec = SessionSpec("hi", tmp_path, resume="7f3c2b1a-0000-4000-8000-000000000000")
    result = asyncio.run(run_session(str(REAL), spec, stall_timeout=60))
    outcome = classify(result.result, exit_code=result.exit_code, stderr=result.stderr_tail)
    assert (outcome.kind, outcome.retryable) == ("error", False)
    assert "No conversation found with session ID: 7f3c2b1a-0000-4000-8000-000000000000" in outcome.message


@pytest.mark.real_claude
@pytest.mark.skipif(not HAS_CREDENTIALS, reason="no Claude credentials (ANTHROPIC_API_KEY or a logged-in ~/.claude)")
def test_real_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PARALLEL_DISPATCH_CLAUDE_BIN", raising=False)
    out = run(tmp_path, model="haiku", max_turns=1, max_budget_usd=0.05, allowed_tools=[], stall_timeout_seconds=120)
    assert "pong" in out["result"].lower()
    assert out["total_cost_usd"] > 0 and out["num_turns"] >= 1 and out["usage"]["output_tokens"] > 0
    assert out["files_changed"] == {"created": [], "modified": [], "deleted": []}


# The real CLI against a local stand-in of the Messages API: real result shapes, offline.

@pytest.fixture
def local_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[list], Any]]:
    """``local_api(script)`` starts a stand-in Messages API and points the real CLI at it."""
    from fake_messages_api import serve

    monkeypatch.setenv("PARALLEL_DISPATCH_CLAUDE_BIN", str(REAL))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-local-test")
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")  # the CLI's own retries: once, not ten times
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    with contextlib.ExitStack() as stack:

        def start(script: list) -> Any:
            server = stack.enter_context(serve(script=script))
            monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
            return server

        yield start


def test_real_cli_success_with_a_tool_call(tmp_path: Path, local_api):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "notes.txt").write_text("hello\n")
    server = local_api([Tool("Read", {"file_path": str(tmp_path / "ws" / "notes.txt")}), Text("pong")])
    out = run(tmp_path, allowed_tools=["Read"], model="claude-sonnet-4-5", max_turns=3)
    assert out["result"] == "pong" and out["num_turns"] == 2
    assert out["total_cost_usd"] > 0 and out["usage"]["input_tokens"] == 200 and out["usage"]["output_tokens"] == 40
    assert out["sessions"][0]["outcome"] == "success" and out["session_file"].endswith(out["session_id"] + ".jsonl")
    assert len(server.requests) == 2
    assert "hello" in json.dumps(server.requests[1]["messages"][-1])  # the tool really ran


def test_real_cli_structured_output(tmp_path: Path, local_api):
    local_api([Tool("StructuredOutput", {"verdict": "ok"})])
    out = run(tmp_path, output_schema={"type": "object", "properties": {"verdict": {"type": "string"}},
                                       "required": ["verdict"]})
    assert out["structured_output"] == {"verdict": "ok"}


def test_real_cli_rate_limit_is_retried_and_lowers_concurrency(tmp_path: Path, local_api):
    limit = Error(429, "rate_limit_error", "This request would exceed the rate limit")
    server = local_api([limit, limit, Text("pong")])
    ctx = make_ctx(tmp_path)
    data = ClaudeInput.model_validate({"prompt": "ping", "rate_limit_backoff_seconds": 0.05},
                                      context=ctx.workspace.as_context())
    out = asyncio.run(ClaudeAgent().run(data, ctx))
    assert out["result"] == "pong"
    assert [s["outcome"] for s in out["sessions"]] == ["rate_limited", "success"]
    kinds = [e["event"] for e in ctx.events]
    assert "claude_api_retry" in kinds and "claude_concurrency_lowered" in kinds and "claude_rate_limited" in kinds
    assert len(server.requests) == 3


def test_real_cli_lets_the_coder_write_only_its_staging_folder(tmp_path: Path, local_api):
    # The coder backend's permissions, against the real CLI: the staging copy is written, a write
    # anywhere else in the workspace is denied (acceptEdits used to let it through).
    from parallel_execution.claude_code.backends import _staging_only

    workspace = tmp_path / "ws"
    staging = workspace / "nodes" / ".dispatch-staging" / "t1.1"
    staging.mkdir(parents=True)
    elsewhere = workspace / "nodes" / "other.py"
    local_api([Tool("Write", {"file_path": str(staging / "node.py"), "content": "x = 1\n"}),
               Tool("Write", {"file_path": str(elsewhere), "content": "y = 2\n"}), Text("done")])
    out = run(tmp_path, allowed_tools=_staging_only(["Read", "Write", "Edit", "Grep"], staging, workspace),
              permission_mode="default", max_turns=4)
    assert (staging / "node.py").read_text() == "x = 1\n" and not elsewhere.exists()
    assert [d["tool_input"]["file_path"] for d in out["permission_denials"]] == [str(elsewhere)]


def test_real_cli_max_turns(tmp_path: Path, local_api):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.txt").write_text("a\n")
    local_api([Tool("Read", {"file_path": str(tmp_path / "ws" / "a.txt")})] * 3)
    with pytest.raises(TaskFailure, match=r"^stopped at the turn limit: Reached maximum number of turns \(1\)$") as info:
        run(tmp_path, allowed_tools=["Read"], max_turns=1)
    assert info.value.retryable is False and info.value.output["total_cost_usd"] > 0


def test_real_cli_rejected_key_is_not_logged_in_quickly(tmp_path: Path, local_api, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CLAUDE_CODE_MAX_RETRIES")  # the CLI's default: ten retries over minutes
    local_api([Error(401, "authentication_error", "invalid x-api-key")] * 20)
    with pytest.raises(TaskFailure, match=r"^Claude Code is not authenticated: the API rejected the credentials 2 times "
                                          r"\(HTTP 401\)") as info:
        run(tmp_path)
    assert info.value.retryable is False
