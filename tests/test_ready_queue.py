"""graph.ready.ReadyQueue: a task is ready exactly when its dependencies are done; order is by
priority then input order; dropped tasks never come back; wrong transitions raise."""

from __future__ import annotations

import graphlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_execution.graph.checks import bottom_levels, check_graph, simulate_makespan
from parallel_execution.graph.ready import ReadyQueue


@st.composite
def dags(draw, max_tasks: int = 25):
    n = draw(st.integers(1, max_tasks))
    deps = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=4))) if i else [] for i in range(n)]
    priority = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 7.0]), min_size=n, max_size=n))
    return deps, priority


@given(dags(), st.randoms(use_true_random=False))
def test_every_task_is_released_once_after_all_its_dependencies(dag, rng):
    deps, priority = dag
    queue = ReadyQueue(deps, priority)
    ready = set(queue.prepare())
    done: set[int] = set()
    taken: list[int] = []
    while queue.is_active():
        taken += queue.get_ready(rng.randint(1, 3))
        rng.shuffle(taken)
        finished = taken.pop()
        assert set(deps[finished]) <= done
        done.add(finished)
        released = queue.done(finished)
        for i in released:
            assert i not in ready and set(deps[i]) <= done
        ready |= set(released)
    assert done == ready == set(range(len(deps)))


@given(dags())
def test_get_ready_is_in_priority_then_input_order(dag):
    deps, priority = dag
    queue = ReadyQueue(deps, priority)
    queue.prepare()
    while queue.is_active():
        batch = queue.get_ready()
        assert batch == sorted(batch, key=lambda i: (-priority[i], i))
        queue.done(*batch)


@given(dags(), st.data())
def test_dropped_tasks_and_only_they_never_become_ready(dag, data):
    deps, _ = dag
    dropped = data.draw(st.sets(st.integers(0, len(deps) - 1)))
    queue = ReadyQueue(deps)
    queue.prepare()
    queue.drop(dropped)
    finished = set()
    while queue.is_active():
        for i in queue.get_ready():
            assert i not in dropped
            queue.done(i)
            finished.add(i)
    blocked = {i for i in range(len(deps)) if _reaches_any(deps, i, dropped)}
    assert finished == set(range(len(deps))) - blocked


def _reaches_any(deps: list[list[int]], i: int, targets: set[int]) -> bool:
    stack, seen = [i], set()
    while stack:
        j = stack.pop()
        if j in targets:
            return True
        if j not in seen:
            seen.add(j)
            stack.extend(deps[j])
    return False


@given(dags(), st.randoms(use_true_random=False))
def test_it_releases_what_graphlib_releases(dag, rng):
    deps, priority = dag
    ours = ReadyQueue(deps, priority)
    theirs = graphlib.TopologicalSorter({i: ds for i, ds in enumerate(deps)})
    theirs.prepare()
    assert sorted(ours.prepare()) == sorted(theirs.get_ready())
    taken = ours.get_ready()
    while taken:
        finished = taken.pop(rng.randrange(len(taken)))
        released = ours.done(finished)
        theirs.done(finished)
        assert sorted(released) == sorted(theirs.get_ready())
        taken += ours.get_ready()
        assert ours.is_active() == theirs.is_active()


def test_wrong_transitions_raise():
    queue = ReadyQueue([[], [0]])
    with pytest.raises(ValueError):
        queue.pop()
    queue.prepare()
    with pytest.raises(ValueError):
        queue.prepare()
    with pytest.raises(ValueError):
        queue.done(1)  # waiting, never taken
    assert queue.pop() == 0
    assert queue.done(0) == [1]
    with pytest.raises(ValueError):
        queue.done(0)
    with pytest.raises(ValueError):
        queue.drop([0])


@settings(max_examples=40)
@given(dags(max_tasks=40), st.integers(1, 6))
def test_simulated_makespan_is_within_list_scheduling_bounds(dag, workers):
    deps, _ = dag
    rng = random.Random(len(deps))
    durations = [rng.uniform(0.1, 2.0) for _ in deps]
    facts = check_graph([{"task_id": str(i), "dependencies": [str(d) for d in ds]} for i, ds in enumerate(deps)])
    makespan = simulate_makespan(facts, durations, workers)
    critical = max(bottom_levels(facts, durations))
    lower = max(critical, sum(durations) / workers)
    assert lower - 1e-9 <= makespan <= sum(durations) / workers + critical + 1e-9  # Graham's bound
