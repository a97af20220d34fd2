"""Reachability questions of validation, answered without quadratic work.

Validation asks two kinds of "is task A a (transitive) dependency of task B?" questions: a ``$from``
must name an ancestor, and two tasks touching the same path must be ordered. Asking networkx for the
ancestors of every task, or ``has_path`` for every pair, is quadratic or cubic in the task count.

``Reach`` answers ``reaches(a, b)`` by a search from ``a`` that never leaves the topological window
``[pos(a), pos(b)]`` (nothing past ``b`` in a topological order can lead to ``b``), after an O(1) look
at the direct edges. A source asked about often gets its whole descendant set computed once. Every
question the validator asks is about neighbours in a topological order or about a declared
dependency, so the usual shapes (chains, fans, layers; 100k tasks) cost linear time in all.

``ordered_conflicts`` finds, for the tasks touching one path, the pairs that may run at the same time
with at least one writer, with O(k) reachability questions for k tasks: writers must form a chain in
the dependency order, and each reader must sit between two consecutive writers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["Reach", "ordered_conflicts"]

_OFTEN = 8  # questions about one source before its descendant set is computed once
_SHORT = 16  # dependency lists up to this long are searched as lists (no set per task)


class Reach:
    def __init__(self, order: Sequence[int], deps: Sequence[Sequence[int]], dependents: Sequence[Sequence[int]],
                 sources: Iterable[int] = ()) -> None:
        self.pos = [0] * len(deps)
        for position, node in enumerate(order):
            self.pos[node] = position
        self.deps = deps
        self.dependents = dependents
        self._often = {s for s, count in Counter(sources).items() if count >= _OFTEN}
        self._descendants: dict[int, set[int]] = {}
        self._dep_sets: dict[int, set[int]] = {}  # long dependency lists, as sets (made when asked)

    def reaches(self, a: int, b: int) -> bool:
        """Whether ``b`` depends on ``a``, directly or transitively (``a != b``)."""
        if a == b or self.pos[a] >= self.pos[b]:
            return False
        deps = self.deps[b]
        if a in (deps if len(deps) <= _SHORT else self._dep_set(b)):
            return True
        if a in self._often:
            if a not in self._descendants:
                self._descendants[a] = self._search(a, None)
            return b in self._descendants[a]
        return b in self._search(a, b)

    def _dep_set(self, b: int) -> set[int]:
        found = self._dep_sets.get(b)
        if found is None:
            found = self._dep_sets[b] = set(self.deps[b])
        return found

    def ordered(self, a: int, b: int) -> bool:
        return self.reaches(a, b) or self.reaches(b, a)

    def _search(self, a: int, target: int | None) -> set[int]:
        limit = len(self.pos) if target is None else self.pos[target]
        seen, stack = {a}, [a]
        while stack:
            for nxt in self.dependents[stack.pop()]:
                if nxt not in seen and self.pos[nxt] <= limit:
                    if nxt == target:
                        return {nxt}
                    seen.add(nxt)
                    stack.append(nxt)
        seen.discard(a)
        return seen


def ordered_conflicts(reach: Reach, touching: dict[int, str]) -> list[tuple[int, int]]:
    """Pairs of tasks in ``touching`` (task -> "reads" | "writes") that conflict: not ordered by
    dependencies, at least one writing. Every task is in one pair at most twice; when there are
    conflicts, at least one pair is reported for each task that is not ordered with a writer."""
    found: list[tuple[int, int]] = []
    last_writer: int | None = None
    readers: list[int] = []  # since the last writer
    for task in sorted(touching, key=reach.pos.__getitem__):
        if touching[task] == "writes":
            if last_writer is not None and not reach.reaches(last_writer, task):
                found.append((last_writer, task))
            found.extend((r, task) for r in readers if not reach.reaches(r, task))
            last_writer, readers = task, []
        else:
            if last_writer is not None and not reach.reaches(last_writer, task):
                found.append((last_writer, task))
            readers.append(task)
    return found
