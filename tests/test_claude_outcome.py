"""Outcome classification from result fields. The result objects below were captured from Claude
Code 2.1.330 (no credentials, and against a local stand-in of the Messages API answering 429/529/401)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from parallel_execution.claude_code.outcome import classify, parse_reset_time, result_text


def result(**fields):
    base = {"type": "result", "subtype": "success", "is_error": False, "terminal_reason": "completed",
            "api_error_status": None, "num_turns": 1, "total_cost_usd": 0.0123, "result": "done"}
    return {**base, **fields}


NOT_LOGGED_IN = result(is_error=True, terminal_reason="api_error", total_cost_usd=0,
                       result="Not logged in · Please run /login")
RATE_LIMITED = result(is_error=True, terminal_reason="api_error", api_error_status=429, total_cost_usd=0,
                      api_error_type="rate_limit_error",
                      result="API Error: Request rejected (429) · This request would exceed the rate limit")
OVERLOADED = result(is_error=True, terminal_reason="api_error", api_error_status=529, total_cost_usd=0,
                    result="API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again "
                           "in a moment.")
BAD_KEY = result(is_error=True, terminal_reason="api_error", api_error_status=401, total_cost_usd=0,
                 result="Invalid API key · Fix external API key")
MAX_TURNS = {k: v for k, v in result(is_error=True, subtype="error_max_turns", terminal_reason="max_turns",
                                     num_turns=2, errors=["Reached maximum number of turns (1)"]).items()
             if k != "result"}
BUDGET = {k: v for k, v in result(is_error=True, subtype="error_max_budget_usd", terminal_reason="budget_exhausted",
                                  errors=["Reached maximum budget ($0.0001)"]).items() if k != "result"}
SERVER_ERROR = result(is_error=True, terminal_reason="api_error", api_error_status=500,
                      result='API Error: 500 {"type":"error","error":{"type":"api_error"}}')


@pytest.mark.parametrize(
    ("value", "kwargs", "kind", "retryable", "message"),
    [
        (result(), {}, "success", False, r"^done$"),
        (result(terminal_reason=None), {}, "success", False, r"^done$"),
        # The CLI exits 0 or 1 for these; the exit code is never what decides.
        (NOT_LOGGED_IN, {"exit_code": 0}, "not_logged_in", False,
         r"^Claude Code is not authenticated: Not logged in · Please run /login; log in with `dispatch-runner claude -- auth login` or "
         r"set ANTHROPIC_API_KEY$"),
        (BAD_KEY, {}, "not_logged_in", False, r"^Claude Code is not authenticated: Invalid API key"),
        (result(is_error=True, terminal_reason="api_error", result="x"), {"last_error": "authentication_failed"},
         "not_logged_in", False, r"^Claude Code is not authenticated: x;"),
        (RATE_LIMITED, {"exit_code": 1}, "rate_limited", True,
         r"^rate limited: API Error: Request rejected \(429\) · This request would exceed the rate limit$"),
        (OVERLOADED, {}, "rate_limited", True, r"^rate limited: API Error: 529 Overloaded\."),
        (result(is_error=True, terminal_reason="api_error", result="try later"), {"last_error": "rate_limit"},
         "rate_limited", True, r"^rate limited: try later$"),
        (MAX_TURNS, {}, "max_turns", False, r"^stopped at the turn limit: Reached maximum number of turns \(1\)$"),
        (BUDGET, {}, "budget_exceeded", False, r"^stopped at the budget limit: Reached maximum budget \(\$0\.0001\)$"),
        (SERVER_ERROR, {"exit_code": 0}, "error", True,
         r'^claude session failed \(api_error, HTTP 500\): API Error: 500 \{"type":"error"'),
        (result(is_error=True, terminal_reason="api_error", api_error_status=400, result="API Error: 400 bad"),
         {}, "error", False, r"^claude session failed \(api_error, HTTP 400\): API Error: 400 bad$"),
        (result(is_error=True, subtype="error_during_execution", terminal_reason=None, result=None), {},
         "error", True, r"^claude session failed \(error_during_execution\): no message$"),
        (result(is_error=True, terminal_reason="api_error", result="Credit balance is too low"), {},
         "error", False, r"^billing: Credit balance is too low$"),
        ({"type": "result", "subtype": "error_during_execution", "is_error": True, "num_turns": 0,
          "errors": ["No conversation found with session ID: abc"]}, {"exit_code": 1}, "error", False,
         r"^claude session failed: No conversation found with session ID: abc$"),
        (None, {"exit_code": 1, "stderr": "No conversation found with session ID: abc\n"}, "crashed", False,
         r"^claude exited with code 1 without a result: No conversation found with session ID: abc$"),
        (None, {"exit_code": -9, "stderr": ""}, "crashed", True, r"^claude exited with code -9 without a result$"),
        (None, {"exit_code": 1, "stderr": "error: option '--permission-mode <mode>' argument 'x' is invalid"},
         "crashed", False, r"^claude exited with code 1 without a result: error: option"),
    ],
)
def test_classify(value, kwargs, kind, retryable, message):
    outcome = classify(value, **kwargs)
    assert (outcome.kind, outcome.retryable) == (kind, retryable)
    assert re.search(message, outcome.message), outcome.message


def test_success_text_is_not_searched_for_errors():
    # A successful answer that talks about logins or rate limits is still a success.
    assert classify(result(result="You are not logged in to the rate limit dashboard")).kind == "success"


def test_rate_limit_uses_reset_time_then_cli_delay():
    now = 1_750_000_000.0
    reset = classify(result(is_error=True, terminal_reason="api_error", api_error_status=429,
                            result="Claude AI usage limit reached|1750000090"), now=now)
    assert (reset.reset_at, reset.retry_after) == (1_750_000_090.0, 90.0)
    delay = classify(RATE_LIMITED, retry_delay_seconds=4.2, now=now)
    assert (delay.reset_at, delay.retry_after) == (None, 4.2)
    assert classify(RATE_LIMITED, now=now).retry_after is None


NOW = datetime(2026, 4, 22, 13, 0, tzinfo=UTC).timestamp()  # 10:00 in Recife, 19:00 in Dhaka


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Claude AI usage limit reached|1750708800", datetime.fromtimestamp(1750708800, UTC)),
        ("You've hit your limit · resets 1:30am (Asia/Dhaka)", datetime(2026, 4, 23, 1, 30, tzinfo=ZoneInfo("Asia/Dhaka"))),
        ("You've hit your limit · resets 4pm (America/Recife)", datetime(2026, 4, 22, 16, 0, tzinfo=ZoneInfo("America/Recife"))),
        ("resets 9am (America/Recife)", datetime(2026, 4, 23, 9, 0, tzinfo=ZoneInfo("America/Recife"))),
        ("You've hit your limit · resets Apr 23 at 4pm (America/Recife)",
         datetime(2026, 4, 23, 16, 0, tzinfo=ZoneInfo("America/Recife"))),
        ("You've hit your limit · resets Jan 2 at 4pm (America/Recife)",
         datetime(2027, 1, 2, 16, 0, tzinfo=ZoneInfo("America/Recife"))),
        ("Claude usage limit reached. Your limit will reset at 3pm (America/Bogota).",
         datetime(2026, 4, 22, 15, 0, tzinfo=ZoneInfo("America/Bogota"))),
        ("5-hour limit reached ∙ resets 2pm (UTC)", datetime(2026, 4, 22, 14, 0, tzinfo=UTC)),
    ],
)
def test_parse_reset_time(text: str, expected: datetime):
    assert parse_reset_time(text, NOW) == expected.timestamp()


@pytest.mark.parametrize("text", ["API Error: Request rejected (429)", "resets Feb 30 at 4pm (UTC)", ""])
def test_parse_reset_time_without_a_time(text: str):
    assert parse_reset_time(text, NOW) is None


def test_unknown_zone_falls_back_to_local_time():
    assert parse_reset_time("resets 4pm (Mars/Olympus)", NOW) == parse_reset_time("resets 4pm", NOW)


def test_result_text_falls_back_to_errors():
    assert result_text(MAX_TURNS) == "Reached maximum number of turns (1)"
    assert result_text({"errors": ["a", "b"]}) == "a; b"
    assert result_text({}) == ""
