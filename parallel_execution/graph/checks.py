"""Graph checks and graph facts for a list of tasks (nothing here runs a task).

Edges point from a dependency to its dependent ("runs before"). All algorithms are iterative and
linear in tasks + dependencies, so a 100,000-task chain is fine:

* ``check_graph``: duplicate ids, unknown and self dependencies, cycles. A plain topological sort
  (Kahn's algorithm on index lists, the cheap acyclicity test) runs first; only when it fails is
  networkx imported to extract cycles, one per strongly connected component, each reported as a
  closed path in "depends on" order (``a -> b -> c -> a``: a depends on b ...). networkx costs ~30%
  of the CLI's start-up, so ``GraphFacts.graph`` (the ``nx.DiGraph`` for ancestor and path
  queries) is built on first use, not for every plan.
* ``bottom_levels``: each task's longest remaining path (its own estimate plus the longest chain of
  dependents) - the scheduler's priority, so the critical path starts first.
* ``simulate_makespan``: list scheduling of estimated durations on N workers (the plan's estimate).

``validate_task_dependencies`` and ``detect_circular_dependencies`` are the quick start's helpers;
they take Task models or plain dicts.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parallel_execution.errors import InputIssue

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "GraphFacts",
    "bottom_levels",
    "check_graph",
    "critical_path",
    "detect_circular_dependencies",
    "simulate_makespan",
    "validate_task_dependencies",
]


@dataclass(slots=True)
class GraphFacts:
    """The checked graph: ``deps[i]`` / ``dependents[i]`` are indexes; ``order`` is topological."""

    ids: list[str]
    deps: list[list[int]]
    dependents: list[list[int]]
    order: list[int]
    issues: list[InputIssue] = field(default_factory=list)
    _graph: nx.DiGraph | None = field(default=None, repr=False, compare=False)

    @property
    def graph(self) -> nx.DiGraph:
        """The dependency graph as an ``nx.DiGraph`` (edges dependency -> dependent), built on first use."""
        if self._graph is None:
            self._graph = _digraph(self.deps)
        return self._graph


def _digraph(deps: Sequence[Sequence[int]]) -> nx.DiGraph:
    import networkx as nx

    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(range(len(deps)))
    graph.add_edges_from((j, i) for i, ds in enumerate(deps) for j in ds)
    return graph


def _topological_order(deps: Sequence[Sequence[int]], dependents: Sequence[Sequence[int]]) -> list[int] | None:
    """Kahn's algorithm; ``None`` when there is a cycle."""
    waiting = [len(d) for d in deps]
    order = [i for i, w in enumerate(waiting) if w == 0]
    for i in order:  # appending while iterating: a FIFO queue without the deque
        for d in dependents[i]:
            waiting[d] -= 1
            if waiting[d] == 0:
                order.append(d)
    return order if len(order) == len(deps) else None


def _id_and_deps(task: Any) -> tuple[str, list[str]]:
    if type(task) is dict or isinstance(task, Mapping):  # plain dicts first: ABC checks are slow
        return str(task.get("task_id")), [str(d) for d in task.get("dependencies") or []]
    return task.task_id, task.dependencies


def check_graph(tasks: Sequence[Any]) -> GraphFacts:
    """Build the dependency graph and collect every structural problem as an ``InputIssue``."""
    kind = type(tasks[0]) if tasks else dict
    if kind is not dict and not issubclass(kind, Mapping) and all(type(t) is kind for t in tasks):
        pairs = [(t.task_id, t.dependencies) for t in tasks]  # all Task models: no check per task
    else:
        pairs = [_id_and_deps(t) for t in tasks]
    issues: list[InputIssue] = []
    index: dict[str, int] = {}
    for i, (task_id, _) in enumerate(pairs):
        if task_id in index:
            issues.append(InputIssue(f"duplicate task_id {task_id!r} (also task #{index[task_id]})",
                                     task_id, "task_id"))
        else:
            index[task_id] = i

    deps: list[list[int]] = [[] for _ in pairs]
    dependents: list[list[int]] = [[] for _ in pairs]
    for i, (task_id, dep_ids) in enumerate(pairs):
        if not dep_ids or index.get(task_id) != i:
            continue  # no edges, or a duplicate: already reported, keep it out of the graph
        mine = deps[i]
        seen: set[int] | None = set() if len(dep_ids) > 1 else None  # one dependency: nothing to repeat
        for dep in dep_ids:
            j = index.get(dep)
            if dep == task_id:
                issues.append(InputIssue(f"task {task_id!r} depends on itself", task_id, "dependencies"))
            elif j is None:
                issues.append(InputIssue(f"unknown dependency {dep!r}", task_id, "dependencies"))
            elif seen is None or j not in seen:
                if seen is not None:
                    seen.add(j)
                mine.append(j)
                dependents[j].append(i)

    graph: nx.DiGraph | None = None
    order = _topological_order(deps, dependents)  # the cheap acyclicity test
    if order is None:  # only now is networkx needed, to name the cycles
        order, graph = [], _digraph(deps)
        for cycle in _find_cycles(graph, [p[0] for p in pairs]):
            message = "circular dependency: " + " -> ".join(cycle) + " (each task depends on the next)"
            issues.append(InputIssue(message, cycle[0], "dependencies", cycle=cycle))
    return GraphFacts([p[0] for p in pairs], deps, dependents, order, issues, graph)


