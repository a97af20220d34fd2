"""dispatch-runner plan: implementation_plan.json as a DAG, statuses written back safely, resumable."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import REPO, RUNNER, runner_env

from parallel_execution.commands.cli import main as cli_main
from parallel_execution.errors import InvalidInput
from parallel_execution.plans.file import parse_plan, select_tasks
from parallel_execution.plans.store import Claim, PlanStore

EXAMPLE_PLAN = REPO / "examples" / "plans" / "implementation_plan.json"

# A command subtask that waits until the file "go" exists in its cwd, or until its runner is gone.
WAITER = ("import os, time\nparent = os.getppid()\n"
          "while os.getppid() == parent and not os.path.exists('go'):\n    time.sleep(0.02)\n")


def sub(sid: str, status: str | None = "pending", delay: float = 0.0, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": sid, "description": f"do {sid}"}
    if status is not None:
        out["status"] = status
    return {**out, "agent": "echo", "input_data": {"message": sid, "delay_seconds": delay}, **extra}


def phase(pid: str, subtasks: list[dict[str, Any]], parallel: bool = True, depends_on: list[Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    out = {"id": pid, "name": f"Phase {pid}", "parallel_safe": parallel, **extra, "subtasks": subtasks}
    return out if depends_on is None else {**out, "depends_on": depends_on}


def parsed(*phases: dict[str, Any]) -> Any:
    return parse_plan(json.dumps({"phases": list(phases)}))


def deps_of(selection: Any) -> dict[str, list[str]]:
    return {t["task_id"]: t["dependencies"] for t in selection.tasks}


def actions(selection: Any) -> dict[str, str]:
    return {d.subtask_id: d.action for d in selection.decisions}


def write_plan(path: Path, document: dict[str, Any], indent: int | str | None = 2) -> Path:
    path.write_text(json.dumps(document, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def statuses(path: Path) -> dict[str, str | None]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {str(s["id"]): s.get("status") for p in document["phases"] for s in p["subtasks"]}


def run_plan(capsys: pytest.CaptureFixture[str], plan: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    code = cli_main(["plan", str(plan), "--quiet", "--trace-dir", str(plan.parent / "traces"),
                     "--workspace", str(plan.parent), *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


# -- plan to DAG -------------------------------------------------------------------------------------

def test_sequential_phase_chains_and_dependents_wait_for_its_last_subtask():
    selection = select_tasks(parsed(
        phase("schema", [sub("a"), sub("b"), sub("c")], parallel=False),
        phase("services", [sub("d"), sub("e")], depends_on=["schema"]),
        phase("docs", [sub("f")]),  # no depends_on: does not wait
    ))
    assert deps_of(selection) == {"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "e": ["c"], "f": []}


def test_the_guides_mixed_example_runs_as_documented():
    # "Example 3: Mixed Parallel and Sequential Phases" of the parallel execution guide, verbatim
    # but for its // comments (which JSON does not allow).
    guide = """{"phases": [
      {"phase": 1, "name": "Database Schema", "parallel_safe": false, "subtasks": [
        {"id": "db-1", "description": "Create users table"},
        {"id": "db-2", "description": "Create tasks table with FK to users"}]},
      {"phase": 2, "name": "Backend Services", "parallel_safe": true, "depends_on": ["1"], "subtasks": [
        {"id": "svc-1", "description": "Implement UserService"},
        {"id": "svc-2", "description": "Implement TaskService"},
        {"id": "svc-3", "description": "Implement AuthService"}]}]}"""
    selection = select_tasks(parse_plan(guide))
    assert deps_of(selection) == {"db-1": [], "db-2": ["db-1"], "svc-1": ["db-2"], "svc-2": ["db-2"], "svc-3": ["db-2"]}
    assert {t["agent"] for t in selection.tasks} == {"claude"}
    assert selection.tasks[0]["input_data"] == {"prompt": "Create users table"}


def test_dependents_of_a_parallel_phase_wait_for_all_of_its_runnable_subtasks():
    selection = select_tasks(parsed(
        phase("p1", [sub("a"), sub("b", status="completed"), sub("c")]),
        phase("p2", [sub("d")], depends_on=["p1"]),
    ))
    assert deps_of(selection) == {"a": [], "c": [], "d": ["a", "c"]}
    assert actions(selection) == {"a": "run", "b": "done", "c": "run", "d": "run"}


@pytest.mark.parametrize("ref", [1, "1", "first"])
def test_depends_on_names_a_phase_by_number_or_id(ref: Any):
    selection = select_tasks(parsed(phase("first", [sub("a")], phase=1), phase("second", [sub("b")], depends_on=[ref])))
    assert deps_of(selection) == {"a": [], "b": ["a"]}


def test_phases_with_nothing_left_to_run_pass_ordering_through():
    selection = select_tasks(parsed(
        phase("p1", [sub("a")]),
        phase("p2", [sub("b", status="completed")], depends_on=["p1"]),
        phase("p3", [sub("c")], depends_on=["p2"]),
    ))
    assert deps_of(selection) == {"a": [], "c": ["a"]}


def test_completed_plan_has_nothing_to_run():
    selection = select_tasks(parsed(phase("p1", [sub("a", status="completed")], parallel=False)))
    assert selection.tasks == [] and actions(selection) == {"a": "done"}


@pytest.mark.parametrize(("retry_failed", "expected"), [
    (False, {"a": "wait", "b": "run", "c": "wait", "d": "wait"}),
    (True, {"a": "run", "b": "run", "c": "run", "d": "run"}),
])
def test_a_failed_subtask_holds_back_its_dependents_unless_retried(retry_failed: bool, expected: dict[str, str]):
    selection = select_tasks(parsed(
        phase("p1", [sub("a", status="failed"), sub("b")]),
        phase("p2", [sub("c"), sub("d")], parallel=False, depends_on=["p1"]),
    ), retry_failed=retry_failed)
    assert actions(selection) == expected
    reasons = {d.subtask_id: d.reason for d in selection.decisions}
    if not retry_failed:
        assert reasons["a"] == "failed earlier; rerun with --retry-failed"
        assert reasons["c"] == "waits for 'p1', which will not be complete after this run"


def test_in_a_sequential_phase_a_subtask_that_cannot_run_holds_back_the_rest():
    selection = select_tasks(parsed(phase("p1", [sub("a", status="completed"), sub("b", status="failed"),
                                                 sub("c"), sub("d")], parallel=False)))
    assert actions(selection) == {"a": "done", "b": "wait", "c": "wait", "d": "wait"}
    assert selection.decisions[2].reason == "comes after 'b' in a sequential phase"


HERE = socket.gethostname()


@pytest.mark.parametrize(("status", "claim", "reclaim", "action"), [
    ("in_progress", None, False, "wait"),  # set by someone we cannot see: taken
    ("in_progress", None, True, "run"),
    ("in_progress", Claim("dead", alive=False, verified=True), False, "run"),  # stale: its process is gone
    ("in_progress", Claim("live here", alive=True, verified=True), True, "wait"),  # never steal from a live process
    ("in_progress", Claim("other host", alive=True, verified=False), False, "wait"),
    ("in_progress", Claim("other host", alive=True, verified=False), True, "run"),
    ("pending", Claim("live here", alive=True, verified=True), False, "wait"),  # claimed, not started yet
    ("pending", Claim("dead", alive=False, verified=True), False, "run"),
    ("blocked", None, True, "wait"),
])
def test_claims_and_in_progress_decide_who_runs_a_subtask(status: str, claim: Claim | None, reclaim: bool,
                                                           action: str):
    selection = select_tasks(parsed(phase("p1", [sub("a", status=status)])), reclaim=reclaim,
                             claims={"a": claim} if claim else {})
    assert actions(selection) == {"a": action}


def test_phase_selection_leaves_other_phases_alone_and_their_dependents_wait():
    plan = parsed(phase("p1", [sub("a")]), phase("p2", [sub("b")]), phase("p3", [sub("c")], depends_on=["p1"]))
    assert actions(select_tasks(plan, phases=["p2", "p3"])) == {"a": "wait", "b": "run", "c": "wait"}
    with pytest.raises(InvalidInput, match=r"^--phase 'p9': no such phase \(known: p1, p2, p3\)$"):
        select_tasks(plan, phases=["p9"])


def test_subtasks_without_an_agent_are_claude_tasks_prompted_with_their_description():
    selection = select_tasks(parsed(phase("p1", [
        {"id": "x", "description": "Implement Header component", "status": "pending"},
        {"id": "y", "description": "Implement Footer", "input_data": {"prompt": "custom", "model": "haiku"},
         "timeout_seconds": 600, "retries": 2},
    ])))
    assert selection.tasks == [
        {"task_id": "x", "agent": "claude", "description": "Implement Header component",
         "input_data": {"prompt": "Implement Header component"}, "dependencies": []},
        {"task_id": "y", "agent": "claude", "description": "Implement Footer",
         "input_data": {"prompt": "custom", "model": "haiku"}, "dependencies": [], "timeout_seconds": 600, "retries": 2},
    ]


def test_subtask_ids_that_are_not_safe_file_names_get_safe_task_ids():
    selection = select_tasks(parsed(phase("p1", [sub("1.1 set up"), sub("1.1_set_up"), sub("a/b"), sub(7)])))
    assert [d.task_id for d in selection.decisions] == ["1.1_set_up-2", "1.1_set_up", "a_b", "7"]


@pytest.mark.parametrize(("document", "message"), [
    ({"phases": [phase("p1", [sub("a")]), phase("p2", [sub("b")], depends_on=["p9"])]},
     r"^phases\[1\]\.depends_on\[0\]: 'p2' depends on unknown phase 'p9' \(known: p1, p2\)$"),
    ({"phases": [phase("p1", [sub("a")], depends_on=["p2"]), phase("p2", [sub("b")], depends_on=["p3"]),
                 phase("p3", [sub("c")], depends_on=["p1"])]},
     r"^phases\[\d\]\.depends_on: phase cycle: (p1 -> p2 -> p3 -> p1|p2 -> p3 -> p1 -> p2|p3 -> p1 -> p2 -> p3) "
     r"\(each phase depends on the next\)$"),
    ({"phases": [phase("p1", [sub("a")], depends_on=["p1"])]}, r"^phases\[0\]\.depends_on\[0\]: 'p1' depends on itself$"),
    ({"phases": [phase("p1", [sub("a")]), phase("p2", [sub("b"), sub("a")])]},
     r"^task 'a'\.phases\[1\]\.subtasks\[1\]\.id: duplicate subtask id 'a' \(in 'p1' and 'p2'\)$"),
    ({"phases": [phase("p1", [], phase=1), phase("p2", [], phase=1)]},
     r"^phases\[1\]: phase key '1' names both 'p1' and 'p2'$"),
    ({"phases": [phase("p1", [sub("a", status="done")])]}, r"^phases\[0\]\.subtasks\[0\]\.status: Input should be 'pending'"),
    ({"phases": [phase("p1", [{"description": "no id"}])]}, r"^phases\[0\]\.subtasks\[0\]\.id: required field 'id' is missing$"),
    ({"stages": []}, r"^phases: required field 'phases' is missing$"),
])
def test_invalid_plans_are_input_errors_naming_the_phase_or_subtask(document: dict[str, Any], message: str):
    with pytest.raises(InvalidInput, match=message):
        parse_plan(json.dumps(document))


def test_invalid_json_names_line_and_column():
    with pytest.raises(InvalidInput, match=r"^plan\.json is not valid JSON: Expecting property name enclosed in "
                                           r"double quotes \(line 2, column 3\)$"):
        parse_plan('{"phases": [],\n  // a comment\n}', "plan.json")


def without_plan_status(text: str) -> str:
    """The plan's text without the plan-level status fields the write-back appends."""
    return re.sub(r',\s*"status": "[a-z_]+",\s*"planStatus": "[a-z_]+"(?=\s*\}\s*$)', "", text)


