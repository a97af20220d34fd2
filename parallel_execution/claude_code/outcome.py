"""Classify a headless Claude Code run from its result object, never from the exit code alone.

The CLI has been seen to exit 0 on API errors, and it reports "Not logged in" as ``subtype:
"success"`` with ``is_error: true``. So the verdict comes from the result fields, in this order:

1. no result object at all: ``crashed`` (the exit code and stderr say why);
2. ``is_error`` false, ``subtype`` ``success`` and no failing ``terminal_reason``: ``success``;
3. authentication (HTTP 401/403, an ``authentication_failed`` message, "Not logged in", "Invalid
   API key"): ``not_logged_in``, never retried;
4. HTTP 429/529, ``rate_limit``/``overloaded`` errors, "usage limit reached", "hit your limit ·
   resets 3pm": ``rate_limited``, with the reset time when the text names one;
5. ``error_max_turns`` / ``max_turns``: ``max_turns``; ``error_max_budget_usd`` /
   ``budget_exhausted``: ``budget_exceeded`` (both need a different input, so not retried);
6. anything else: ``error``, retryable unless the API answered with a 4xx (a bad request stays
   bad), the credit balance is too low, or a resumed session does not exist.

Example::

    outcome = classify(result, exit_code=0)
    if outcome.kind == "rate_limited":
        await asyncio.sleep(outcome.retry_after or 30)
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Outcome", "OutcomeKind", "classify", "parse_reset_time", "result_text"]

OutcomeKind = Literal["success", "error", "not_logged_in", "rate_limited", "max_turns", "budget_exceeded", "crashed"]

_FAILING_TERMINALS = {"max_turns", "api_error", "budget_exhausted", "prompt_too_long", "aborted"}
_AUTH_TEXT = re.compile(
    r"not logged in|please run /login|invalid api key|authentication_error|oauth token (?:has expired|"
    r"was revoked)|could not resolve authentication",
    re.I,
)
_RATE_TEXT = re.compile(r"rate.?limit|usage limit|limit reached|hit your limit|overloaded", re.I)
_BILLING_TEXT = re.compile(r"credit balance is too low", re.I)
_NO_SESSION_TEXT = re.compile(r"no conversation found", re.I)
_EPOCH = re.compile(r"\|(\d{9,11})\b")
_CLOCK = re.compile(
    r"resets?\s+(?:at\s+)?(?:(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2}),?\s+at\s+)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)(?:\s*\((?P<tz>[^)\s]+)\))?",
    re.I,
)
_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one run. ``retry_after`` (seconds) is set for rate limits when known."""

    kind: OutcomeKind
    message: str
    retryable: bool
    retry_after: float | None = None
    reset_at: float | None = None  # epoch seconds, when the text named a reset time


def result_text(result: Mapping[str, Any]) -> str:
    """The human part of a result: ``result``, else the ``errors`` list joined."""
    text = result.get("result")
    if isinstance(text, str) and text:
        return text
    errors = result.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return ""


def classify(
    result: Mapping[str, Any] | None,
    *,
    exit_code: int | None = None,
    stderr: str = "",
    last_error: str | None = None,
    retry_delay_seconds: float | None = None,
    now: float | None = None,
) -> Outcome:
    """Classify one run. ``last_error`` is the ``error`` field of the last assistant message, and
    ``retry_delay_seconds`` the last ``api_retry`` event's delay (a fallback for rate limits)."""
    now = time.time() if now is None else now
    if result is None:
        return _crashed(exit_code, stderr)
    text = result_text(result)
    status = result.get("api_error_status")
    status = status if isinstance(status, int) else None
    subtype = result.get("subtype")
    terminal = result.get("terminal_reason")
    if not result.get("is_error") and subtype == "success" and terminal not in _FAILING_TERMINALS:
        return Outcome("success", text, retryable=False)

    if status in (401, 403) or last_error == "authentication_failed" or _AUTH_TEXT.search(text):
        return Outcome(
            "not_logged_in",
            f"Claude Code is not authenticated: {text or 'HTTP ' + str(status)}; log in with "
            "`dispatch-runner claude -- auth login` or set ANTHROPIC_API_KEY",
            retryable=False,
        )
    if status in (429, 529) or last_error in ("rate_limit", "overloaded") or _RATE_TEXT.search(text):
        reset_at = parse_reset_time(text, now)
        retry_after = max(0.0, reset_at - now) if reset_at is not None else retry_delay_seconds
        return Outcome("rate_limited", f"rate limited: {text or 'HTTP ' + str(status)}", retryable=True,
                       retry_after=retry_after, reset_at=reset_at)
    if subtype == "error_max_turns" or terminal == "max_turns":
        return Outcome("max_turns", f"stopped at the turn limit: {text or subtype}", retryable=False)
    if subtype == "error_max_budget_usd" or terminal == "budget_exhausted":
        return Outcome("budget_exceeded", f"stopped at the budget limit: {text or subtype}", retryable=False)
    if _BILLING_TEXT.search(text):
        return Outcome("error", f"billing: {text}", retryable=False)
    if _NO_SESSION_TEXT.search(text):  # resuming a session this machine does not have
        return Outcome("error", f"claude session failed: {text}", retryable=False)
    parts = (subtype if subtype != "success" else None, terminal, status and f"HTTP {status}")
    where = ", ".join(str(p) for p in parts if p)
    client_error = status is not None and 400 <= status < 500 and status != 408
    return Outcome("error", f"claude session failed ({where}): {text or 'no message'}", retryable=not client_error)


def _crashed(exit_code: int | None, stderr: str) -> Outcome:
    tail = stderr.strip()[-2000:]
    if _AUTH_TEXT.search(tail):
        return Outcome("not_logged_in", f"Claude Code is not authenticated: {tail}", retryable=False)
    message = f"claude exited with code {exit_code} without a result" + (f": {tail}" if tail else "")
    # A missing session or a rejected flag will fail the same way again.
    retryable = not (_NO_SESSION_TEXT.search(tail) or tail.lower().startswith("error: option"))
    return Outcome("crashed", message, retryable=retryable)


def parse_reset_time(text: str, now: float | None = None) -> float | None:
    """The epoch time a usage limit resets, from the CLI's wording; ``None`` if it names none.

    Understands ``usage limit reached|1750708800`` and ``resets 3pm``, ``resets 1:30am
    (Asia/Dhaka)``, ``resets Apr 23 at 4pm (America/Recife)``, ``will reset at 9am``. A clock time
    is the next such moment after ``now`` in the named zone (local time if none or unknown).
    """
    now = time.time() if now is None else now
    epoch = _EPOCH.search(text)
    if epoch:
        return float(epoch.group(1))
    match = _CLOCK.search(text)
    if not match:
        return None
    hour = int(match["hour"]) % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    minute = int(match["minute"] or 0)
    zone = _zone(match["tz"])
    current = datetime.fromtimestamp(now, zone)
    candidate = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if match["mon"] and match["mon"].lower() in _MONTHS:
        try:
            candidate = candidate.replace(month=_MONTHS[match["mon"].lower()], day=int(match["day"]))
        except ValueError:  # "Feb 30": not a date
            return None
        if candidate < current - timedelta(days=1):
            candidate = candidate.replace(year=candidate.year + 1)
    elif candidate <= current:
        candidate += timedelta(days=1)
    return candidate.timestamp()


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