def _find_cycles(graph: nx.DiGraph, ids: list[str]) -> list[list[str]]:
    """One cycle per non-trivial strongly connected component, in 'depends on' order."""
    import networkx as nx

    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue  # self-loops are never added to the graph
        # Every node of a strongly connected component has a successor inside it, so walking
        # successors from any node must revisit one: the walk from that point on is a cycle.
        node, position, walk = min(component), dict[int, int](), list[int]()
        while node not in position:
            position[node] = len(walk)
            walk.append(node)
            node = min(n for n in graph.successors(node) if n in component)
        nodes = walk[position[node]:]
        nodes.reverse()  # edges run dependency -> dependent; report what each task depends on
        first = nodes.index(min(nodes))
        nodes = nodes[first:] + nodes[:first]
        cycles.append([ids[n] for n in nodes] + [ids[nodes[0]]])
    return sorted(cycles, key=lambda c: ids.index(c[0]))


def validate_task_dependencies(tasks: Sequence[Any]) -> list[str]:
    """Every structural problem (duplicates, unknown or self dependencies, cycles), as messages."""
    return [f"task {i.task_id!r}: {i.message}" for i in check_graph(tasks).issues]


def detect_circular_dependencies(tasks: Sequence[Any]) -> list[list[str]]:
    """Cycles among the tasks, each closed (first id repeated last); ``[]`` if there are none."""
    return [i.cycle for i in check_graph(tasks).issues if i.cycle is not None]


def bottom_levels(facts: GraphFacts, durations: Sequence[float]) -> list[float]:
    """Longest path from each task to the end of the graph, counting its own duration."""
    level = [0.0] * len(durations)
    dependents = facts.dependents
    for i in reversed(facts.order):
        after = dependents[i]
        longest = level[after[0]] if after else 0.0
        for d in after:  # a loop, not max() over a generator: ~1 µs a task less
            if level[d] > longest:
                longest = level[d]
        level[i] = durations[i] + longest
    return level


def critical_path(facts: GraphFacts, durations: Sequence[float]) -> tuple[float, list[int]]:
    """Length and tasks of the longest dependency chain under ``durations``."""
    if not facts.order:
        return 0.0, []
    finish = [0.0] * len(durations)
    best_dep: list[int | None] = [None] * len(durations)
    for i in facts.order:
        best = max(facts.deps[i], key=lambda d: finish[d], default=None)
        best_dep[i] = best
        finish[i] = (finish[best] if best is not None else 0.0) + durations[i]
    end = max(facts.order, key=lambda i: (finish[i], -i))
    path = [end]
    while (prev := best_dep[path[-1]]) is not None:
        path.append(prev)
    return finish[end], path[::-1]


def simulate_makespan(facts: GraphFacts, durations: Sequence[float], workers: int) -> float:
    """Makespan of event-driven list scheduling (longest remaining path first) on ``workers``."""
    from parallel_execution.graph.ready import ReadyQueue

    queue = ReadyQueue(facts.deps, bottom_levels(facts, durations))
    queue.prepare()
    running: list[tuple[float, int]] = []
    now = 0.0
    while queue.is_active():
        while queue and len(running) < workers:
            i = queue.pop()
            heapq.heappush(running, (now + durations[i], i))
        now, finished = heapq.heappop(running)
        queue.done(finished)
    return now