# -- write-back ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["two-space", "four-space", "tabs", "one-line", "hand-written", "crlf"])
def test_status_write_back_changes_only_status_values(layout: str, tmp_path: Path):
    document = {"feature": "Ünïcode ✓", "phases": [phase("p1", [sub("a"), sub("b", status=None, notes=[1, 2.50])],
                                                          extra={"kept": True})], "z_last": None}
    text = {
        "two-space": json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        "four-space": json.dumps(document, indent=4, ensure_ascii=False),
        "tabs": json.dumps(document, indent="\t", ensure_ascii=False) + "\n\n",
        "one-line": json.dumps(document),
        "hand-written": '{"feature": "\\u00dcn\\u00efcode \\u2713", "phases": [{"id": "p1", "subtasks": [\n'
                        '  {"id": "a", "status": "pending", "agent": "echo"},\n'
                        '  { "id": "b", "notes": [1, 2.50] }]}], "z_last": null}\n',
        "crlf": json.dumps(document, indent=2).replace("\n", "\r\n") + "\r\n",
    }[layout]
    plan = tmp_path / "plan.json"
    plan.write_bytes(text.encode())
    PlanStore(plan).update({"a": "completed", "b": "in_progress"})
    after = plan.read_bytes().decode()
    expected = json.loads(text)
    for p in expected["phases"]:
        for s in p["subtasks"]:
            s["status"] = {"a": "completed", "b": "in_progress"}[s["id"]]
    expected |= {"status": "in_progress", "planStatus": "in_progress"}  # the plan's own, as Auto-Claude keeps it
    assert json.loads(after) == expected
    assert list(json.loads(after)) == [*json.loads(text), "status", "planStatus"]  # key order kept
    # Everything but the status values is byte for byte as found; a missing status is added in place.
    unchanged = re.sub(r',?\s*"(status|planStatus)": "[a-z_]+"', "", after)
    assert unchanged == re.sub(r',?\s*"status": "[a-z_]+"', "", text)


