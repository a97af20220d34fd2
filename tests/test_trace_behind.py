"""Trace files are written behind the journal, and are complete when the result is built."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from parallel_execution.dispatcher import dispatch
from parallel_execution.traces.file_worker import write_file
from parallel_execution.traces.writer import _DurableWriter


def test_every_trace_file_is_complete_when_the_result_is_built(tmp_path: Path) -> None:
    tasks = [{"task_id": f"t{i}", "agent": "echo", "input_data": {"message": i},
              "dependencies": [f"t{i - 1}"] if i else []} for i in range(200)]
    result = dispatch({"tasks": tasks, "config": {"trace_dir": str(tmp_path), "max_workers": 4}})
    assert result.status == "success"
    for r in result.results:
        assert r.trace_file is not None
        assert json.loads(Path(r.trace_file).read_bytes())["output"] == {"message": int(r.task_id[1:])}
    journal = (tmp_path / result.dispatch_id / "journal.jsonl").read_bytes().splitlines()
    assert len(journal) == 200
    assert not list((tmp_path / result.dispatch_id).glob(".*.tmp"))  # no temp files left behind


def test_barrier_resolves_on_the_journal_and_drain_on_the_files(tmp_path: Path) -> None:
    errors: list[str] = []
    writer = _DurableWriter(tmp_path / "journal.jsonl", errors.append)

    async def main() -> tuple[bool, bool]:
        for i in range(500):
            writer.submit(tmp_path / f"t{i}.json", b"{}\n", b'{"task_id": "t%d"}\n' % i, lambda: None)
        await writer.barrier()
        lines = (tmp_path / "journal.jsonl").read_bytes().count(b"\n")
        await writer.drain()
        return lines == 500, all((tmp_path / f"t{i}.json").exists() for i in range(500))

    journal_first, files_after_drain = asyncio.run(main())
    writer.close()
    assert journal_first and files_after_drain and not errors


def test_an_existing_name_is_replaced_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    planted = tmp_path / "t.json"
    os.symlink(outside, planted)
    write_file(planted, b"new")
    assert outside.read_text() == "keep"
    assert not planted.is_symlink() and planted.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "t.json"]  # no temp file left
