"""Graph checks: structural errors, cycles (property-tested), priorities, critical path."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_execution.graph.checks import (
    bottom_levels,
    check_graph,
    critical_path,
    detect_circular_dependencies,
    simulate_makespan,
    validate_task_dependencies,
)


def tasks_of(edges: dict[str, list[str]]) -> list[dict]:
    return [{"task_id": t, "dependencies": deps} for t, deps in edges.items()]


@st.composite
def random_dags(draw, max_tasks: int = 40) -> list[dict]:
    """Tasks t0..tn-1 where each depends only on earlier ones: always acyclic."""
    n = draw(st.integers(1, max_tasks))
    tasks = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=min(i, 4))) if i else set()
        tasks.append({"task_id": f"t{i}", "dependencies": [f"t{d}" for d in sorted(deps)]})
    return tasks


def assert_is_cycle(cycle: list[str], tasks: list[dict]) -> None:
    deps = {t["task_id"]: set(t["dependencies"]) for t in tasks}
    assert cycle[0] == cycle[-1] and len(cycle) >= 3
    for a, b in itertools.pairwise(cycle):
        assert b in deps[a], f"{a} does not depend on {b}"


@settings(max_examples=200, deadline=None)
@given(random_dags())
def test_random_dags_are_accepted_with_a_valid_order(tasks):
    facts = check_graph(tasks)
    assert facts.issues == []
    assert validate_task_dependencies(tasks) == [] and detect_circular_dependencies(tasks) == []
    position = {i: n for n, i in enumerate(facts.order)}
    assert sorted(position) == list(range(len(tasks)))
    for i, deps in enumerate(facts.deps):
        assert all(position[d] < position[i] for d in deps)


@settings(max_examples=200, deadline=None)
@given(random_dags(), st.data())
def test_any_back_edge_is_reported_as_a_real_cycle(tasks, data):
    # A path a -> ... -> b exists in the DAG whenever b (transitively) depends on a; making a
    # depend on b then closes a cycle. Pick b among a's transitive dependents.
    facts = check_graph(tasks)
    a = data.draw(st.integers(0, len(tasks) - 1))
    dependents, stack = set(), [a]
    while stack:
        for d in facts.dependents[stack.pop()]:
            if d not in dependents:
                dependents.add(d)
                stack.append(d)
    if not dependents:
        a_task = tasks[a]
        a_task["dependencies"] = [*a_task["dependencies"], a_task["task_id"]]
        assert "depends on itself" in validate_task_dependencies(tasks)[0]
        return
    b = data.draw(st.sampled_from(sorted(dependents)))
    tasks[a]["dependencies"].append(f"t{b}")
    cycles = detect_circular_dependencies(tasks)
    assert cycles, "the back edge must be detected"
    for cycle in cycles:
        assert_is_cycle(cycle, tasks)


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ({"a": ["b"], "b": ["a"]}, "task 'a': circular dependency: a -> b -> a (each task depends on the next)"),
        ({"a": ["c"], "b": ["a"], "c": ["b"]}, "task 'a': circular dependency: a -> c -> b -> a"),
        ({"a": ["a"]}, "task 'a': task 'a' depends on itself"),
        ({"a": ["ghost"]}, "task 'a': unknown dependency 'ghost'"),
    ],
)
def test_structural_errors_name_the_evidence(edges, message):
    assert validate_task_dependencies(tasks_of(edges))[0].startswith(message)


def test_duplicate_ids_are_reported_not_merged():
    tasks = [{"task_id": "a", "dependencies": []}, {"task_id": "a", "dependencies": []}]
    assert validate_task_dependencies(tasks) == ["task 'a': duplicate task_id 'a' (also task #0)"]


def test_two_separate_cycles_are_both_reported():
    cycles = detect_circular_dependencies(tasks_of({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": []}))
    assert cycles == [["a", "b", "a"], ["c", "d", "c"]]


def test_long_chain_is_linear_and_not_recursive():
    n = 100_000
    tasks = [{"task_id": f"t{i}", "dependencies": [f"t{i - 1}"] if i else []} for i in range(n)]
    assert len(check_graph(tasks).order) == n
    tasks[0]["dependencies"] = [f"t{n - 1}"]
    (cycle,) = detect_circular_dependencies(tasks)
    assert len(cycle) == n + 1


def test_task_models_are_accepted_too():
    from parallel_execution import TaskBuilder

    b = TaskBuilder()
    t1 = b.create_task("x", "echo", dependencies=["y"])
    t2 = b.create_task("y", "echo", dependencies=["x"])
    assert detect_circular_dependencies([t1, t2]) == [["x", "y", "x"]]


def test_priorities_follow_the_longest_remaining_path():
    facts = check_graph(tasks_of({"a": [], "b": ["a"], "c": [], "d": ["b"]}))
    assert bottom_levels(facts, [1.0, 2.0, 1.0, 3.0]) == [6.0, 5.0, 1.0, 3.0]
    assert critical_path(facts, [1.0, 2.0, 1.0, 3.0]) == (6.0, [0, 1, 3])


@settings(max_examples=100, deadline=None)
@given(random_dags(), st.integers(1, 8), st.data())
def test_simulated_makespan_is_within_list_scheduling_bounds(tasks, workers, data):
    facts = check_graph(tasks)
    durations = data.draw(st.lists(st.floats(0.1, 10), min_size=len(tasks), max_size=len(tasks)))
    length, _ = critical_path(facts, durations)
    makespan = simulate_makespan(facts, durations, workers)
    lower = max(length, sum(durations) / workers)
    assert lower - 1e-9 <= makespan <= sum(durations) / workers + length + 1e-9  # Graham's bound