def test_write_back_falls_back_to_the_files_layout_if_an_edit_in_place_is_impossible(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch):
    import parallel_execution.plans.store as plan_store

    monkeypatch.setattr(plan_store, "_locate_statuses", lambda text: {})
    plan = write_plan(tmp_path / "plan.json", {"phases": [phase("p1", [sub("a")])]}, indent=4)
    PlanStore(plan).update({"a": "failed"})
    assert plan.read_text() == json.dumps({"phases": [phase("p1", [sub("a", status="failed")])],
                                           "status": "in_progress", "planStatus": "in_progress"}, indent=4) + "\n"


def test_concurrent_writers_in_separate_processes_never_lose_an_update(tmp_path: Path):
    writers, per_writer = 4, 25
    document = {"phases": [phase(f"p{w}", [sub(f"s{w}-{i}") for i in range(per_writer)]) for w in range(writers)]}
    plan = write_plan(tmp_path / "plan.json", document)
    script = ("import sys\nfrom parallel_execution.plans.store import PlanStore\nstore = PlanStore(sys.argv[1])\n"
              f"for i in range({per_writer}):\n    store.update({{f's{{sys.argv[2]}}-{{i}}': 'completed'}})\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(plan), str(w)], env=runner_env())
             for w in range(writers)]
    assert [p.wait(60) for p in procs] == [0] * writers
    assert set(statuses(plan).values()) == {"completed"}  # 100 read-modify-writes, none lost


