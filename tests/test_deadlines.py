"""Task timeouts on one timer (run.deadlines) behave as asyncio.timeout did, task by task."""

from __future__ import annotations

import asyncio

import pytest

from parallel_execution.dispatcher import dispatch
from parallel_execution.run.deadlines import Deadlines


async def _guarded(deadlines: Deadlines, seconds: float | None, work, verdicts: list[str] | None = None) -> str:
    entry = deadlines.start(seconds)
    try:
        try:
            await work()
        finally:
            timed_out = deadlines.finish(entry)
    except asyncio.CancelledError:
        (verdicts if verdicts is not None else []).append("timeout" if timed_out else "cancelled")
        if not timed_out:
            raise
        return "timeout"
    return "timeout-but-returned" if timed_out else "done"


def test_a_deadline_cancels_only_its_task_and_counts_as_a_timeout():
    async def main():
        deadlines = Deadlines()
        slow = asyncio.create_task(_guarded(deadlines, 0.05, lambda: asyncio.sleep(30)))
        quick = asyncio.create_task(_guarded(deadlines, 30, lambda: asyncio.sleep(0.01)))
        unbounded = asyncio.create_task(_guarded(deadlines, None, lambda: asyncio.sleep(0.1)))
        results = await asyncio.gather(slow, quick, unbounded)
        assert slow.cancelling() == 0  # the deadline's own cancel request is undone
        deadlines.close()
        return results

    assert asyncio.run(main()) == ["timeout", "done", "done"]


def test_a_cancel_from_elsewhere_stays_a_cancellation_even_when_the_deadline_passes_too():
    async def main():
        deadlines = Deadlines()
        task = asyncio.create_task(_guarded(deadlines, 0.05, lambda: asyncio.sleep(30)))
        await asyncio.sleep(0.01)
        task.cancel()  # Ctrl-C / fail_fast
        with pytest.raises(asyncio.CancelledError):
            await task
        async def stopped_while_expiring():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:  # the deadline's cancel; a stop() arrives before it is handled
                asyncio.current_task().cancel()
                raise

        verdicts: list[str] = []
        both = asyncio.create_task(_guarded(deadlines, 0.02, stopped_while_expiring, verdicts))
        with pytest.raises(asyncio.CancelledError):
            await both
        assert verdicts == ["cancelled"]
        deadlines.close()

    asyncio.run(main())


def test_work_that_swallows_the_deadline_cancel_is_not_a_timeout_error():
    async def stubborn():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return  # like asyncio.timeout: returning normally means no TimeoutError

    async def main():
        deadlines = Deadlines()
        task = asyncio.create_task(_guarded(deadlines, 0.02, stubborn))
        result = await task
        deadlines.close()
        return result, task.cancelling()

    assert asyncio.run(main()) == ("timeout-but-returned", 0)


def test_finished_deadlines_do_not_pile_up():
    async def main():
        deadlines = Deadlines()
        for _ in range(5000):
            await _guarded(deadlines, 300, lambda: asyncio.sleep(0))
        size = len(deadlines._heap)
        deadlines.close()
        return size

    assert asyncio.run(main()) <= 2 * Deadlines._SWEEP + 2


def test_timeouts_in_a_dispatch_are_reported_per_task(tmp_path):
    result = dispatch({"tasks": [
        {"task_id": "slow", "agent": "echo", "input_data": {"delay_seconds": 30}, "timeout_seconds": 0.2},
        {"task_id": "fast", "agent": "echo", "input_data": {"message": 1}, "timeout_seconds": 30},
        {"task_id": "after", "agent": "echo", "dependencies": ["fast"], "timeout_seconds": 0.5},
    ], "config": {"trace_dir": str(tmp_path)}})
    status = {r.task_id: (r.status, r.error) for r in result.results}
    assert status["slow"] == ("timeout", "timeout: no result after 0.2 s")
    assert status["fast"][0] == status["after"][0] == "success"
