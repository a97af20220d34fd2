"""traces.layout: ordinary ids keep the documented names; no id collides with the runner's files
or another task's files; old dispatches stay readable."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from parallel_execution.dispatcher import dispatch
from parallel_execution.traces.layout import INPUT_NAME, JOURNAL_NAME, artifact_name, task_stem, trace_name
from parallel_execution.traces.store import load_dispatch

IDS = st.text(alphabet="abcAB019._-", min_size=1, max_size=12)
SUFFIXES = st.sampled_from(["stdout.log", "stderr.log", "transcript.jsonl", "rejected.py", "rejected.json"])


def test_ordinary_ids_keep_the_documented_names():
    assert trace_name("build") == "build.json"
    assert trace_name("step.1") == "step.1.json"
    assert artifact_name("build", 1, "stdout.log") == "build.stdout.log"
    assert artifact_name("flaky", 2, "stdout.log") == "flaky.attempt2.stdout.log"


def test_ids_that_could_collide_are_escaped():
    assert trace_name("input") == "%input.json" != INPUT_NAME
    assert trace_name("Journal") == "%Journal.json"
    assert task_stem("k.attempt2") == "%k%2Eattempt2"
    assert artifact_name("k.attempt2", 1, "stdout.log") != artifact_name("k", 2, "stdout.log")


def _names(task_id: str, attempts: int, suffixes: list[str]) -> set[str]:
    names = {trace_name(task_id)}
    names |= {artifact_name(task_id, n, s) for n in range(1, attempts + 1) for s in suffixes}
    return names


@given(st.lists(IDS, min_size=2, max_size=6, unique=True), st.lists(SUFFIXES, min_size=1, max_size=3, unique=True))
def test_no_two_tasks_share_a_file_and_none_takes_a_runner_file(ids, suffixes):
    seen: dict[str, str] = {}
    for task_id in ids:
        for name in _names(task_id, 3, suffixes):
            assert name not in (INPUT_NAME, JOURNAL_NAME)
            assert seen.setdefault(name, task_id) == task_id, f"{task_id!r} and {seen[name]!r} share {name}"


def test_a_task_named_input_does_not_overwrite_the_stored_input(tmp_path):
    traces = tmp_path / "traces"
    result = dispatch({"tasks": [{"task_id": "input", "agent": "echo", "input_data": {"message": "hi"}}],
                       "config": {"trace_dir": str(traces), "workspace": str(tmp_path)}})
    record = load_dispatch(result.dispatch_id, traces)
    stored = json.loads((record.task_dir / INPUT_NAME).read_text())
    assert stored["tasks"][0]["task_id"] == "input"  # still the dispatch input, not a task trace
    assert record.task_trace("input")["output"] == {"message": "hi"}
    assert record.tasks[0]["trace_file"].endswith("%input.json")


def test_an_old_dispatch_with_raw_names_is_still_read(tmp_path):
    traces = tmp_path / "traces"
    result = dispatch({"tasks": [{"task_id": "k.attempt2", "agent": "echo", "input_data": {"message": "x"}}],
                       "config": {"trace_dir": str(traces), "workspace": str(tmp_path)}})
    record = load_dispatch(result.dispatch_id, traces)
    (record.task_dir / trace_name("k.attempt2")).rename(record.task_dir / "k.attempt2.json")  # as 0.1 wrote it
    reread = load_dispatch(result.dispatch_id, traces)
    assert reread.task_trace("k.attempt2")["output"] == {"message": "x"}


def test_resume_by_id_works_for_a_task_named_input(tmp_path, capsys):
    from parallel_execution.commands.cli import main

    traces = tmp_path / "traces"
    result = dispatch({"tasks": [{"task_id": "input", "agent": "echo"},
                                 {"task_id": "after", "agent": "echo", "dependencies": ["input"],
                                  "input_data": {"fail_on_attempts": [1]}}],
                       "config": {"trace_dir": str(traces), "workspace": str(tmp_path)}})
    assert result.exit_code == 1
    capsys.readouterr()
    assert main(["resume", result.dispatch_id, "--trace-dir", str(traces)]) == 1  # "after" fails again
    document = json.loads(capsys.readouterr().out)
    assert document["resume"]["reused"] == ["input"]