# -- running plans through the CLI -----------------------------------------------------------------

def test_example_plan_runs_in_dependency_order_then_resumes_with_nothing_to_do(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]):
    plan = tmp_path / "implementation_plan.json"
    shutil.copy(EXAMPLE_PLAN, plan)
    original = plan.read_text()
    code, result, _ = run_plan(capsys, plan, "--allow-commands")
    assert code == 0 and result["status"] == "success", result
    by_id = {r["task_id"]: r for r in result["results"]}
    assert list(by_id) == ["db-1", "db-2", "svc-1", "svc-2", "svc-3", "verify-python", "verify-summary"]
    assert by_id["db-2"]["started_ms"] >= by_id["db-1"]["finished_ms"]  # sequential phase
    for svc in ("svc-1", "svc-2", "svc-3"):
        assert by_id[svc]["started_ms"] >= by_id["db-2"]["finished_ms"]
        assert by_id[svc]["started_ms"] < by_id["svc-1"]["finished_ms"]  # parallel_safe: they overlap
    assert by_id["verify-python"]["started_ms"] >= max(by_id[s]["finished_ms"] for s in ("svc-1", "svc-2", "svc-3"))
    assert by_id["verify-python"]["output"]["stdout_tail"] == "True"
    assert set(statuses(plan).values()) == {"completed"}
    assert without_plan_status(plan.read_text()).replace('"status": "completed"', '"status": "pending"') == original
    assert not plan.with_name(plan.name + ".claims.json").exists()

    code, again, _ = run_plan(capsys, plan, "--allow-commands")
    assert code == 0 and again["results"] == [] and again["summary"]["total_tasks"] == 0
    assert without_plan_status(plan.read_text()).replace('"status": "completed"', '"status": "pending"') == original


