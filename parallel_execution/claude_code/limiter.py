"""Adaptive concurrency for model sessions: fewer at once while rate limits hit, more after successes.

Policy (AIMD, as in TCP congestion control)
-------------------------------------------
- A session takes a slot before it starts and gives it back when it ends; at most ``limit`` slots
  are out at once. ``limit`` starts at ``max_limit`` (the dispatch's ``max_workers``).
- **Multiplicative decrease**: a rate limit (a 429/529 result, or a live ``api_retry`` event with
  ``rate_limit``/``overloaded``) sets ``limit = max(1, min(limit, in_use) // 2)``. A burst of
  rate limits from sessions that were all started under the same limit halves it only once: each
  slot remembers the generation it was taken in, and only a slot of the current generation can
  trigger a decrease.
- **Additive increase**: after ``limit`` successes in a row (one "round"), ``limit += 1``, up to
  ``max_limit``.
- **Pause**: a rate limit with a known wait (the CLI's ``retry_delay_ms``, a "resets at" time)
  stops *new* sessions until then; sessions already running continue.

One limiter serves every Claude session of a dispatch, through ``limiter_for(ctx)`` (the
``claude.limiter`` service). It runs on the dispatch's event loop and needs no lock.

Example::

    limiter = limiter_for(ctx)
    async with limiter.slot() as slot:
        run = await run_session(...)
        if rate_limited:
            limiter.rate_limited(slot, retry_after=30.0)
        else:
            limiter.succeeded(slot)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from parallel_execution.agents.base import TaskContext

__all__ = ["LIMITER_SERVICE", "MAX_WORKERS_SERVICE", "AdaptiveLimiter", "Slot", "limiter_for"]

LIMITER_SERVICE = "claude.limiter"
MAX_WORKERS_SERVICE = "max_workers"  # the dispatch's config.max_workers, when the runner provides it
_NO_CAP = 10_000  # without max_workers the scheduler's own cap is the only one


@dataclass(slots=True)
class Slot:
    """A permission to run one session; ``generation`` is the limiter's at the time it was taken."""

    generation: int
    waited_s: float = 0.0


class AdaptiveLimiter:
    """An AIMD-sized pool of slots for concurrent model sessions (see the module docstring)."""

    def __init__(self, max_limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_limit = max(1, int(max_limit))
        self.limit = self.max_limit
        self.in_use = 0
        self.paused_until = 0.0
        self.decreases = 0
        self.increases = 0
        self._clock = clock
        self._generation = 0
        self._successes = 0
        self._changed = asyncio.Event()

    async def acquire(self) -> Slot:
        """Wait until a slot is free and no pause is in force, then take it."""
        started = self._clock()
        while True:
            pause = self.paused_until - self._clock()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            if self.in_use < self.limit:
                self.in_use += 1
                return Slot(self._generation, round(self._clock() - started, 3))
            changed = self._changed
            await changed.wait()

    def release(self) -> None:
        self.in_use = max(0, self.in_use - 1)
        self._wake()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        taken = await self.acquire()
        try:
            yield taken
        finally:
            self.release()

    def rate_limited(self, slot: Slot, *, retry_after: float | None = None) -> bool:
        """Report a rate limit seen by ``slot``'s session; return whether the limit was lowered."""
        lowered = False
        if slot.generation == self._generation:
            self.limit = max(1, min(self.limit, max(self.in_use, 1)) // 2)
            self._generation += 1
            self._successes = 0
            self.decreases += 1
            lowered = True
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, self._clock() + retry_after)
        self._wake()
        return lowered

    def succeeded(self, slot: Slot) -> bool:
        """Report a session that finished without a rate limit; return whether the limit grew."""
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.max_limit:
            self.limit += 1
            self._successes = 0
            self.increases += 1
            self._wake()
            return True
        return False

    def snapshot(self) -> dict[str, Any]:
        """The limiter's state, for trace events."""
        return {
            "limit": self.limit,
            "max_limit": self.max_limit,
            "in_use": self.in_use,
            "paused_for_s": round(max(0.0, self.paused_until - self._clock()), 3),
            "decreases": self.decreases,
            "increases": self.increases,
        }

    def _wake(self) -> None:
        # Every waiter re-checks; a fresh event catches the next change.
        self._changed.set()
        self._changed = asyncio.Event()


def limiter_for(ctx: TaskContext) -> AdaptiveLimiter:
    """The dispatch's shared limiter, created on first use, capped by ``max_workers`` if known."""
    cap = ctx.services.get(MAX_WORKERS_SERVICE) or _NO_CAP
    return ctx.services.get_or_create(LIMITER_SERVICE, lambda: AdaptiveLimiter(int(cap)))
