"""One task's Claude sessions: budget, shared concurrency, rate-limit retries, cost and trace.

A ``ClaudeWorker`` lives for one task attempt and may run several sessions (a retry after a rate
limit, a repair round that resumes the same session). For each session it:

1. refuses to start once the dispatch's budget (``config.budget_usd``) is spent, or the task's own
   ``max_budget_usd`` is used up, and otherwise passes the smaller remainder down as
   ``--max-budget-usd``;
2. takes a slot from the dispatch's adaptive limiter (``limiter.py``), which shrinks while rate
   limits hit and grows back after successes; live ``api_retry`` events report rate limits to it
   while the session still runs, and a second ``authentication_failed`` retry stops the session
   (the CLI would retry rejected credentials for minutes);
3. runs the session (``session.py``) with the transcript appended to
   ``<trace dir>/<task_id>.transcript.jsonl``, each session preceded by one ``{"type":
   "dispatch", ...}`` line that records the prompt and command line;
4. classifies the result (``outcome.py``), adds the cost to the task and the dispatch budget
   (failed sessions cost money too) and records a ``claude_session`` trace event with the session
   id, turns, tokens and cost;
5. on a rate limit waits (the reset time if the CLI named one, else exponential backoff, at least
   the CLI's own retry delay) and tries again, resuming the session if the model had already
   answered; waits longer than ``rate_limit_max_wait_seconds`` or the task's timeout fail at once.

Any other failure raises ``TaskFailure`` whose ``output`` carries what was spent and where the
transcript is, so a failed task still reports its cost and evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.agents.base import TaskContext
from parallel_execution.claude_code.binary import find_claude_binary
from parallel_execution.claude_code.limiter import AdaptiveLimiter, Slot, limiter_for
from parallel_execution.claude_code.outcome import Outcome, classify
from parallel_execution.claude_code.request import DEFAULT_STALL_SECONDS, ClaudeRequest
from parallel_execution.claude_code.session import SessionRun, StopSession, run_session
from parallel_execution.errors import TaskFailure
from parallel_execution.run.budget import BUDGET_SERVICE, Budget

__all__ = ["CONTINUE_PROMPT", "DEFAULT_STALL_SECONDS", "ClaudeRequest", "ClaudeWorker", "SessionResult"]

CONTINUE_PROMPT = "The previous request was interrupted by an API rate limit. Continue the task where you left off."
_TOKEN_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_RATE_LIMIT_ERRORS = {"rate_limit", "overloaded"}
_AUTH_RETRIES = 2  # rejected-credential retries of the CLI tolerated before the session is stopped


@dataclass(frozen=True, slots=True)
class SessionResult:
    """A successful session: its result object and the session id to resume it by."""

    session_id: str | None
    result: dict[str, Any]

    @property
    def text(self) -> str:
        value = self.result.get("result")
        return value if isinstance(value, str) else ""


class ClaudeWorker:
    """Runs the Claude sessions of one task attempt and accounts for them (see module docstring)."""

    def __init__(self, ctx: TaskContext, *, rng: random.Random | None = None) -> None:
        self.ctx = ctx
        self.binary = find_claude_binary()
        self.limiter: AdaptiveLimiter = limiter_for(ctx)
        self.transcript = ctx.artifact_path("transcript.jsonl")
        self.sessions: list[dict[str, Any]] = []
        self.total_cost_usd = 0.0
        self.usage: dict[str, int] = dict.fromkeys(_TOKEN_KEYS, 0)
        self.num_turns = 0
        self.duration_api_ms = 0.0
        self.last_session_id: str | None = None
        self._rng = rng or random.Random()
        self._started = time.monotonic()

    async def run(self, request: ClaudeRequest) -> SessionResult:
        """Run ``request`` until it succeeds; raise ``TaskFailure`` when it cannot."""
        for retry in range(request.rate_limit_retries + 1):
            run, outcome = await self._one_session(request)
            if run.stalled:
                raise self.failure(
                    f"claude session stalled: no output for {request.stall_timeout_seconds:g} s; its process "
                    "group was stopped", retryable=True)
            if outcome.kind == "success":
                assert run.result is not None
                if request.json_schema is not None and run.result.get("structured_output") is None:
                    raise self.failure("claude session ended without the structured output that output_schema "
                                       "asks for", retryable=True)
                return SessionResult(run.session_id, run.result)
            if outcome.kind != "rate_limited" or retry == request.rate_limit_retries:
                suffix = f" (after {retry} rate-limit retries)" if outcome.kind == "rate_limited" else ""
                raise self.failure(outcome.message + suffix, retryable=outcome.retryable)
            delay = self._backoff(retry, outcome, request)
            self.ctx.event("claude_rate_limited", retry=retry + 1, delay_s=round(delay, 3),
                           reset_at=_iso(outcome.reset_at), limiter=self.limiter.snapshot())
            await asyncio.sleep(delay)
            if run.model_messages and run.session_id:  # keep the work done so far
                request = replace(request, prompt=CONTINUE_PROMPT, resume=run.session_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def failure(self, message: str, *, retryable: bool) -> TaskFailure:
        return TaskFailure(message, output=self.summary(), retryable=retryable)

    def summary(self) -> dict[str, Any]:
        """What all sessions of this task cost and produced, for the task's output."""
        return {
            "session_id": self.last_session_id,
            "num_turns": self.num_turns,
            "usage": dict(self.usage),
            "total_cost_usd": round(self.total_cost_usd, 6),
            "duration_api_ms": self.duration_api_ms,
            "transcript": str(self.transcript),
            "session_file": _session_file(self.last_session_id),
            "sessions": list(self.sessions),
        }

    async def _one_session(self, request: ClaudeRequest) -> tuple[SessionRun, Outcome]:
        cap = self._budget_cap(request)
        spec = dataclasses.replace(request, max_budget_usd=cap,
                                   session_id=None if request.resume else str(uuid.uuid4()))
        async with self.limiter.slot() as slot:
            self.ctx.event("claude_session_started", session_id=spec.resume or spec.session_id,
                           resumed=bool(spec.resume), max_budget_usd=cap, waited_for_slot_s=slot.waited_s,
                           limiter=self.limiter.snapshot())
            self.transcript.parent.mkdir(parents=True, exist_ok=True)
            with open(self.transcript, "ab") as transcript:
                marker = {"type": "dispatch", "subtype": "session_start", "task_id": self.ctx.task_id,
                          "session_id": spec.resume or spec.session_id, "resume": bool(spec.resume),
                          "cwd": str(spec.cwd), "prompt": spec.prompt}
                transcript.write(orjson.dumps(marker) + b"\n")
                run = await run_session(
                    self.binary, spec, transcript=transcript, stall_timeout=request.stall_timeout_seconds,
                    on_message=lambda message: self._on_message(message, slot),
                )
            if run.stopped is not None:  # see _on_message: the CLI kept retrying rejected credentials
                outcome = Outcome("not_logged_in", f"Claude Code is not authenticated: {run.stopped}; log in with "
                                  "`dispatch-runner claude -- auth login` or set a valid ANTHROPIC_API_KEY",
                                  retryable=False)
            else:
                outcome = classify(run.result, exit_code=run.exit_code, stderr=run.stderr_tail,
                                   last_error=run.last_error, retry_delay_seconds=run.retry_delay_seconds)
            if outcome.kind == "rate_limited":
                # Hold back new sessions until the limit resets, but never longer than this task would
                # wait: a reset hours away must fail tasks with a clear message, not stall them.
                pause = outcome.retry_after
                if pause is not None:
                    pause = min(pause, request.rate_limit_max_wait_seconds)
                self.limiter.rate_limited(slot, retry_after=pause)
            elif outcome.kind == "success":
                self.limiter.succeeded(slot)
        self._account(run, outcome)
        return run, outcome

    def _on_message(self, message: dict[str, Any], slot: Slot) -> None:
        if message.get("type") != "system":
            return
        if message.get("subtype") == "init":
            self.ctx.event("claude_init", session_id=message.get("session_id"), model=message.get("model"),
                           permission_mode=message.get("permissionMode"),
                           version=message.get("claude_code_version"))
        elif message.get("subtype") == "api_retry":
            self.ctx.event("claude_api_retry", attempt=message.get("attempt"), error=message.get("error"),
                           error_status=message.get("error_status"), retry_delay_ms=message.get("retry_delay_ms"))
            if message.get("error") == "authentication_failed" and _number(message.get("attempt")) >= _AUTH_RETRIES:
                # The CLI retries a rejected key ten times over minutes; twice is proof enough.
                raise StopSession(f"the API rejected the credentials {_AUTH_RETRIES} times "
                                  f"(HTTP {message.get('error_status')})")
            if message.get("error") in _RATE_LIMIT_ERRORS or message.get("error_status") in (429, 529):
                delay = message.get("retry_delay_ms")
                retry_after = delay / 1000 if isinstance(delay, (int, float)) else None
                if self.limiter.rate_limited(slot, retry_after=retry_after):
                    self.ctx.event("claude_concurrency_lowered", **self.limiter.snapshot())

    def _account(self, run: SessionRun, outcome: Outcome) -> None:
        result = run.result or {}
        cost = _number(result.get("total_cost_usd"))
        self.ctx.record_cost(cost)  # the task's cost and the dispatch budget
        self.total_cost_usd += cost
        raw_usage = result.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        for key in _TOKEN_KEYS:
            self.usage[key] += int(_number(usage.get(key)))
        turns = int(_number(result.get("num_turns")))
        self.num_turns += turns
        self.duration_api_ms += _number(result.get("duration_api_ms"))
        self.last_session_id = run.session_id or self.last_session_id
        kind = "stalled" if run.stalled else outcome.kind
        record = {"session_id": run.session_id, "outcome": kind, "num_turns": turns, "total_cost_usd": cost,
                  "usage": {k: int(_number(usage.get(k))) for k in _TOKEN_KEYS},
                  "duration_ms": result.get("duration_ms"), "duration_api_ms": result.get("duration_api_ms"),
                  "subtype": result.get("subtype"), "terminal_reason": result.get("terminal_reason"),
                  "exit_code": run.exit_code, "resumed": "--resume" in run.argv}
        self.sessions.append(record)
        self.ctx.event("claude_session", **record)

    def _budget_cap(self, request: ClaudeRequest) -> float | None:
        """The most the next session may spend; fail if nothing is left."""
        caps: list[float] = []
        if request.max_budget_usd is not None:
            left = request.max_budget_usd - self.total_cost_usd
            if left <= 0:
                raise self.failure(f"the task's max_budget_usd (${request.max_budget_usd:g}) is spent "
                                   f"(${self.total_cost_usd:.4f})", retryable=False)
            caps.append(left)
        budget = self.ctx.services.get(BUDGET_SERVICE)
        if isinstance(budget, Budget) and budget.limit_usd is not None:
            if budget.exhausted:
                raise self.failure(f"budget_exhausted: the dispatch has spent ${budget.spent_usd:.4f} of "
                                   f"${budget.limit_usd:g}", retryable=False)
            caps.append(budget.remaining_usd or 0.0)
        return min(caps) if caps else None

    def _backoff(self, retry: int, outcome: Outcome, request: ClaudeRequest) -> float:
        base = request.rate_limit_backoff_seconds
        if outcome.reset_at is not None:  # the limit names its reset: wait exactly that long
            delay = (outcome.retry_after or 0.0) + min(1.0, base)
        else:
            delay = max(base * 2**retry * self._rng.uniform(1.0, 1.25), outcome.retry_after or 0.0)
        if delay > request.rate_limit_max_wait_seconds:
            raise self.failure(
                f"{outcome.message}; the limit resets in {delay:.0f} s ({_iso(outcome.reset_at) or 'unknown time'}), "
                f"longer than rate_limit_max_wait_seconds={request.rate_limit_max_wait_seconds:g}", retryable=False)
        timeout = self.ctx.timeout_seconds
        if timeout is not None and time.monotonic() - self._started + delay > timeout:
            raise self.failure(f"{outcome.message}; waiting {delay:.0f} s for the limit would exceed the task "
                               f"timeout of {timeout:g} s", retryable=False)
        return delay


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _session_file(session_id: str | None) -> str | None:
    """Where Claude Code keeps the session (``<config>/projects/<cwd slug>/<id>.jsonl``), if found."""
    if not session_id:
        return None
    config = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    for path in (config / "projects").glob(f"*/{session_id}.jsonl"):
        return str(path)
    return None