def test_in_progress_is_written_before_the_subtask_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    reader = ("import json; d = json.load(open('plan.json')); "
              "print([s['status'] for p in d['phases'] for s in p['subtasks']])")
    plan = write_plan(tmp_path / "plan.json", {"phases": [phase("p1", [
        {"id": "look", "status": "pending", "agent": "command", "input_data": {"argv": [sys.executable, "-c", reader]}},
        sub("later"),
    ], parallel=False)]})
    code, result, _ = run_plan(capsys, plan, "--allow-commands")
    assert code == 0
    assert result["results"][0]["output"]["stdout_tail"] == "['in_progress', 'pending']"


def test_failure_is_written_back_and_retry_failed_resumes_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    check = {"id": "check", "status": "pending", "agent": "command",
             "input_data": {"argv": [sys.executable, "-c", "import os, sys; sys.exit(0 if os.path.exists('fixed') else 3)"]}}
    plan = write_plan(tmp_path / "plan.json", {"phases": [
        phase("build", [sub("compile"), check, sub("package")], parallel=False),
        phase("ship", [sub("deploy")], depends_on=["build"]),
    ]})
    code, result, _ = run_plan(capsys, plan, "--allow-commands")
    assert code == 1
    assert {r["task_id"]: r["status"] for r in result["results"]} == {
        "compile": "success", "check": "error", "package": "skipped", "deploy": "skipped"}
    assert statuses(plan) == {"compile": "completed", "check": "failed", "package": "pending", "deploy": "pending"}
    words = shlex.split(result["resume"]["command"])  # the ready command that continues the plan
    assert words[:4] == ["dispatch-runner", "plan", str(plan), "--retry-failed"] and "--allow-commands" in words

    code, result, err = run_plan(capsys, plan, "--allow-commands")  # without --retry-failed: nothing can run
    assert code == 1 and result["results"] == []
    assert "plan has failed subtasks: check (fix the cause, then rerun with --retry-failed)" in err

    (tmp_path / "fixed").touch()
    code, result, _ = run_plan(capsys, plan, *words[3:])
    assert code == 0 and [r["task_id"] for r in result["results"]] == ["check", "package", "deploy"]
    assert set(statuses(plan).values()) == {"completed"}


