"""Scheduler behaviour: event-driven starts, max_workers, failures, retries, timeouts, fail_fast."""

from __future__ import annotations

import random
import time

from conftest import config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parallel_execution import dispatch


def echo(task_id, delay=0.0, deps=(), **extra):
    return {"task_id": task_id, "agent": "echo", "dependencies": list(deps),
            "input_data": {"message": task_id, "delay_seconds": delay, **extra}}


def probe(task_id, deps=(), **data):
    return {"task_id": task_id, "agent": "probe", "dependencies": list(deps), "input_data": data}


def by_id(result):
    return {r.task_id: r for r in result.results}


def test_a_task_starts_as_soon_as_its_own_dependencies_finish(trace_dir):
    tasks = [echo("slow", 1.0), echo("fast", 0.2), echo("after_fast", 0.2, deps=["fast"])]
    started = time.monotonic()
    result = dispatch(tasks, config(trace_dir))
    elapsed = time.monotonic() - started
    assert result.status == "success"
    assert elapsed < 1.2 * 0.95 + 0.15  # a wave scheduler needs >= 1.2 s
    r = by_id(result)
    assert r["after_fast"].finished_ms < r["slow"].finished_ms


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 4), st.integers(2, 14), st.integers(0, 10_000))
def test_never_more_than_max_workers_and_dependencies_first(probe_log, trace_dir, workers, n, seed):
    probe_log.__init__()
    rng = random.Random(seed)
    tasks = [probe(f"t{i}", deps=[f"t{d}" for d in rng.sample(range(i), min(i, rng.randint(0, 2)))],
                   delay_seconds=rng.choice([0, 0.001, 0.005])) for i in range(n)]
    result = dispatch(tasks, config(trace_dir, max_workers=workers))
    assert result.status == "success"
    assert probe_log.peak <= workers
    ends = {tid: i for i, (kind, tid) in enumerate(probe_log.events) if kind == "end"}
    starts = {tid: i for i, (kind, tid) in enumerate(probe_log.events) if kind == "start"}
    for t in tasks:
        assert all(ends[d] < starts[t["task_id"]] for d in t["dependencies"])


def test_max_workers_is_reached_when_work_allows(probe_log, trace_dir):
    tasks = [probe(f"t{i}", delay_seconds=0.05) for i in range(6)]
    dispatch(tasks, config(trace_dir, max_workers=3))
    assert probe_log.peak == 3


def test_ready_tasks_start_longest_remaining_path_first(probe_log, trace_dir):
    tasks = [probe("short"), probe("long_head"), probe("long_tail", deps=["long_head"])]
    dispatch(tasks, config(trace_dir, max_workers=1))
    assert [t for kind, t in probe_log.events if kind == "start"] == ["long_head", "short", "long_tail"]


def test_dependents_of_a_failure_are_skipped_with_the_reason(trace_dir):
    tasks = [probe("root", fail=True), probe("child", deps=["root"]), probe("grandchild", deps=["child"]),
             probe("independent")]
    result = dispatch(tasks, config(trace_dir))
    r = by_id(result)
    assert result.status == "failure" and result.exit_code == 1
    assert r["root"].status == "error" and r["root"].error == "root failed on purpose"
    assert r["child"].status == "skipped" and r["child"].error == "skipped: dependency 'root' ended error"
    assert r["grandchild"].error == "skipped: dependency 'child' was skipped because 'root' ended error"
    assert r["independent"].status == "success"
    assert (result.summary.successful, result.summary.failed, result.summary.skipped) == (1, 1, 2)


def test_fail_fast_cancels_running_tasks_and_skips_the_rest(trace_dir):
    tasks = [probe("boom", fail=True, delay_seconds=0.05), probe("long", delay_seconds=5),
             probe("later", deps=["long"])]
    started = time.monotonic()
    result = dispatch(tasks, config(trace_dir, fail_fast=True))
    assert time.monotonic() - started < 3
    r = by_id(result)
    assert r["boom"].status == "error"
    assert r["long"].status == "cancelled" and "fail_fast: task 'boom' ended error" in r["long"].error
    assert r["later"].status == "skipped"


def test_retries_until_success_with_attempts_counted(trace_dir):
    tasks = [echo("flaky", fail_on_attempts=[1, 2])]
    result = dispatch(tasks, config(trace_dir, retries=2, retry_backoff_seconds=0.01))
    (r,) = result.results
    assert r.status == "success" and r.attempts == 3


def test_retries_exhausted_is_an_error_with_the_last_message(trace_dir):
    result = dispatch([echo("flaky", fail_on_attempts=[1, 2, 3])], config(trace_dir, retries=1, retry_backoff_seconds=0))
    (r,) = result.results
    assert r.status == "error" and r.attempts == 2 and r.error == "echo failed on purpose on attempt 2"


