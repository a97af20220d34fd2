"""Validation stays linear (issue 13, item 10): the write-conflict check and the ``$from`` ancestry
check at 100k tasks, and the fast checks agree with a brute-force reference on random graphs."""

from __future__ import annotations

import itertools
import time

import networkx as nx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_execution.errors import InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input


def chained_writes(n: int) -> dict:
    return {"tasks": [{"task_id": f"t{i}", "agent": "echo", "writes": ["out.txt"],
                       "dependencies": [f"t{i - 1}"] if i else []} for i in range(n)]}


def chained_refs(n: int, to_root: bool = False) -> dict:
    return {"tasks": [{"task_id": f"t{i}", "agent": "echo", "dependencies": [f"t{i - 1}"] if i else [],
                       "input_data": {"message": {"$from": "t0" if to_root else f"t{i - 1}"}} if i else {}}
                      for i in range(n)]}


def _validate_seconds(document: dict, workspace) -> float:
    document["config"] = {"workspace": str(workspace)}
    data = parse_input(document)
    started = time.perf_counter()
    build_plan(data)
    return time.perf_counter() - started


def test_a_few_thousand_chained_tasks_validate_quickly(tmp_path):
    # Before: 800 chained writers took 125 s (cubic), a 12k $from chain 28 s (quadratic).
    assert _validate_seconds(chained_writes(3000), tmp_path) < 30
    assert _validate_seconds(chained_refs(3000, to_root=True), tmp_path) < 30


def test_a_20k_chain_of_from_references_sharing_a_write_validates_in_seconds(tmp_path):
    # Both shapes at once: each task $from the previous one and writing the same file. ~0.3 s
    # unloaded (issue 17 item 4); quadratic ancestry or cubic conflict checks took minutes here.
    document = chained_refs(20_000)
    for task in document["tasks"]:
        task["writes"] = ["out/shared.txt"]
    document["config"] = {"workspace": str(tmp_path)}
    started = time.perf_counter()
    plan = build_plan(parse_input(document))
    assert time.perf_counter() - started < 15
    assert len(plan.tasks) == 20_000 and len(plan.tasks[-1].refs) == 1 and plan.tasks[-1].level == 19_999


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["writes", "refs", "refs-to-root"])
def test_100k_tasks_validate_in_linear_time(shape, tmp_path):
    make = {"writes": chained_writes, "refs": chained_refs, "refs-to-root": lambda n: chained_refs(n, True)}[shape]
    small, large = _validate_seconds(make(10_000), tmp_path), _validate_seconds(make(100_000), tmp_path)
    assert large < 300
    assert large < 60 * max(small, 0.05)  # 10x the tasks: about 10x the time (GC, load: noisy), never 100x


@st.composite
def touching_graphs(draw):
    n = draw(st.integers(2, 8))
    edges = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] < e[1]),
                         max_size=12))
    touches = draw(st.lists(st.sampled_from([None, "reads", "writes"]), min_size=n, max_size=n))
    folder = draw(st.lists(st.booleans(), min_size=n, max_size=n))  # touch the folder instead of the file
    return n, sorted(edges), touches, folder


@settings(max_examples=150, deadline=None)
@given(touching_graphs())
def test_conflicts_found_exactly_when_some_unordered_pair_touches_with_a_writer(tmp_path_factory, case):
    n, edges, touches, folder = case
    workspace = tmp_path_factory.mktemp("ws")
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    tasks = []
    for i in range(n):
        task = {"task_id": f"t{i}", "agent": "echo", "dependencies": [f"t{a}" for a, b in edges if b == i]}
        if touches[i]:
            task[touches[i]] = ["d" if folder[i] else "d/f.txt"]
        tasks.append(task)
    expected = any(
        touches[a] and touches[b] and "writes" in (touches[a], touches[b])
        and not (nx.has_path(graph, a, b) or nx.has_path(graph, b, a))
        for a, b in itertools.combinations(range(n), 2))
    try:
        build_plan(parse_input({"tasks": tasks, "config": {"workspace": str(workspace)}}))
        found = False
    except InvalidInput as exc:
        assert all("conflict" in i.message for i in exc.issues)
        found = True
    assert found == expected


def test_thousands_of_bad_tasks_in_json_text_are_reported_in_linear_time():
    # Each error's task id came from parsing the whole text again, and each unknown field ran
    # difflib again: 8,000 misspelt tasks took 90 s.
    raw = orjson.dumps({"tasks": [{"task_id": f"t{i}", "agent": "echo", "dependencis": []} for i in range(5000)]})
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as caught:
        parse_input(raw)
    assert time.perf_counter() - started < 10
    issues = caught.value.issues
    assert len(issues) == 5000 and issues[-1].task_id == "t4999"
    assert issues[0].message == "unknown field 'dependencis' (did you mean 'dependencies'?)"