def test_dry_run_reports_decisions_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plan = write_plan(tmp_path / "plan.json", {"phases": [phase("p1", [sub("a", status="completed"), sub("b")])]})
    before = plan.read_bytes()
    code, out, _ = run_plan(capsys, plan, "--dry-run")
    assert code == 0 and out["status"] == "valid" and out["plan"]["total_tasks"] == 1
    assert [(d["subtask_id"], d["action"]) for d in out["subtasks"]] == [("a", "done"), ("b", "run")]
    assert plan.read_bytes() == before and not (tmp_path / "traces").exists()
    assert not plan.with_name(plan.name + ".claims.json").exists()


@pytest.mark.parametrize(("document", "args", "message"), [
    ({"phases": [phase("p1", [sub("a")], depends_on=["nope"])]}, [], "'p1' depends on unknown phase 'nope'"),
    ({"phases": [phase("p1", [{"id": "a", "agent": "command", "input_data": {"argv": ["true"]}}])]}, [],
     "the 'command' agent runs programs; start the runner with --allow-commands"),
    ({"phases": [phase("p1", [{"id": "a", "agent": "echo", "input_data": {"mesage": 1}}])]}, [],
     "unknown field 'mesage' (did you mean 'message'?)"),
])
def test_invalid_plans_exit_2_with_the_structured_error(document: dict[str, Any], args: list[str], message: str,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plan = write_plan(tmp_path / "plan.json", document)
    before = plan.read_bytes()
    code, out, _ = run_plan(capsys, plan, *args)
    assert code == 2 and out["status"] == "invalid"
    assert any(message in e["message"] for e in out["errors"]), out
    assert plan.read_bytes() == before


def test_live_claims_are_respected_and_dead_ones_reclaimed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plan = write_plan(tmp_path / "plan.json", {"phases": [phase("p1", [sub("mine"), sub("theirs", status="in_progress"),
                                                                        sub("crashed", status="in_progress")])]})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claims = {"mine": {"pid": os.getppid(), "host": HERE, "dispatch_id": "live"},  # a live process here
              "theirs": {"pid": 1, "host": "elsewhere.example", "dispatch_id": "remote"},
              "crashed": {"pid": dead.pid, "host": HERE, "dispatch_id": "gone"}}
    plan.with_name(plan.name + ".claims.json").write_text(json.dumps({"claims": claims}))
    code, result, _ = run_plan(capsys, plan)
    assert code == 0 and [r["task_id"] for r in result["results"]] == ["crashed"]
    code, result, _ = run_plan(capsys, plan, "--reclaim")  # takes the other host's claim, never a live local one
    assert [r["task_id"] for r in result["results"]] == ["theirs"]
    assert statuses(plan) == {"mine": "pending", "theirs": "completed", "crashed": "completed"}
    remaining = json.loads(plan.with_name(plan.name + ".claims.json").read_text())["claims"]
    assert list(remaining) == ["mine"]  # other runs' live claims are never dropped


# -- real processes ------------------------------------------------------------------------------------

def start_runner(plan: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*RUNNER, "plan", str(plan), "--quiet", "--trace-dir", str(plan.parent / "traces"),
                             "--workspace", str(plan.parent), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=runner_env())


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, dict[str, Any]]:
    out, err = proc.communicate(timeout=60)
    assert out, err.decode()
    return proc.returncode, orjson.loads(out)


