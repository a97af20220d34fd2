"""JSON reports at the end of a session, and merging a model diagnosis with static findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_execution.claude_code.reports import extract_json_report, merge_diagnosis, split_report
from parallel_execution.inputs.paths import WorkspacePolicy


@pytest.mark.parametrize(
    ("text", "narrative", "report"),
    [
        ('Done.\n\n```json\n{"a": 1}\n```', "Done.", {"a": 1}),
        ('Example:\n```json\n{"a": 1}\n```\nFinal:\n```json\n{"b": 2}\n```\n', 'Example:\n```json\n{"a": 1}\n```\nFinal:',
         {"b": 2}),
        ('```json\n{"b": 2}\n```\nthen a broken one\n```json\n{oops\n```', "", {"b": 2}),
        ('```json\n[1, 2]\n```', '```json\n[1, 2]\n```', None),
        ("no report", "no report", None),
    ],
)
def test_split_report(text: str, narrative: str, report):
    assert split_report(text) == (narrative, report)
    assert extract_json_report(text) == report


@pytest.fixture
def ws(tmp_path: Path) -> WorkspacePolicy:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "login.py").write_text("import os\nreturn check(user)\nx = 1\n")
    return WorkspacePolicy.create(tmp_path)


STATIC = {
    "root_cause": {"rule": "undefined-name", "file": "src/login.py", "line": 2, "summary": "static", "confidence": 0.6},
    "findings": [{"rule": "undefined-name", "severity": "error", "file": "src/login.py", "line": 2,
                  "message": "name 'check' is not defined"}],
    "suggested_fix": None,
    "analysis": "kept as is",
}


def test_static_location_wins_for_the_same_defect(ws: WorkspacePolicy):
    model = {
        "root_cause": {"rule": "undefined-name", "file": "src/login.py", "line": 3, "summary": "renamed to verify",
                       "confidence": 0.95},
        "findings": [{"rule": "undefined-name", "file": "src/login.py", "line": 3, "message": "check was renamed"}],
        "suggested_fix": {"description": "call verify"},
        "hypothesis_check": {"verdict": "supported", "supported": True},
    }
    merged = merge_diagnosis(STATIC, model, ws)
    assert merged["root_cause"] == {**model["root_cause"], "line": 2, "source": "model+static"}
    assert merged["findings"] == [{**STATIC["findings"][0], "source": "static", "model_note": "check was renamed"}]
    assert merged["suggested_fix"] == {"description": "call verify"}
    assert merged["hypothesis_check"] == {"verdict": "supported", "supported": True}
    assert merged["analysis"] == "kept as is" and merged["unverified_findings"] == []


@pytest.mark.parametrize(
    ("finding", "verified"),
    [
        ({"rule": "sql-injection", "file": "src/login.py", "line": 3}, True),
        ({"rule": "sql-injection", "file": "src/login.py"}, True),
        ({"rule": "sql-injection", "file": "src/login.py", "line": 4}, False),  # past the end of the file
        ({"rule": "sql-injection", "file": "src/missing.py", "line": 1}, False),
        ({"rule": "sql-injection", "file": "../../etc/passwd", "line": 1}, False),
        ({"rule": "sql-injection", "file": "src/login.py", "line": "3"}, False),
    ],
)
def test_model_only_findings_must_point_at_real_lines(ws: WorkspacePolicy, finding: dict, verified: bool):
    merged = merge_diagnosis(STATIC, {"findings": [finding]}, ws)
    model_findings = [f for f in merged["findings"] if f["source"] == "model"]
    assert (model_findings if verified else merged["unverified_findings"]) == [{**finding, "source": "model"}]


def test_unverifiable_model_root_cause_falls_back_to_static(ws: WorkspacePolicy):
    model = {"root_cause": {"rule": "race", "file": "src/login.py", "line": 99, "summary": "made up"}}
    assert merge_diagnosis(STATIC, model, ws)["root_cause"] == STATIC["root_cause"]
    verified = {"root_cause": {"rule": "race", "file": "src/login.py", "line": 3, "summary": "real"}}
    assert merge_diagnosis(STATIC, verified, ws)["root_cause"]["source"] == "model"
    nothing = {"root_cause": {"rule": None, "file": None, "line": None, "summary": "need a trace"}}
    assert merge_diagnosis(STATIC, nothing, ws)["root_cause"] == STATIC["root_cause"]


def test_without_a_model_report_the_static_output_stands(ws: WorkspacePolicy):
    merged = merge_diagnosis(STATIC, None, ws)
    assert merged["root_cause"] == STATIC["root_cause"]
    assert merged["findings"] == [{**STATIC["findings"][0], "source": "static"}]
    assert STATIC["findings"][0].get("source") is None  # the input is not modified
