"""The output document, whole: a small dispatch's stdout compared with tests/golden/result.json
after ``helpers.normalise`` (dispatch ids, timings and the tmp folder replaced). A change to the
document's shape shows up here as a diff; regenerate deliberately with
``GOLDEN_UPDATE=1 pytest tests/test_golden.py`` and review the diff."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from helpers import REPO, cli_json, normalise

GOLDEN = REPO / "tests" / "golden" / "result.json"
TASKS = [
    {"task_id": "hello", "agent": "echo", "input_data": {"message": "hi"}},
    {"task_id": "shout", "agent": "echo", "dependencies": ["hello"],
     "input_data": {"message": {"$from": "hello", "select": ".message | ascii_upcase"}}},
    {"task_id": "broken", "agent": "command", "input_data": {"argv": [sys.executable, "-c", "raise SystemExit(3)"]}},
    {"task_id": "after", "agent": "echo", "dependencies": ["broken"]},
]


def test_the_output_document_matches_the_golden_file(tmp_path: Path, capsys):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps({"tasks": TASKS, "config": {"workspace": str(tmp_path), "max_workers": 2,
                                                           "trace_dir": str(tmp_path / "traces")}}))
    code, document, _ = cli_json(capsys, "run", str(path), "--quiet", "--allow-commands")
    assert code == 1
    got = normalise(document, tmp_path)
    got = json.loads(json.dumps(got).replace(json.dumps(sys.executable)[1:-1], "<sys.executable>")
                     .replace(Path(sys.executable).name, "<python>"))
    got["summary"]["critical_path"] = "<depends on timing>"
    if os.environ.get("GOLDEN_UPDATE"):
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text())
