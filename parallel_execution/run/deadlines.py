"""Task timeouts on one timer: a heap of deadlines instead of an ``asyncio.timeout`` per task.

``asyncio.timeout`` creates a timer handle, a context object and a heap entry in the loop for every
task, and cancels the handle when the task ends: ~5 µs per task, most of it for timers that never
fire (a 300 s timeout on a task of a millisecond). ``Deadlines`` keeps the run's deadlines in its
own heap and arms one loop timer, for the earliest deadline still running; a task that ends only
marks its entry finished (removed when it reaches the top, or in one sweep once most are finished).

Semantics are those of ``asyncio.timeout`` (Python 3.11): when a deadline passes, the task is
cancelled; ``Deadlines.finish`` on the way out says it is a timeout only if nothing else cancelled
the task meanwhile (``Task.uncancel`` counts: a Ctrl-C or fail_fast that
arrives with the deadline stays a cancellation).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

__all__ = ["Deadline", "Deadlines"]

_RESOLUTION = time.get_clock_info("monotonic").resolution


class Deadline:
    """One running task's deadline; hand it to ``Deadlines.finish`` when the guarded work ends (any way)."""

    __slots__ = ("_cancelling", "expired", "running", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[object]) -> None:
        self.when = when
        self.task = task
        self._cancelling = task.cancelling()
        self.expired = False  # the deadline passed and the task was cancelled for it
        self.running = True

    def _settle(self) -> bool:
        if not self.expired:
            return False
        self.expired = False  # count the deadline's cancel once
        return self.task.uncancel() <= self._cancelling


class Deadlines:
    """The deadlines of one run, on its event loop; ``close()`` when the run ends."""

    _SWEEP = 256  # finished entries tolerated in the heap before a sweep (and at most half of it)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None  # the run's, taken at the first start
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._finished = 0

    def start(self, seconds: float | None) -> Deadline | None:
        """A deadline ``seconds`` from now for the current task (None: no timeout)."""
        if seconds is None:
            return None
        loop = self._loop = self._loop or asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadlines.start outside a task")
        entry = Deadline(loop.time() + seconds, task)
        heapq.heappush(self._heap, (entry.when, next(self._seq), entry))
        if self._timer is None or entry.when < self._timer.when():
            self._arm()
        return entry

    def finish(self, entry: Deadline | None) -> bool:
        """The guarded work ended (returned or raised): whether the deadline passed and it counts as
        a timeout - the deadline cancelled the task and nothing else did. Undoes the deadline's own
        cancellation request, as ``asyncio.timeout`` does on exit."""
        if entry is None:
            return False
        if not entry.running:
            return entry._settle()
        entry.running = False
        self._finished += 1
        if self._finished > self._SWEEP and self._finished * 2 > len(self._heap):
            self._heap = [item for item in self._heap if item[2].running]
            heapq.heapify(self._heap)
            self._finished = 0
        return False

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._finished, self._loop = 0, None

    def _arm(self) -> None:
        heap = self._heap
        while heap and not heap[0][2].running:
            heapq.heappop(heap)
            self._finished -= 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if heap and self._loop is not None:
            self._timer = self._loop.call_at(heap[0][0], self._fire)

    def _fire(self) -> None:
        self._timer = None
        assert self._loop is not None
        heap, now = self._heap, self._loop.time() + _RESOLUTION  # the loop runs timers this early too
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)[2]
            if entry.running:
                entry.running, entry.expired = False, True
                entry.task.cancel()
            else:
                self._finished -= 1
        self._arm()
