"""`dispatch-runner report`: markdown digest, self-contained HTML timeline, Chrome trace JSON."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import orjson
import pytest
from conftest import config
from helpers import cli_run as run_cli

from parallel_execution import dispatch
from parallel_execution.traces.store import DispatchRecord, load_dispatch
from parallel_execution.views.report import assign_lanes, chrome_trace, html_report, key_output, markdown_report

PROMPT = "Generate the users node, build it, and <script>alert(1)</script> check"
TASKS = [
    {"task_id": "gen", "agent": "echo", "description": "make <b>users</b>",
     "input_data": {"message": "users.py written", "delay_seconds": 0.15}},
    {"task_id": "flaky", "agent": "echo", "input_data": {"fail_on_attempts": [1], "delay_seconds": 0.05}, "retries": 1},
    {"task_id": "build", "agent": "command", "dependencies": ["gen"],
     "input_data": {"argv": [sys.executable, "-c", "import sys; print('compiling'); sys.exit('boom: missing import')"]}},
    {"task_id": "after", "agent": "echo", "dependencies": ["build"]},
    {"task_id": "docs", "agent": "echo", "input_data": {"message": "x" * 300, "delay_seconds": 0.1}},
]


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> DispatchRecord:
    trace_dir = tmp_path_factory.mktemp("report") / "traces"
    body = {"tasks": TASKS, "config": config(trace_dir, retry_backoff_seconds=0.01, max_workers=2), "user_prompt": PROMPT}
    result = dispatch(body, allow_commands=True)
    return load_dispatch(result.dispatch_id, trace_dir)


@pytest.mark.parametrize(
    ("agent", "output", "expected"),
    [
        ("coder", {"generated_file": "out/a.py", "validation_passed": True, "implementation": "template"},
         "out/a.py, valid, implementation: template"),
        ("coder", {"generated_file": "out/a.py", "validation_passed": False}, "out/a.py, NOT valid"),
        ("coder", {"generated_file": "n/node_a_effect", "validation_passed": True, "skeleton": True, "todo": ["x", "y"],
                   "implementation": "scaffold"},
         "SKELETON (2 contract line(s) left), n/node_a_effect, valid, implementation: scaffold"),
        ("coder", {"generated_file": "n.py", "validation_passed": True, "skeleton": False, "todo": [],
                   "implementation": "scaffold"}, "n.py, valid, implementation: scaffold"),
        ("debug", {"root_cause": {"file": "src/auth.py", "line": 12, "summary": "undefined name 'tok'"}, "findings": []},
         "src/auth.py:12 undefined name 'tok'"),
        ("debug", {"root_cause": {"file": None, "line": None, "summary": "no evidence"}}, "no location no evidence"),
        ("command", {"exit_code": 3, "stderr_tail": "warning\nboom", "stdout_tail": "ok"}, "exit 3, boom"),
        ("command", {"exit_code": 1, "stderr_tail": "  File \"t.py\", line 1\n    x(\n     ^\nSyntaxError: '(' was never closed\n"
                     "    ^^^^^^^^\n\n", "stdout_tail": ""}, "exit 1, SyntaxError: '(' was never closed"),
        ("command", {"exit_code": 0, "stderr_tail": "warn", "stdout_tail": "==== 3 passed in 0.1s ====\n"},
         "exit 0, ==== 3 passed in 0.1s ===="),
        ("coder", {"generated_file": "n.py", "validation_passed": True, "implementation": "scaffold", "todo": ["a", "b"]},
         "SKELETON (2 contract line(s) left), n.py, valid, implementation: scaffold"),  # a trace from before `skeleton`
        ("command", {"exit_code": 0, "stderr_tail": "", "stdout_tail": ""}, "exit 0"),
        ("claude", {"result": "r" * 100, "total_cost_usd": 0.0123, "session_id": "s"}, "r" * 59 + "…, $0.0123"),
        ("echo", {"message": "hi"}, "hi"),
        ("echo", {"message": {"n": 1}}, '{"n":1}'),
        ("echo", {"message": "m" * 200}, "m" * 89 + "…"),
        ("mystery", {"a": 1, "b": "two\nlines", "c": [1], "d": 4}, "a: 1, b: two lines, c: [1]"),
        ("mystery", [1, 2], "[1,2]"),
        ("echo", None, ""),
    ],
)
def test_key_output_picks_what_matters_per_agent(agent, output, expected):
    assert key_output(agent, output) == expected


def _record(spans: list[tuple[str, float | None, float | None]]) -> DispatchRecord:
    tasks = [{"task_id": t, "status": "success" if s is not None else "skipped", "started_ms": s, "finished_ms": f}
             for t, s, f in spans]
    return DispatchRecord(Path("/nonexistent/dispatch-x.json"), {"dispatch_id": "x", "tasks": tasks})


@pytest.mark.parametrize(
    ("spans", "lanes"),
    [
        ([("a", 0, 10), ("b", 10, 20)], {"a": 0, "b": 0}),  # back to back: one slot
        ([("a", 0, 10), ("b", 5, 20)], {"a": 0, "b": 1}),
        # by start (then end); the lowest free slot wins; a task that never started has no slot
        ([("a", 0, 10), ("b", 0, 5), ("c", 6, 8), ("d", 9, 12), ("e", 11, 12), ("s", None, None)],
         {"b": 0, "a": 1, "c": 0, "d": 0, "e": 1}),
    ],
)
def test_assign_lanes_is_greedy_lowest_free_slot(spans, lanes):
    assert assign_lanes(_record(spans)) == lanes


def test_lanes_of_a_real_run_never_overlap_nor_exceed_max_workers(record):
    lanes = assign_lanes(record)
    assert set(lanes.values()) <= {0, 1} and set(lanes) == {"gen", "flaky", "build", "docs"}
    for lane in set(lanes.values()):
        spans = sorted((t["started_ms"], t["finished_ms"]) for t in record.tasks if lanes.get(t["task_id"]) == lane)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


def test_markdown_digest(record):
    text = markdown_report(record)
    assert text.startswith(f"# Dispatch `{record.dispatch_id}`: failure\n\n> Generate the users node")
    assert "- **Tasks:** 5: 3 succeeded, 1 failed, 1 skipped, 0 cancelled" in text
    assert re.search(r"- \*\*Time:\*\* \d+ ms wall for \d+ ms of task time: speedup x[\d.]+ on 2 workers", text)
    assert "- **Critical path:** gen → build (" in text and "- **Cost:** $0.0000" in text
    assert re.search(r"^\| gen \| echo \| ✅ success \| \d+ ms \| 1 \| users.py written \|$", text, re.M)
    assert re.search(r"^\| flaky \| echo \| ✅ success \| \d+ ms \| 2 \| null \|$", text, re.M)
    assert re.search(r"^\| build \| command \| ❌ error \| \d+ ms \| 1 \| python[\d.]* exited with code 1(: [^|]*)? \|$", text, re.M)
    assert "| after | echo | ⏭️ skipped | - | 0 | skipped: dependency 'build' ended error |" in text
    assert "| docs | echo | ✅ success |" in text and "x" * 89 + "…" in text and "x" * 91 not in text
    failures = text.split("## Failures", 1)[1]
    assert "### build (command): error" in failures and "```\nboom: missing import\n```" in failures
    assert "Output: exit 1, boom: missing import" in failures
    assert "Skipped because of it: after" in failures
    assert f"Trace: `{record.trace_path('build')}`" in failures
    assert "### after" not in failures and "### gen" not in failures


def test_markdown_keeps_failures_when_the_table_is_cut(trace_dir):
    tasks = [{"task_id": f"t{n:02d}", "agent": "echo"} for n in range(30)]
    tasks[17]["input_data"] = {"fail_on_attempts": [1]}
    record = load_dispatch(dispatch(tasks, config(trace_dir)).dispatch_id, trace_dir)
    text = markdown_report(record, max_rows=5)
    rows = [line for line in text.splitlines() if re.match(r"\| t\d\d ", line)]
    assert [r.split(" | ")[0] for r in rows] == ["| t00", "| t01", "| t02", "| t03", "| t17"]
    assert f"… 25 more tasks not listed: `dispatch-runner traces query {record.dispatch_id} " in text


def test_markdown_of_an_unfinished_dispatch_says_so(record, tmp_path):
    index = dict(record.index, status="running", summary=None,
                 tasks=[dict(t, status="pending") for t in record.index["tasks"]])
    folder = tmp_path / "t"
    shutil.copytree(record.task_dir, folder / record.dispatch_id)
    (folder / record.task_dir.name / "docs.json").unlink()  # docs never finished: no trace, no journal line
    journal = folder / record.task_dir.name / "journal.jsonl"
    journal.write_text("".join(line + "\n" for line in journal.read_text().splitlines()
                               if json.loads(line)["task_id"] != "docs"))
    (folder / record.index_path.name).write_text(json.dumps(index))
    text = markdown_report(load_dispatch("latest", folder))
    assert f"# Dispatch `{record.dispatch_id}`: running" in text
    assert "**Not finished:** 1 tasks have no result (still running, or the run was killed)." in text
    assert "| docs | echo | ⏳ pending |" in text


def _attempts(record):
    return [(t["task_id"], a) for t in record.tasks for a in (record.task_trace(t["task_id"]) or {}).get("attempts", [])]


def test_html_is_self_contained_with_a_bar_per_attempt(record):
    page = html_report(record)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"https?:|//cdn|<link|\b(src|href)=|@import|url\(", page)  # nothing fetched
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'title="make &lt;b&gt;users&lt;/b&gt;"' in page
    bars = re.findall(r'<div class="bar( crit)?" title="([^"]*)"', page)
    assert len(bars) == 2 * len(_attempts(record)) == 2 * 5  # by task and by worker slot; flaky ran twice
    assert {title.split(" ")[0] for crit, title in bars if crit} == {"gen", "build"}  # the critical path
    flaky = [title for _, title in bars if title.startswith("flaky")][:2]
    assert "attempt 1: error" in flaky[0] and "attempt 2: success" in flaky[1]
    assert 'data-id="after" data-deps="build"' in page and "depends on: gen" in page
    assert page.count('class="label">worker slot ') == 2
    assert "#d64545" in page and "#2f9e5b" in page


def test_chrome_trace_has_a_complete_event_per_attempt_on_its_worker_slot(record):
    trace = orjson.loads(orjson.dumps(chrome_trace(record)))
    assert trace["displayTimeUnit"] == "ms" and trace["otherData"]["dispatch_id"] == record.dispatch_id
    events = trace["traceEvents"]
    lanes = assign_lanes(record)
    complete = [e for e in events if e["ph"] == "X"]
    expected = sorted((task_id, round(a["started_ms"] * 1000, 1), round(a["duration_ms"] * 1000, 1))
                      for task_id, a in _attempts(record))
    got = sorted((e["name"], e["ts"], e["dur"]) for e in complete)
    assert [name for name, _, _ in got] == [name for name, _, _ in expected]
    # pytest >= 9 refuses approx() of nested tuples: compare the numbers flat
    assert [v for _, *times in got for v in times] == pytest.approx([v for _, *times in expected for v in times],
                                                                    abs=0.2)
    assert all(e["pid"] == 1 and e["tid"] == lanes[e["name"]] + 1 for e in complete)
    assert {e["args"]["status"] for e in complete if e["name"] == "flaky"} == {"error", "success"}
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names == {lane + 1: f"worker {lane + 1}" for lane in set(lanes.values())}
    (started,) = [e for e in events if e["ph"] == "i" and e["name"] == "process_started"]
    assert started["tid"] == lanes["build"] + 1 and started["args"]["pid"] > 0


def test_cli_report_formats_and_output_file(record, capsys, tmp_path):
    folder = str(record.index_path.parent)
    code, out, _ = run_cli(capsys, "report", "--trace-dir", folder)
    assert code == 0 and out == markdown_report(record)
    code, out, _ = run_cli(capsys, "report", record.dispatch_id[:12], "--format", "chrome-trace", "--trace-dir", folder)
    assert code == 0 and orjson.loads(out)["traceEvents"]
    target = tmp_path / "sub" / "r.html"
    code, out, _ = run_cli(capsys, "report", str(record.index_path), "--format", "html", "-o", str(target))
    assert code == 0 and out == "" and target.read_text() == html_report(record)
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]  # atomic: no temp file left
    code, out, err = run_cli(capsys, "report", "nope", "--trace-dir", folder)
    assert code == 2 and orjson.loads(out)["status"] == "invalid" and "no dispatch 'nope'" in err


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG into rows of raw pixel bytes (enough for Chromium's)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, rows, prev = zlib.decompress(idat), [], bytearray(width * bpp)
    stride = width * bpp + 1
    for y in range(height):
        kind, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for x in range(len(line)):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line if bpp == 3 else b"".join(line[i:i + 3] for i in range(0, len(line), 4))))
        prev = line
    return width, height, rows


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_renders_in_headless_chromium(record, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(html_report(record))
    png = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1200,800",
                    page.as_uri()], capture_output=True, timeout=90, check=False)
    assert png.is_file() and png.stat().st_size > 10_000
    width, height, rows = _png_pixels(png.read_bytes())
    assert (width, height) == (1200, 800)
    pixels = b"".join(rows)

    def count(hex_colour: str) -> int:  # pixels painted in exactly this colour
        rgb = bytes.fromhex(hex_colour.lstrip("#"))
        return sum(1 for i in range(0, len(pixels), 3) if pixels[i:i + 3] == rgb)

    # Gantt bars really painted: success green and error red, each a few hundred pixels at least
    assert count("#2f9e5b") > 1000 and count("#d64545") > 300


def test_markdown_lists_each_skeletons_todos(tmp_path):
    import json
    import subprocess

    from conftest import RUNNER, runner_env

    task = {"task_id": "gen", "agent": "coder", "input_data": {
        "contract_description": "Compute node that totals an order.\n- sum the line prices\n- apply the discount",
        "node_type": "Compute", "node_name": "order_total", "output_path": "nodes/node_order_total_compute.py"}}
    (tmp_path / "t.json").write_text(json.dumps({"tasks": [task]}))
    run = subprocess.run([*RUNNER, "run", "t.json", "--quiet"], cwd=tmp_path, env=runner_env(), capture_output=True,
                         text=True, timeout=120)
    todo = json.loads(run.stdout)["results"][0]["output"]["todo"]
    assert todo, "the scaffold left no todo for a contract with itemised lines"
    done = subprocess.run([*RUNNER, "report"], cwd=tmp_path, env=runner_env(), capture_output=True, text=True,
                          timeout=60)
    section = done.stdout.split("## Skeletons still to implement", 1)[1]
    assert "NotImplementedError" in section and "node_order_total_compute.py" in section
    assert all(f"- {item}" in section for item in todo)
    assert "SKELETON" in done.stdout.split("## Skeletons", 1)[0]
