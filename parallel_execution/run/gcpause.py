"""Python's cyclic garbage collector, paused while a dispatch runs.

A dispatch allocates many long-lived objects (the plan, one outcome per task, outputs) and very
little cyclic garbage, so the collector's automatic passes find almost nothing while their cost
grows with everything alive: measured ~32 µs per task on a 10,000-task graph, more at 100,000.
``paused_gc`` disables automatic collection and freezes what exists (``gc.freeze``: those objects
are never traversed again until unfrozen); ``GcPause.tick`` (called by the scheduler's loop) still
runs one collection of the run's own objects every ``interval`` seconds (less often when one
pass takes long: at most ~2% of the run), so a long run with
cyclic garbage (tracebacks of failed attempts) stays bounded. Nested and concurrent pauses (two
dispatches on two threads) share one pause; the collector is restored as it was when the last
one ends. ``paused_gc(promote=True)`` (validation: the plan it builds lives as long as the run)
moves what the pause allocated straight into the oldest generation when it ends, instead of
leaving it young: otherwise the first collection after the pause walks all of it (~0.2 s for a
100k-task plan) to find nothing.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GcPause", "paused_gc"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


class GcPause:
    """Handle of an active pause: ``tick()`` collects when ``interval`` seconds have passed."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._next = time.monotonic() + interval

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            gc.collect()  # frozen objects are not traversed: this walks only the run's own
            took = time.monotonic() - now
            # Never more than ~2% of the run in these passes, however much is alive.
            self._next = now + took + max(self.interval, 50 * took)


@contextmanager
def paused_gc(interval: float = 10.0, promote: bool = False) -> Iterator[GcPause]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            gc.freeze()
        _depth += 1
    try:
        yield GcPause(interval)
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                if promote:
                    gc.freeze()  # the young objects too: unfreeze puts them all in the oldest generation
                gc.unfreeze()
                if _was_enabled:
                    gc.enable()
