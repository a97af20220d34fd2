"""Large dispatches write task trace files in a worker process (traces.file_sink / file_worker)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RUNNER, runner_env

from parallel_execution.dispatcher import dispatch
from parallel_execution.traces import writer as trace_writer
from parallel_execution.traces.file_sink import ProcessFileSink
from parallel_execution.traces.writer import _DurableWriter


def chain(n: int) -> list[dict]:
    return [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": i},
             "dependencies": [f"t{i - 1}"] if i else []} for i in range(n)]


def test_a_large_dispatch_gets_every_trace_file_from_the_worker(tmp_path: Path, monkeypatch) -> None:
    started = []
    real_start = ProcessFileSink.start
    monkeypatch.setattr(trace_writer, "FILES_IN_PROCESS_FROM", 50)
    monkeypatch.setattr(ProcessFileSink, "start",
                        classmethod(lambda cls, on_error: started.append(1) or real_start(on_error)))
    result = dispatch({"tasks": chain(120), "config": {"trace_dir": str(tmp_path), "max_workers": 4}})
    assert started == [1] and result.status == "success" and result.trace_errors == []
    for r in result.results:
        assert json.loads(Path(r.trace_file).read_bytes())["output"] == {"message": int(r.task_id[1:])}
    index = json.loads(Path(result.trace_index).read_bytes())
    assert all(t["trace_file"] for t in index["tasks"])


def test_a_small_dispatch_starts_no_worker(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ProcessFileSink, "start", classmethod(lambda cls, on_error: pytest.fail("started")))
    assert dispatch({"tasks": chain(3), "config": {"trace_dir": str(tmp_path)}}).status == "success"


def run_writer(writer: _DurableWriter, tmp_path: Path, names: list[str], between=None) -> list[bool]:
    """Submit a file per name (a drain after each half), return which exist after the last drain."""
    marks: dict[str, bool] = {}

    async def main() -> None:
        half = len(names) // 2
        for i, name in enumerate(names):
            if i == half:
                await writer.drain()
                if between:
                    between()
            writer.submit(str(tmp_path / name), b"{}\n", b"{}\n", lambda name=name: marks.__setitem__(name, True))
        await asyncio.wait_for(writer.drain(), 30)

    asyncio.run(main())
    writer.close()
    return [marks.get(name, False) for name in names]


def test_a_file_the_worker_cannot_write_is_an_error_and_not_marked_written(tmp_path: Path) -> None:
    errors: list[str] = []
    writer = _DurableWriter(tmp_path / "journal.jsonl", errors.append, files_in_process=True)
    assert writer._sink is not None
    marks = run_writer(writer, tmp_path, ["a.json", "missing/b.json", "c.json", "d.json"])
    assert marks == [True, False, True, True]
    assert len(errors) == 1 and "missing/b.json" in errors[0] and "No such file" in errors[0]


def test_a_killed_worker_costs_only_its_unconfirmed_files_and_never_hangs(tmp_path: Path) -> None:
    errors: list[str] = []
    writer = _DurableWriter(tmp_path / "journal.jsonl", errors.append, files_in_process=True)
    worker = writer._sink._process  # type: ignore[union-attr]
    names = [f"t{i}.json" for i in range(40)]
    marks = run_writer(writer, tmp_path, names, between=lambda: (worker.kill(), worker.wait()))
    assert all(marks[:20])  # confirmed before the kill
    for name, marked in zip(names[20:], marks[20:], strict=True):  # the rest: written here, or reported
        assert marked == (tmp_path / name).exists()
        assert marked or any(name in e and "writer process ended" in e for e in errors)
    assert (tmp_path / "journal.jsonl").read_bytes().count(b"\n") == 40


def test_the_worker_is_out_of_reach_of_a_terminal_ctrl_c(tmp_path: Path) -> None:
    writer = _DurableWriter(tmp_path / "journal.jsonl", lambda m: None, files_in_process=True)
    try:
        pid = writer._sink._process.pid  # type: ignore[union-attr]
        assert os.getsid(pid) == pid != os.getsid(0)  # its own session: not in the terminal's group
    finally:
        writer.close()


def test_ctrl_c_on_a_large_run_still_leaves_a_trace_file_for_every_journal_line(tmp_path: Path) -> None:
    tasks = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": i, "delay_seconds": 0.01}}
             for i in range(trace_writer.FILES_IN_PROCESS_FROM + 2000)]
    (tmp_path / "tasks.json").write_text(json.dumps({"tasks": tasks, "config": {"max_workers": 4}}))
    proc = subprocess.Popen([*RUNNER, "tasks.json"], cwd=tmp_path, env=runner_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(tmp_path.glob("traces/*/t*.json"))) < 100:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    result = json.loads(out)
    journal = next(tmp_path.glob("traces/*/journal.jsonl")).read_bytes().splitlines()
    statuses = {json.loads(line)["task_id"]: json.loads(line)["status"] for line in journal}
    assert 100 <= list(statuses.values()).count("success") < len(tasks)
    by_id = {r["task_id"]: r for r in result["results"]}
    for task_id, status in statuses.items():
        trace = json.loads((tmp_path / by_id[task_id]["trace_file"]).read_bytes())
        assert (trace["task_id"], trace["status"]) == (task_id, status)


def test_a_full_disk_is_reported_per_file_and_the_run_goes_on(tiny_disk: Path, monkeypatch) -> None:
    monkeypatch.setattr(trace_writer, "FILES_IN_PROCESS_FROM", 50)
    tasks = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": "x" * 2000}} for i in range(200)]
    result = dispatch({"tasks": tasks, "config": {"trace_dir": str(tiny_disk)}})
    assert result.status == "success" and len(result.results) == 200
    failed = [r for r in result.results if r.trace_file is None]
    assert failed and all(any(r.task_id in e and "No space left" in e for e in result.trace_errors) for r in failed)
    for r in result.results:
        if r.trace_file is not None:  # named only when complete
            assert json.loads(Path(r.trace_file).read_bytes())["task_id"] == r.task_id


def test_without_an_interpreter_to_start_the_files_are_written_in_the_thread(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # a bundled app: sys.executable is not Python
    writer = _DurableWriter(tmp_path / "journal.jsonl", lambda m: None, files_in_process=True)
    assert writer._sink is None
    assert run_writer(writer, tmp_path, ["a.json", "b.json"]) == [True, True]


def test_a_failure_inside_the_feeder_is_reported_and_the_drain_still_resolves(tmp_path: Path) -> None:
    errors: list[str] = []
    writer = _DurableWriter(tmp_path / "journal.jsonl", errors.append, files_in_process=True)

    def broken() -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        writer.submit(str(tmp_path / "a.json"), b"{}\n", b"{}\n", broken)
        await asyncio.wait_for(writer.drain(), 30)
        writer.submit(str(tmp_path / "b.json"), b"{}\n", b"{}\n", lambda: None)  # written here from now on
        await asyncio.wait_for(writer.drain(), 30)

    asyncio.run(main())
    writer.close()
    assert any("boom" in e for e in errors) and (tmp_path / "b.json").read_bytes() == b"{}\n"
