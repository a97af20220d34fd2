"""The Dask executor on a real LocalCluster (2 worker processes, started once for the module)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from conftest import RUNNER, config, runner_env  # noqa: E402

from parallel_execution.agents.base import Agent, AgentInput, TaskContext  # noqa: E402
from parallel_execution.agents.registry import register_agent  # noqa: E402
from parallel_execution.dispatcher import DispatchRun, coerce_input, dispatch  # noqa: E402
from parallel_execution.errors import InvalidInput  # noqa: E402
from parallel_execution.executors import executor_override  # noqa: E402
from parallel_execution.inputs.validate import build_plan  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Any:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                  dashboard_address=None, scheduler_port=0) as local:
        yield local


def dask_config(trace_dir: Path, workspace: Path, cluster: Any, **extra: Any) -> dict[str, Any]:
    executor = {"kind": "dask", "address": cluster.scheduler_address, "stop_timeout_seconds": 20}
    return config(trace_dir, workspace, executor=executor, retry_backoff_seconds=0, **extra)


def sh(task_id: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "agent": "command", "input_data": {"argv": ["sh", "-c", script]}, **extra}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(path: Path, seconds: float = 60.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def worker_pids(result_trace: Path) -> set[int]:
    records = json.loads(result_trace.read_text())
    events = [e for a in records["attempts"] for e in a["events"] if e["event"] == "ran_on_worker"]
    return {e["pid"] for e in events}


class SpendInput(AgentInput):
    usd: float = 1.0


@register_agent
class SpendAgent(Agent[SpendInput]):
    """A model-like agent: reports a cost and says where it ran."""

    name = "spend-on-worker"
    Input = SpendInput
    uses_model = True

    async def run(self, data: SpendInput, ctx: TaskContext) -> dict[str, Any]:
        ctx.record_cost(data.usd)
        return {"pid": os.getpid()}


DAG = [
    sh("a", "echo alpha"),
    sh("b", "echo beta"),
    {"task_id": "c", "agent": "command", "dependencies": ["a", "b"],
     "input_data": {"argv": ["sh", "-c", 'echo "$0+$1"', {"$from": "a", "select": ".stdout_tail"},
                             {"$from": "b", "select": ".stdout_tail"}]}},
    sh("d", "exit 3", retries=1),
    sh("e", "echo never", dependencies=["d"]),
]


def test_dag_of_commands_gives_the_same_result_as_local(cluster: Any, tmp_path: Path, workspace: Path) -> None:
    local = dispatch({"tasks": DAG, "config": config(tmp_path / "local", workspace, retry_backoff_seconds=0)},
                     allow_commands=True)
    remote = dispatch({"tasks": DAG, "config": dask_config(tmp_path / "remote", workspace, cluster)},
                      allow_commands=True)

    def essence(result: Any) -> list[tuple[Any, ...]]:
        return [(r.task_id, r.status, r.attempts, r.error, (r.output or {}).get("stdout_tail"),
                 (r.output or {}).get("exit_code")) for r in result.results]

    assert essence(remote) == essence(local)
    assert essence(remote)[2][4] == "alpha+beta"
    ran_on = worker_pids(Path(remote.results[0].trace_file))
    assert ran_on and os.getpid() not in ran_on  # really on a worker process
    assert Path(remote.results[0].output["stdout_file"]).read_text() == "alpha\n"  # logs in the shared trace folder


@pytest.mark.parametrize("how", ["timeout", "ctrl-c"])
def test_timeout_and_ctrl_c_leave_no_process_on_the_workers(
        how: str, cluster: Any, tmp_path: Path, workspace: Path) -> None:
    script = f"sleep 120 & echo $! > {tmp_path}/bg; echo $$ > {tmp_path}/fg; wait"
    task = sh("hang", script, timeout_seconds=1.5 if how == "timeout" else 120)
    task["input_data"]["kill_grace_seconds"] = 0.5
    plan = build_plan(coerce_input({"tasks": [task], "config": dask_config(tmp_path / "t", workspace, cluster)}),
                      allow_commands=True)
    run = DispatchRun(plan)

    stopped_at: list[float] = []

    async def go() -> Any:
        running = asyncio.create_task(run.run())
        await asyncio.to_thread(wait_for, tmp_path / "fg")
        stopped_at.append(time.monotonic())
        if how == "ctrl-c":
            run.stop("interrupted by SIGINT")  # what the CLI's signal handler does
        return await running

    result = asyncio.run(go())
    pids = [int(wait_for(tmp_path / name)) for name in ("fg", "bg")]
    assert result.results[0].status == ("timeout" if how == "timeout" else "cancelled")
    assert [p for p in pids if alive(p)] == []  # dead before the result was returned
    assert time.monotonic() - stopped_at[0] < 9.0  # by our cancel, not the worker's deadline (+10 s)


def test_budget_stops_new_submissions(cluster: Any, tmp_path: Path, workspace: Path) -> None:
    tasks = [{"task_id": f"s{i}", "agent": "spend-on-worker", "input_data": {"usd": 1.0}} for i in range(4)]
    result = dispatch({"tasks": tasks, "config": dask_config(tmp_path / "b", workspace, cluster,
                                                             max_workers=1, budget_usd=1.5)})
    statuses = [r.status for r in result.results]
    assert statuses == ["success", "success", "skipped", "skipped"]
    assert "budget_exhausted" in (result.results[2].error or "")
    assert result.summary.total_cost_usd == pytest.approx(2.0)
    assert result.results[0].output["pid"] != os.getpid()


def test_probe_rejects_a_worker_that_cannot_see_the_workspace(
        cluster: Any, tmp_path: Path, workspace: Path) -> None:
    client = distributed.Client(cluster)
    victim = sorted(client.scheduler_info()["workers"])[0]

    class OtherFilesystem(distributed.WorkerPlugin):
        """This worker sees another tree at the same paths (as a worker without the shared mount)."""

        def __init__(self, address: str) -> None:
            self.address = address

        def setup(self, worker: Any) -> None:
            from parallel_execution.executors import remote

            if worker.address == self.address:
                self.original = remote._read_marker
                remote._read_marker = lambda path: self.original("/nonexistent-mount" + path)

        def teardown(self, worker: Any) -> None:
            from parallel_execution.executors import remote

            if worker.address == self.address:
                remote._read_marker = self.original

    client.register_plugin(OtherFilesystem(victim), name="other-filesystem")
    try:
        with pytest.raises(InvalidInput, match=r"worker .* cannot see the workspace: cannot read .*"
                                                r"same path") as caught:
            dispatch({"tasks": [sh("x", "touch ran")], "config": dask_config(tmp_path / "p", workspace, cluster)},
                     allow_commands=True)
    finally:
        client.unregister_worker_plugin("other-filesystem")
        client.close()
    message = str(caught.value)
    assert victim in message and message.count("cannot see the workspace") == 1
    assert not (tmp_path / "p").exists() and not (workspace / "ran").exists()  # nothing ran, nothing written
    assert list(workspace.iterdir()) == []  # the marker is gone


def test_no_address_starts_a_local_cluster_and_claude_runs_there(
        tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_claude.harness import calls, use_fake

    state = use_fake(monkeypatch, tmp_path / "state", cost="0.25")  # the LocalCluster's workers inherit it
    tasks = [{"task_id": f"ask{i}", "agent": "claude", "input_data": {"prompt": f"Task {i}"}} for i in range(2)]
    executor = {"kind": "dask", "n_workers": 1, "threads_per_worker": 2}
    result = dispatch({"tasks": tasks, "config": config(tmp_path / "traces", workspace, executor=executor)})
    assert [r.status for r in result.results] == ["success", "success"], [r.error for r in result.results]
    assert result.summary.total_cost_usd == pytest.approx(0.5)  # the worker's cost, in the driver's ledger
    [worker] = worker_pids(Path(result.results[0].trace_file))
    assert worker != os.getpid() and len(calls(state)) == 2
    assert not alive(worker)  # the cluster it started is gone with the run


def test_resources_no_worker_offers_are_refused(cluster: Any, tmp_path: Path, workspace: Path) -> None:
    tasks = [sh("gpu-job", "true", resources={"gpu": 1})]
    with pytest.raises(InvalidInput, match=r"task 'gpu-job'.resources: no worker of the cluster offers \{'gpu': 1"):
        dispatch({"tasks": tasks, "config": dask_config(tmp_path / "r", workspace, cluster)}, allow_commands=True)


def test_unreachable_scheduler_is_an_input_error_before_anything_runs(tmp_path: Path) -> None:
    executor = {"kind": "dask", "address": "tcp://127.0.0.1:9", "connect_timeout_seconds": 1}
    with pytest.raises(InvalidInput, match=r"config.executor: cannot use the Dask cluster at tcp://127.0.0.1:9: "):
        dispatch({"tasks": [sh("x", "true")], "config": config(tmp_path / "tr", executor=executor)},
                 allow_commands=True)
    assert not (tmp_path / "tr").exists()


@pytest.mark.parametrize(("kind", "address", "current", "expected"), [
    (None, None, {"kind": "dask", "address": "tcp://a:1"}, None),
    (None, "tcp://b:2", None, {"kind": "dask", "address": "tcp://b:2"}),
    ("dask", None, {"kind": "dask", "address": "tcp://a:1", "n_workers": 2},
     {"kind": "dask", "address": "tcp://a:1", "n_workers": 2}),
    ("local", None, {"kind": "dask", "address": "tcp://a:1"}, {"kind": "local"}),
])
def test_cli_flags_override_config_executor(kind: str | None, address: str | None,
                                            current: dict[str, Any] | None, expected: Any) -> None:
    assert executor_override(kind, address, current) == expected


def test_driver_sigkill_stops_its_remote_task_and_resume_loses_no_finished_task(
        cluster: Any, tmp_path: Path, workspace: Path) -> None:
    runs = tmp_path / "runs"
    second = tmp_path / "second-run"
    tasks = [sh("a", f"echo a >> {runs}; echo first"),
             sh("b", f"echo b >> {runs}; if [ -e {second} ]; then echo ok; else echo $$ > {tmp_path}/pid; "
                     "exec sleep 120; fi", dependencies=["a"])]
    doc = {"tasks": tasks, "config": config(tmp_path / "traces", workspace)}
    (tmp_path / "t.json").write_text(json.dumps(doc))
    driver = subprocess.Popen([*RUNNER, "--allow-commands", "--quiet", "--scheduler", cluster.scheduler_address,
                               str(tmp_path / "t.json")],
                              env=runner_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = int(wait_for(tmp_path / "pid"))
    driver.kill()  # SIGKILL: no cleanup in the driver at all
    driver.wait()
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:  # the scheduler releases the driver's keys;
        time.sleep(0.1)                                 # the worker sees it and kills the attempt
    assert not alive(pid)
    second.touch()
    resumed = subprocess.run([*RUNNER, "resume", "latest", "--allow-commands", "--quiet", "--scheduler",
                              cluster.scheduler_address, "--trace-dir", str(tmp_path / "traces")],
                             capture_output=True, text=True, env=runner_env(), timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["resume"]["reused"] == ["a"]
    assert [r["output"]["stdout_tail"] for r in result["results"]] == ["first", "ok"]
    assert runs.read_text().split() == ["a", "b", "b"]  # a ran once: its success was not lost
    assert worker_pids(Path(result["results"][1]["trace_file"]))  # b ran on a worker again


def test_worker_killed_mid_task_is_a_task_failure_never_a_silent_rerun(
        cluster: Any, tmp_path: Path, workspace: Path) -> None:
    # Last in the module: the killed worker's nanny restarts it afterwards.
    runs = tmp_path / "runs"
    script = f"echo started >> {runs}; echo $PPID > {tmp_path}/worker; echo $$ > {tmp_path}/fg; exec sleep 120"
    plan = build_plan(coerce_input({"tasks": [sh("victim", script)],
                                    "config": dask_config(tmp_path / "k", workspace, cluster)}), allow_commands=True)

    async def go() -> Any:
        running = asyncio.create_task(DispatchRun(plan).run())
        worker = int(await asyncio.to_thread(wait_for, tmp_path / "worker"))
        os.kill(worker, signal.SIGKILL)
        return await running

    try:
        result = asyncio.run(go())
    finally:
        fg = tmp_path / "fg"
        if fg.exists():  # a SIGKILLed worker cannot kill its programs (nor can a SIGKILLed local runner)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(fg.read_text()), signal.SIGKILL)
    outcome = result.results[0]
    assert outcome.status == "error" and outcome.attempts == 1
    assert "the worker running this attempt died" in (outcome.error or "")
    time.sleep(1.0)  # a silent rerun would have started by now
    assert runs.read_text().splitlines() == ["started"]


def test_isolated_tasks_run_in_their_worktrees_on_the_workers_and_merge(cluster: Any, tmp_path: Path) -> None:
    # Worktrees are made and merged by the driver; the task itself runs on a worker, inside its tree.
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    (repo / "base.txt").write_text("base\n")
    git("add", ".")
    git("-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "init")
    tasks = [{"task_id": name, "agent": "command", "isolation": "worktree",
              "input_data": {"argv": ["sh", "-c", f'echo {name} > {name}.txt; pwd']}} for name in ("a", "b")]
    cfg = dask_config(tmp_path / "traces", repo, cluster, isolation={})
    result = dispatch({"tasks": tasks, "config": cfg}, allow_commands=True)
    assert result.status == "success", [r.error for r in result.results]
    for r in result.results:
        ran_in = r.output["stdout_tail"].strip()
        assert ran_in != str(repo) and Path(ran_in).name == Path(r.isolation["worktree"]).name  # its own tree
        assert r.isolation["merge"] == "merged" and r.isolation["worktree_removed"]
        assert worker_pids(Path(r.trace_file)) - {os.getpid()}  # on a worker, not in the driver
    assert sorted(git("ls-tree", "--name-only", result.isolation["tip"]).split()) == ["a.txt", "b.txt", "base.txt"]
    assert git("status", "--porcelain") == "" and not (repo / "a.txt").exists()  # the user's tree untouched