def wait_for(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_two_runners_on_one_plan_share_it_without_running_anything_twice(tmp_path: Path):
    document = {"phases": [phase("left", [sub(f"l{i}", delay=0.25) for i in range(12)]),
                           phase("right", [sub(f"r{i}", delay=0.25) for i in range(12)]),
                           phase("join", [sub("j0"), sub("j1")], parallel=False, depends_on=["left", "right"])]}
    plan = write_plan(tmp_path / "plan.json", document)
    original = plan.read_text()
    # Each runner owns a phase, so both write the file at the same time; then one runs the join phase.
    first, second = start_runner(plan, "--phase", "left", "--max-workers", "3"), start_runner(
        plan, "--phase", "right", "--max-workers", "3")
    (code1, result1), (code2, result2) = finish(first), finish(second)
    assert (code1, code2) == (0, 0)
    index1, index2 = (orjson.loads(Path(r["trace_index"]).read_bytes()) for r in (result1, result2))
    assert index1["started_at"] < index2["finished_at"] and index2["started_at"] < index1["finished_at"]  # overlapped
    assert statuses(plan) == {**{f"l{i}": "completed" for i in range(12)}, **{f"r{i}": "completed" for i in range(12)},
                              "j0": "pending", "j1": "pending"}
    # Two more runners on the whole plan: the join phase runs exactly once.
    third, fourth = start_runner(plan), start_runner(plan)
    ran = [r["task_id"] for _, result in (finish(third), finish(fourth)) for r in result["results"]]
    assert sorted(ran) == ["j0", "j1"]
    assert without_plan_status(plan.read_text()).replace('"status": "completed"', '"status": "pending"') == original
    assert not plan.with_name(plan.name + ".claims.json").exists()


@pytest.mark.parametrize(("signum", "expected_code", "expected_status"), [
    (signal.SIGINT, 130, "pending"),  # interrupted: back to pending, claim released
    (signal.SIGKILL, -9, "in_progress"),  # crashed: stays in_progress, its claim goes stale
])
def test_interrupted_and_crashed_runners_leave_a_resumable_plan(signum: int, expected_code: int, expected_status: str,
                                                                 tmp_path: Path):
    (tmp_path / "wait.py").write_text(WAITER)
    plan = write_plan(tmp_path / "plan.json", {"phases": [phase("p1", [
        {"id": "slow", "status": "pending", "agent": "command", "input_data": {"argv": [sys.executable, "wait.py"]}},
    ])]})
    claims = plan.with_name(plan.name + ".claims.json")
    proc = start_runner(plan, "--allow-commands")
    wait_for(lambda: statuses(plan)["slow"] == "in_progress")
    time.sleep(0.2)  # let the command start
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert proc.returncode == expected_code
    assert statuses(plan) == {"slow": expected_status}
    assert claims.exists() == (signum == signal.SIGKILL)

    (tmp_path / "go").touch()
    code, result = finish(start_runner(plan, "--allow-commands"))  # resumes without --reclaim
    assert code == 0 and [r["task_id"] for r in result["results"]] == ["slow"]
    assert statuses(plan) == {"slow": "completed"} and not claims.exists()


def test_a_misspelt_field_of_ours_is_an_input_error_other_fields_are_kept():
    text = json.dumps({"phases": [{"id": "p", "subtasks": [
        {"id": "s1", "description": "d", "status": "pending", "agnet": "echo", "input_data": {"message": 1},
         "verification": {"type": "command"}}]}]})
    with pytest.raises(InvalidInput, match=r"^task 's1'.phases\[0\].subtasks\[0\].agnet: subtask 's1' has unknown "
                                           r"field 'agnet': did you mean 'agent'\?$"):
        parse_plan(text)


def test_a_scaffold_skeleton_is_blocked_never_completed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    skeleton = {"id": "gen", "status": "pending", "agent": "coder", "input_data": {
        "contract_description": "Compute node that totals an order", "node_type": "Compute",
        "node_name": "order_total", "output_path": "node_order_total_compute.py"}}
    plan = write_plan(tmp_path / "plan.json", {"phases": [phase("p1", [skeleton, sub("echo")])]})
    code, result, _ = run_plan(capsys, plan, "--workspace", str(tmp_path))
    assert code == 0 and {r["task_id"]: r["status"] for r in result["results"]} == {"gen": "success", "echo": "success"}
    assert statuses(plan) == {"gen": "blocked", "echo": "completed"}