def test_per_task_retries_override_config(trace_dir):
    task = {**echo("flaky", fail_on_attempts=[1]), "retries": 1}
    result = dispatch([task], config(trace_dir, retries=0, retry_backoff_seconds=0))
    assert result.results[0].status == "success"


def test_timeout_ends_the_task_as_timeout(trace_dir):
    task = {**probe("stuck", hang=True), "timeout_seconds": 0.2}
    started = time.monotonic()
    result = dispatch([task, probe("fine")], config(trace_dir))
    assert time.monotonic() - started < 2
    r = by_id(result)
    assert r["stuck"].status == "timeout" and r["stuck"].error == "timeout: no result after 0.2 s"
    assert r["fine"].status == "success"


def test_config_timeout_applies_to_every_task(trace_dir):
    result = dispatch([probe("stuck", hang=True)], config(trace_dir, timeout_seconds=0.1))
    assert result.results[0].status == "timeout"


def test_timeouts_are_retried(trace_dir, probe_log):
    task = {**probe("stuck", hang=True), "timeout_seconds": 0.05, "retries": 2}
    result = dispatch([task], config(trace_dir, retry_backoff_seconds=0))
    assert result.results[0].attempts == 3 and result.results[0].status == "timeout"


def test_from_references_feed_dependency_outputs(trace_dir):
    tasks = [probe("a", value={"items": [1, 2, 3]}),
             probe("b", deps=["a"], value={"$from": "a", "select": ".value.items | add"}),
             probe("c", deps=["b"], value={"all": {"$from": "a"}, "sum": [{"$from": "b", "select": ".value"}]})]
    r = by_id(dispatch(tasks, config(trace_dir)))
    assert r["b"].output["value"] == 6
    assert r["c"].output["value"] == {"all": {"value": {"items": [1, 2, 3]}, "attempt": 1}, "sum": [6]}


def test_jq_runtime_error_fails_only_that_task(trace_dir):
    tasks = [probe("a", value=5), probe("b", deps=["a"], value={"$from": "a", "select": ".value.x"})]
    r = by_id(dispatch(tasks, config(trace_dir)))
    assert r["a"].status == "success" and r["b"].status == "error"
    assert r["b"].error.startswith("jq filter '.value.x' on the output of 'a' failed: Cannot index number")


def test_resolved_input_is_checked_against_the_agent_model(trace_dir):
    tasks = [probe("a", value="not a number"), probe("b", deps=["a"], delay_seconds={"$from": "a", "select": ".value"})]
    r = by_id(dispatch(tasks, config(trace_dir)))
    assert r["b"].status == "error" and r["b"].error.startswith("resolved input is invalid: input_data.delay_seconds")


def test_concurrent_tasks_get_their_own_agent_instances(trace_dir):
    from parallel_execution.agents.base import Agent, AgentInput
    from parallel_execution.agents.registry import register_agent

    class StatefulInput(AgentInput):
        value: int

    @register_agent
    class Stateful(Agent[StatefulInput]):
        name = "stateful"
        Input = StatefulInput
        instances: set[int] = set()

        async def run(self, data, ctx):
            import asyncio

            self.mine = data.value
            Stateful.instances.add(id(self))
            await asyncio.sleep(0.01)
            return {"mine": self.mine}

    tasks = [{"task_id": f"s{i}", "agent": "stateful", "input_data": {"value": i}} for i in range(8)]
    result = dispatch(tasks, config(trace_dir, max_workers=8))
    assert [r.output["mine"] for r in result.results] == list(range(8))
    assert len(Stateful.instances) == 8


def test_an_unexpected_exception_in_an_agent_is_a_result(trace_dir):
    from parallel_execution.agents.base import Agent, AgentInput
    from parallel_execution.agents.registry import register_agent

    @register_agent
    class Broken(Agent[AgentInput]):
        name = "broken"
        Input = AgentInput

        async def run(self, data, ctx):
            return {}["missing"]

    result = dispatch([{"task_id": "x", "agent": "broken"}], config(trace_dir))
    assert result.results[0].status == "error" and result.results[0].error == "KeyError: 'missing'"


def test_summary_reports_speedup_and_critical_path(trace_dir):
    tasks = [echo(f"t{i}", 0.2) for i in range(4)] + [echo("end", 0.1, deps=["t0", "t1", "t2", "t3"])]
    s = dispatch(tasks, config(trace_dir, max_workers=4)).summary
    assert s.total_tasks == 5 and s.successful == 5
    assert 2.5 < s.speedup <= 4.5
    assert s.critical_path[-1] == "end" and s.critical_path_ms >= 290
