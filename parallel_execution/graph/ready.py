"""The ready queue: which tasks may start, as a small state machine (graphlib's protocol).

::

    queue = ReadyQueue(deps, priority)      # deps[i]: indexes task i waits for
    queue.prepare()                         # tasks without dependencies become ready
    while queue.is_active():
        i = queue.pop()                     # the ready task of highest priority (ties: lowest index)
        ...
        newly_ready = queue.done(i)         # i succeeded: dependents whose last dependency it was

Each task is in one state: *waiting* (some dependency not done), *ready* (in the heap), *taken*
(popped, not yet done), *done*, or *dropped* (``drop``: it will never run, e.g. skipped because a
dependency failed; its dependents stay waiting unless dropped too). Transitions are the methods'
and nothing else; a wrong one (done twice, pop before prepare, done of a task never taken...)
raises ``ValueError``, so a bookkeeping bug cannot pass silently.

Priority order is deterministic: the higher ``priority`` first (the scheduler passes each task's
longest remaining path, so the critical path starts first), ties by input order. The scheduler,
``graph.simulate_makespan`` and the ``--events`` log all use this one queue.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

__all__ = ["ReadyQueue"]

_WAITING, _READY, _TAKEN, _DONE, _DROPPED = range(5)


class ReadyQueue:
    """Ready tasks of a DAG given by ``deps`` (task indexes), highest ``priority`` first."""

    def __init__(self, deps: Sequence[Sequence[int]], priority: Sequence[float] | None = None) -> None:
        n = len(deps)
        self._priority = list(priority) if priority is not None else [0.0] * n
        if len(self._priority) != n:
            raise ValueError(f"{len(self._priority)} priorities for {n} tasks")
        self._dependents: list[list[int]] = [[] for _ in range(n)]
        self._waiting = [0] * n
        for i, ds in enumerate(deps):
            for d in set(ds):
                self._dependents[d].append(i)
                self._waiting[i] += 1
        self._state = [_WAITING] * n
        # The heap holds each task's rank in the priority order, not (-priority, index) tuples: ints
        # compare several times faster, and a pop is on the scheduler's path for every task.
        self._by_rank = sorted(range(n), key=self._key)
        self._rank = [0] * n
        for rank, i in enumerate(self._by_rank):
            self._rank[i] = rank
        self._heap: list[int] = []
        self._prepared = False
        self._taken = 0

    def prepare(self) -> list[int]:
        """Start: every task without dependencies becomes ready; returns them in priority order."""
        if self._prepared:
            raise ValueError("prepare() called twice")
        self._prepared = True
        ready = [i for i, w in enumerate(self._waiting) if w == 0]
        for i in ready:
            self._push(i)
        return sorted(ready, key=self._rank.__getitem__)

    # -- reading -------------------------------------------------------------------------------------

    def __bool__(self) -> bool:
        """Whether a task is ready now."""
        self._prune()
        return bool(self._heap)

    def peek(self) -> tuple[float, int]:
        """The next task's sort key ``(-priority, index)`` without taking it."""
        self._prune()
        return self._key(self._by_rank[self._heap[0]])

    def is_active(self) -> bool:
        """Whether a task is ready or taken (graphlib: progress can still be made)."""
        return bool(self) or self._taken > 0

    def remaining(self, i: int) -> int:
        """How many of ``i``'s dependencies are not done yet."""
        return self._waiting[i]

    def key(self, i: int) -> tuple[float, int]:
        """Task ``i``'s place in the priority order (smaller runs first)."""
        return self._key(i)

    # -- transitions ---------------------------------------------------------------------------------

    def pop(self) -> int:
        """Take the ready task of highest priority (``IndexError`` when none is ready)."""
        if not self._prepared:
            raise ValueError("pop() before prepare()")
        self._prune()
        i = self._by_rank[heapq.heappop(self._heap)]
        self._state[i] = _TAKEN
        self._taken += 1
        return i

    def get_ready(self, limit: int | None = None) -> list[int]:
        """Take up to ``limit`` (default: all) ready tasks, in priority order."""
        taken: list[int] = []
        while self and (limit is None or len(taken) < limit):
            taken.append(self.pop())
        return taken

    def done(self, *nodes: int) -> list[int]:
        """Taken tasks finished successfully: returns the dependents that became ready, in order."""
        released = []
        for i in nodes:
            if self._state[i] != _TAKEN:
                raise ValueError(f"done({i}): task is not taken (state {self._state[i]})")
            self._state[i] = _DONE
            self._taken -= 1
            for d in self._dependents[i]:
                self._waiting[d] -= 1
                if self._waiting[d] == 0 and self._state[d] == _WAITING:
                    self._push(d)
                    released.append(d)
        return sorted(released, key=self._rank.__getitem__)

    def drop(self, nodes: Iterable[int]) -> None:
        """These tasks will not run (skipped, reused elsewhere): never ready again, never done."""
        for i in nodes:
            state = self._state[i]
            if state == _TAKEN:
                self._taken -= 1
            elif state == _DONE:
                raise ValueError(f"drop({i}): task is already done")
            self._state[i] = _DROPPED

    def _key(self, i: int) -> tuple[float, int]:
        return -self._priority[i], i

    def _prune(self) -> None:
        # Dropped ready tasks leave the heap lazily, so dropping many costs no more than popping them.
        heap, state, by_rank = self._heap, self._state, self._by_rank
        while heap and state[by_rank[heap[0]]] != _READY:
            heapq.heappop(heap)

    def _push(self, i: int) -> None:
        self._state[i] = _READY
        heapq.heappush(self._heap, self._rank[i])
