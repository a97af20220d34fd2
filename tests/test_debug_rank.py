"""Ranking: evidence weights, symptom exceptions, chains, problem text, empty results, rule lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_execution.agents.debug.model import Finding, Frame, TraceError
from parallel_execution.agents.debug.rank import check_hypothesis, rank
from parallel_execution.agents.debug.rules import RULES, exception_rules, is_symptom, rules_mentioned

ROOT = Path("/ws")


def error(exc_type: str, message: str, frames: list[tuple[str, int, str]], position: int = 0,
          index: int = 0) -> TraceError:
    return TraceError(index, 0, "python", exc_type, message,
                      tuple(Frame(f, line, fn, None, index, True, True) for f, line, fn in frames),
                      0, position, "cause" if position else None)


def finding(rule: str, line: int, scope: str | None = None, symbol: str | None = None,
            file: str = "/ws/a.py") -> Finding:
    return Finding(rule, RULES[rule].severity, file, line, 1, f"{rule} here", "x = 1", line, symbol, scope)


def test_a_finding_on_the_failing_line_beats_the_bare_frame() -> None:
    err = error("NameError", "name 'sys' is not defined", [("/ws/a.py", 9, "<module>"), ("/ws/a.py", 3, "f")])
    candidates, root = rank([finding("missing-import", 3, "f", "sys"), finding("unused-import", 1)], [err], {},
                            "", ROOT)
    assert root.candidate is candidates[0]
    assert (root.candidate.rule, root.candidate.line, root.candidate.confidence) == ("missing-import", 3, 0.99)
    assert [c.rule for c in candidates] == ["missing-import", "unused-import"]  # the frame is covered
    assert "the exception names 'sys'" in root.candidate.reasons


def test_symptom_exceptions_point_away_from_their_own_line() -> None:
    plain = rank([], [error("KeyError", "'a'", [("/ws/a.py", 3, "f")])], {}, "", ROOT)[1].candidate
    symptom = rank([], [error("AssertionError", "", [("/ws/a.py", 3, "f")])], {}, "", ROOT)[1].candidate
    assert plain is not None and symptom is not None
    assert (plain.rule, plain.confidence) == ("unhandled-exception", 0.59)
    assert symptom.confidence == pytest.approx(0.59 - 0.175)
    assert "it was produced elsewhere" in symptom.reasons[1]


def test_the_first_exception_of_a_chain_outweighs_the_later_ones() -> None:
    first = error("KeyError", "'port'", [("/ws/a.py", 4, "read")])
    later = error("ConfigError", "no port", [("/ws/a.py", 9, "<module>"), ("/ws/a.py", 6, "read")], position=1, index=1)
    candidates, _ = rank([], [first, later], {}, "", ROOT)
    assert [(c.line, c.confidence) for c in candidates] == [(4, 0.59), (6, round(0.24 + 0.35 * 0.85, 3))]


def test_the_problem_description_breaks_ties_between_rules() -> None:
    items = [finding("pickle-loads", 5), finding("sql-string-format", 9)]
    assert rank(items, [], {}, "", ROOT)[1].candidate.rule == "sql-string-format"  # type: ignore[union-attr]
    top = rank(items, [], {}, "forged cookies break deserialization", ROOT)[1].candidate
    assert top is not None and top.rule == "pickle-loads"
    assert top.confidence == pytest.approx(RULES["pickle-loads"].prior + 0.08)


def test_nothing_found_is_said_plainly() -> None:
    assert rank([], [], {}, "", ROOT)[1].to_json() == {
        "file": None, "line": None, "rule": None, "confidence": 0.0, "why": [],
        "summary": "No defect found in the analysed files and no error traces were given"}
    outside = TraceError(0, 0, "python", "ValueError", "boom",
                         (Frame("/usr/lib/python3.11/json/decoder.py", 3, "f", None, 0),), 0, 0)
    assert rank([], [outside], {}, "", ROOT)[1].summary == (
        "No static finding in the analysed files and the 1 traceback(s) have no frame in the workspace: "
        "ValueError: boom")


def test_scores_are_deterministic_and_ties_break_on_location() -> None:
    items = [finding("bare-except", 7, file="/ws/b.py"), finding("bare-except", 7, file="/ws/a.py"),
             finding("bare-except", 2, file="/ws/b.py")]
    order = [(c.file, c.line) for c in rank(items, [], {}, "", ROOT)[0]]
    assert order == [("/ws/a.py", 7), ("/ws/b.py", 2), ("/ws/b.py", 7)]


def test_hypothesis_without_text_or_checkable_words() -> None:
    assert check_hypothesis("  ", [], ROOT) is None
    result = check_hypothesis("the weather", [], ROOT)
    assert result is not None and result.verdict == "inconclusive" and result.supported is None


@pytest.mark.parametrize("text, expected", [
    ("hash_password gets no salt", set()),
    ("a circular import between models and validators", {"import-cycle", "missing-import", "unresolved-import"}),
    ("the handler forgets to await the coroutine", {"missing-await"}),
    ("security review", {"eval-exec", "shell-true", "pickle-loads", "unsafe-yaml-load", "hardcoded-secret",
                         "sql-string-format", "weak-hash", "insecure-compare", "security"}),
    ("x == None is wrong", {"none-comparison"}),
])
def test_rules_mentioned(text: str, expected: set[str]) -> None:
    assert rules_mentioned(text) == expected


@pytest.mark.parametrize("exc_type, message, rules", [
    ("NameError", "name 'x' is not defined", ["missing-import", "undefined-name"]),
    ("TypeError", "f() missing 1 required positional argument: 'a'", ["call-arity"]),
    ("TypeError", "'coroutine' object is not subscriptable", ["missing-await"]),
    ("TypeError", "can only concatenate str (not \"NoneType\") to str",
     ["bare-except", "swallowed-exception", "none-comparison", "none-misuse"]),
    ("AttributeError", "'Cache' object has no attribute 'ttl'", ["attribute-error"]),
    ("KeyError", "'tiemout'", ["dict-key-typo"]),
    ("builtins.ImportError", "cannot import name 'User' from partially initialized module 'models'",
     ["unresolved-import", "import-cycle"]),
    ("_pickle.UnpicklingError", "invalid load key", ["pickle-loads"]),
    ("ZeroDivisionError", "division by zero", []),
    (None, "text", []),
])
def test_exception_rules(exc_type: str | None, message: str, rules: list[str]) -> None:
    assert exception_rules(exc_type, message) == rules


@pytest.mark.parametrize("exc_type, message, symptom", [
    ("AssertionError", "", True), ("TypeError", "'NoneType' object is not subscriptable", True),
    ("AttributeError", "'coroutine' object has no attribute 'x'", True), ("TypeError", "f() missing", False),
    ("KeyError", "'NoneType'", False),
])
def test_is_symptom(exc_type: str, message: str, symptom: bool) -> None:
    assert is_symptom(exc_type, message) is symptom
