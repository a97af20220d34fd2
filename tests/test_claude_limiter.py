"""The adaptive session limit: halve once per burst of rate limits, grow back by one per round."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from parallel_execution.agents.base import Services, TaskContext
from parallel_execution.claude_code.limiter import LIMITER_SERVICE, AdaptiveLimiter, Slot, limiter_for
from parallel_execution.inputs.paths import WorkspacePolicy


@pytest.mark.parametrize(
    ("max_limit", "in_use", "expected"),
    [(8, 8, 4), (8, 3, 1), (8, 1, 1), (5, 5, 2), (1, 1, 1)],
)
def test_rate_limit_halves_from_the_actual_concurrency(max_limit: int, in_use: int, expected: int):
    limiter = AdaptiveLimiter(max_limit)
    limiter.in_use = in_use
    assert limiter.rate_limited(Slot(0)) is True
    assert limiter.limit == expected


def test_a_burst_of_rate_limits_halves_once():
    limiter = AdaptiveLimiter(8)
    limiter.in_use = 8
    slots = [Slot(0) for _ in range(8)]
    assert [limiter.rate_limited(s) for s in slots] == [True] + [False] * 7
    assert (limiter.limit, limiter.decreases) == (4, 1)
    # A session started under the new limit that is rate limited again halves again.
    assert limiter.rate_limited(Slot(1)) is True
    assert limiter.limit == 2


def test_successes_grow_the_limit_one_round_at_a_time():
    limiter = AdaptiveLimiter(4)
    limiter.in_use = 4
    limiter.rate_limited(Slot(0))  # -> 2
    grown = [limiter.succeeded(Slot(1)) for _ in range(8)]
    # 2 successes to reach 3, then 3 to reach 4, then capped at max_limit.
    assert grown == [False, True, False, False, True, False, False, False]
    assert limiter.limit == 4 and limiter.increases == 2


def test_rate_limit_with_a_delay_pauses_new_sessions():
    async def main() -> float:
        limiter = AdaptiveLimiter(3)
        slot = await limiter.acquire()
        limiter.rate_limited(slot, retry_after=0.3)
        limiter.release()
        started = time.monotonic()
        async with limiter.slot():
            return time.monotonic() - started

    assert 0.28 <= asyncio.run(main()) < 1.0


def test_never_more_sessions_than_the_limit_and_waiters_resume_after_a_decrease():
    async def main() -> tuple[int, int]:
        limiter = AdaptiveLimiter(4)
        running = peak = 0
        late_peak = 0

        async def session(index: int) -> None:
            nonlocal running, peak, late_peak
            async with limiter.slot() as slot:
                running += 1
                peak = max(peak, running)
                if index >= 8:
                    late_peak = max(late_peak, running)
                await asyncio.sleep(0.02)
                if index == 0:
                    limiter.rate_limited(slot)  # 4 running -> limit 2
                running -= 1

        await asyncio.gather(*(session(i) for i in range(12)))
        return peak, late_peak

    peak, late_peak = asyncio.run(main())
    assert peak == 4
    assert late_peak <= 2 + 1  # one success round may have grown it back by one


def test_limiter_for_shares_one_instance_capped_by_max_workers(tmp_path: Path):
    services = Services(max_workers=3)
    contexts = [TaskContext(task_id=f"t{i}", dispatch_id="d", description="", attempt=1,
                            workspace=WorkspacePolicy.create(tmp_path), artifacts_dir=tmp_path, services=services)
                for i in range(2)]
    first, second = (limiter_for(c) for c in contexts)
    assert first is second is services.get(LIMITER_SERVICE)
    assert first.max_limit == first.limit == 3


def test_limiter_without_max_workers_does_not_cap(tmp_path: Path):
    ctx = TaskContext(task_id="t", dispatch_id="d", description="", attempt=1,
                      workspace=WorkspacePolicy.create(tmp_path), artifacts_dir=tmp_path)
    assert limiter_for(ctx).max_limit == 10_000
