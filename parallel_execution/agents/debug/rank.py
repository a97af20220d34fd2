"""Rank explanations: root cause, hypotheses, whether the user's hypothesis holds, the fix.

Every finding is a candidate; so is the innermost project frame of every exception (rule
``unhandled-exception`` unless the exception itself names a rule, e.g. a ``NameError`` in quick
mode). A candidate's score starts at its rule's prior (``rules.RULES``) and gains evidence:

=====================================================  ======================================
evidence (per exception, best of each kind)            bonus (frames: x 0.55 per step outward)
=====================================================  ======================================
a traceback frame is on the finding's line(s)          +0.35
a frame line reads the variable the finding assigns    +0.15
a frame line gets a value from the finding's function  +0.12
a frame's function calls the finding's function        +0.10
the finding is in a frame's function                   +0.08
the finding's rule raises this exception               +0.20; +0.15 if also linked by a frame
the exception message names the finding's symbol       +0.15
the problem description talks about this rule          +0.08
=====================================================  ======================================

The innermost project frame of an exception is a candidate of its own (prior 0.24 + 0.35), halved
for "symptom" exceptions (``AssertionError``, ``'NoneType'``/``'coroutine'`` errors) that report
a bad value produced elsewhere. Later exceptions of a chain weigh 0.85 (the first one is usually the real failure). Scores are
capped at 0.99 and rounded to 3 places, and ties break on severity, file, line, column and rule, so
the ranking is deterministic. Each candidate keeps its reasons; the root cause's ``why`` is them.

A hypothesis is checked against the ranking: the defect kinds it mentions (``rules_mentioned``)
and the names it mentions (symbols, functions, files, line numbers). Matching the root cause is
``supported``; matching only a lesser finding is ``partially_supported`` when a traceback defines
the failure (and ``supported`` in a review without traces); naming things the evidence does not
show is ``not_supported``; naming nothing checkable is ``inconclusive``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from parallel_execution.agents.debug.fixes import import_fix
from parallel_execution.agents.debug.links import FrameLinks, assigned_name, frame_links
from parallel_execution.agents.debug.model import (
    SEVERITY_ORDER,
    Candidate,
    Finding,
    Fix,
    HypothesisCheck,
    RootCause,
    TraceError,
)
from parallel_execution.agents.debug.rules import (
    NONE_PRODUCERS,
    RULES,
    SYMPTOM_SITE_RULES,
    exception_rules,
    is_symptom,
    rules_mentioned,
)
from parallel_execution.agents.debug.source import SourceFile
from parallel_execution.agents.debug.tracebacks import quoted_names

__all__ = ["check_hypothesis", "rank", "relative"]

LINE, RULE, NAME, LINKED, FLOW, CALLEE, BODY, INSIDE, PROBLEM = 0.35, 0.20, 0.15, 0.15, 0.15, 0.12, 0.10, 0.08, 0.08
PRODUCER = 0.35
DECAY, LATER, MAX_HYPOTHESES = 0.55, 0.85, 5
_SELF_EVIDENT = frozenset({"syntax-error", "missing-import", "undefined-name", "call-arity", "unresolved-import",
                           "import-cycle", "missing-await", "attribute-error"})
# Rules about one name: when the exception quotes names, a finding about another name explains nothing.
_NAMED = frozenset({"attribute-error", "undefined-name", "missing-import", "dict-key-typo"})
_Links = dict[tuple[str, int | None, str | None], FrameLinks]


def relative(path: str | None, root: Path) -> str:
    if path is None:
        return "?"
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


@dataclass(slots=True)
class _Score:
    score: float
    reasons: list[str] = field(default_factory=list)
    explains: TraceError | None = None

    def add(self, amount: float, reason: str) -> None:
        self.score += amount
        self.reasons.append(reason)


def _weight(error: TraceError) -> float:
    return 1.0 if error.position == 0 else LATER


def _score_finding(item: Finding, errors: list[TraceError], mentioned: set[str], root: Path,
                   sources: dict[str, SourceFile], cache: _Links) -> _Score:
    spec = RULES[item.rule]
    result = _Score(spec.prior, [f"{spec.severity} finding: {spec.title}"])
    end = item.end_line or item.line
    function = item.scope.rsplit(".", 1)[-1] if item.scope else None
    variable = assigned_name(item.evidence)
    best: dict[str, tuple[float, str]] = {}

    def keep(kind: str, amount: float, reason: str) -> None:
        if amount > best.get(kind, (0.0, ""))[0]:
            best[kind] = (amount, reason)

    for error in errors:
        weight = _weight(error)
        project = [f for f in error.frames if f.in_workspace and f.line is not None]
        linked = False
        symptom = is_symptom(error.exc_type, error.message)
        for depth, frame in enumerate(reversed(project)):
            decay = weight * DECAY ** depth
            where = f"{relative(frame.file, root)}:{frame.line} in {frame.function or '?'}"
            label = "the innermost project frame" if depth == 0 else f"traceback frame ({depth} out)"
            links = frame_links(frame, sources, cache)
            same_function = frame.file == item.file and function is not None and frame.function == function
            if frame.file == item.file and item.line <= (frame.line or 0) <= end:
                if symptom and item.rule in SYMPTOM_SITE_RULES:  # where the bad value is used, not made
                    keep("line", LINE * decay / 2, f"{label} ({where}) is on this line, where the bad value "
                         "is used")
                else:
                    keep("line", LINE * decay, f"{label} ({where}) is on this line")
            elif same_function and variable is not None and variable in links.used and item.line < (frame.line or 0):
                keep("flow", FLOW * decay, f"{label} ({where}) uses `{variable}`, which this line assigns")
            elif same_function:
                keep("inside", INSIDE * decay, f"{label} ({where}) is in the same function")
            elif function and function in links.line_calls:
                keep("callee", CALLEE * decay, f"{label} ({where}) gets a value from {function}(), which "
                     "contains this")
            elif function and function in links.body_calls:
                keep("body", BODY * decay, f"{label} is in {frame.function or '?'}(), which calls {function}()")
            else:
                continue
            linked = True
        rules = exception_rules(error.exc_type, error.message)
        quoted = quoted_names(error.message)
        if item.rule in _NAMED and quoted and item.symbol and not (
                {item.symbol, item.symbol.rsplit(".", 1)[-1]} & set(quoted)):
            rules = [r for r in rules if r != item.rule]  # about another name than the one that failed
        if item.rule in rules:
            keep("rule", RULE * weight, f"{item.rule} raises the reported {_first_line(error)}")
            names = quoted_names(error.message)
            if item.symbol and (item.symbol in names or item.symbol.rsplit(".", 1)[-1] in names):
                keep("name", NAME * weight, f"the exception names '{item.symbol}'")
            if linked:
                keep("linked", LINKED * weight, "the failing traceback runs through this code")
            if linked and symptom and item.rule in NONE_PRODUCERS and "None" in error.message:
                keep("producer", PRODUCER * weight, "this code hands on None instead of failing; the traceback "
                     "reports that None used later")
            if result.explains is None:
                result.explains = error
    for amount, reason in best.values():
        result.add(amount, reason)
    if item.rule in mentioned:
        result.add(PROBLEM, "the problem description mentions this kind of defect")
    return result


def _first_line(error: TraceError, limit: int = 160) -> str:
    return error.headline().splitlines()[0][:limit] if error.headline() else "error"


def _trace_rule(error: TraceError) -> str:
    """The rule an exception implies by itself (a NameError is a missing name wherever it is)."""
    rules = [r for r in exception_rules(error.exc_type, error.message) if r in _SELF_EVIDENT]
    names = quoted_names(error.message)
    if "missing-import" in rules:
        return "missing-import" if names and names[0] in sys.stdlib_module_names else "undefined-name"
    return rules[0] if rules else "unhandled-exception"


def _trace_fix(error: TraceError, rule: str, sources: dict[str, SourceFile], file: str) -> Fix | None:
    names = quoted_names(error.message)
    if rule == "missing-import" and names and file in sources:
        return import_fix(sources[file], f"import {names[0]}")
    if rule == "call-arity" and (m := re.search(r"missing \d+ required [\w-]+ arguments?: (.+)$", error.message)):
        missing = re.findall(r"'(\w+)'", m.group(1))
        return Fix("pass the missing argument" + ("s " if len(missing) > 1 else " ") +
                   ", ".join(f"`{n}`" for n in missing))
    return None


def _finding_summary(item: Finding, explains: TraceError | None, root: Path) -> str:
    where = f"{relative(item.file, root)}:{item.line}" + (f" in {item.scope}()" if item.scope else "")
    text = f"{item.message} at {where}"
    if explains is not None:
        text += f"; this raises the reported {_first_line(explains)}"
    if item.fix is not None:
        text += f"; fix: {item.fix.description}"
    return text


def rank(findings: list[Finding], errors: list[TraceError], sources: dict[str, SourceFile],
         problem: str, root: Path) -> tuple[list[Candidate], RootCause]:
    """All candidates, best first, and the root cause (the best one, or why there is none)."""
    mentioned = rules_mentioned(problem)
    cache: _Links = {}
    explainers: dict[int, TraceError | None] = {}
    scored: list[tuple[float, int, str, int, int, str, Candidate]] = []
    for item in findings:
        result = _score_finding(item, errors, mentioned, root, sources, cache)
        confidence = round(min(result.score, 0.99), 3)
        candidate = Candidate(item.rule, item.file, item.line, _finding_summary(item, result.explains, root),
                              confidence, tuple(result.reasons), item, item.fix)
        explainers[id(candidate)] = result.explains
        scored.append((-confidence, SEVERITY_ORDER[item.severity], item.file, item.line, item.column,
                       item.rule, candidate))
    covered = {(c.file, c.line) for *_, c in scored if any("is on this line" in r for r in c.reasons[1:])}
    for error in errors:
        frame = error.innermost()
        if frame is None or (frame.file, frame.line) in covered:
            continue
        covered.add((frame.file, frame.line))
        explained = any(c.finding is not None and explainers.get(id(c)) is error for *_, c in scored)
        rule = "unhandled-exception" if explained else _trace_rule(error)
        weight = _weight(error)
        score = RULES["unhandled-exception"].prior + LINE * weight
        reasons = [f"{_first_line(error)} is raised here "
                   f"(innermost project frame, {relative(frame.file, root)}:{frame.line})"]
        if is_symptom(error.exc_type, error.message):
            score -= LINE * weight / 2
            reasons.append("the exception reports a bad value used here; it was produced elsewhere")
        if rule != "unhandled-exception":
            score += 0.5 * RULE * weight
            reasons.append(f"the exception itself indicates {rule}")
        reasons.append("no static finding explains this line" if findings else "traceback evidence only")
        if rule in mentioned:
            score += PROBLEM
            reasons.append("the problem description mentions this kind of defect")
        code = f": `{frame.code}`" if frame.code else ""
        summary = (f"{_first_line(error, 200)} raised at {relative(frame.file, root)}:{frame.line}"
                   f" in {frame.function or '?'}{code}")
        fix = _trace_fix(error, rule, sources, frame.file)
        if fix is not None:
            summary += f"; fix: {fix.description}"
        confidence = round(min(score, 0.99), 3)
        candidate = Candidate(rule, frame.file, frame.line, summary, confidence, tuple(reasons), None, fix)
        scored.append((-confidence, 0, frame.file, frame.line or 0, 0, rule, candidate))
    scored.sort(key=lambda row: row[:6])
    candidates = [row[-1] for row in scored]
    if candidates:
        return candidates, RootCause(candidates[0], candidates[0].summary)
    if errors:
        outside = sum(1 for e in errors if e.frames)
        why = (f"the {outside} traceback(s) have no frame in the workspace" if outside
               else "the error text names no file or line")
        return [], RootCause(None, f"No static finding in the analysed files and {why}: "
                                   f"{errors[0].headline().splitlines()[0][:200]}")
    return [], RootCause(None, "No defect found in the analysed files and no error traces were given")


def _identifiers(candidate: Candidate) -> set[str]:
    ids: set[str] = set()
    if candidate.file:
        path = Path(candidate.file)
        ids |= {path.name.lower(), path.stem.lower()}
    finding = candidate.finding
    if finding is not None:
        for name in (finding.symbol, finding.scope):
            if name:
                ids |= {part.lower() for part in name.split(".") if part and part != "<locals>"}
        ids |= {name.lower() for name in quoted_names(finding.message)}
        ids |= {name.lower() for name in re.findall(r'"([A-Za-z_][\w.]*)"', finding.message)}  # mypy quotes
    for word in re.findall(r"[A-Za-z_][\w]*", candidate.summary):
        if "_" in word or any(c.isupper() for c in word[1:]) or word.endswith(("Error", "Exception")):
            ids.add(word.lower())
    if candidate.line is not None:
        ids.add(f"line {candidate.line}")
    return ids


def check_hypothesis(text: str, candidates: list[Candidate], root: Path,
                     failure: bool = True) -> HypothesisCheck | None:
    """Whether the evidence supports the user's hypothesis (``None`` if none was given).

    ``failure``: error traces were given, so there is one failure to explain and a hypothesis
    matching a lesser finding is only partially supported. In a review without traces every
    finding stands on its own, and matching any of them supports the hypothesis.
    """
    if not text.strip():
        return None
    rules = rules_mentioned(text)
    lowered = text.lower()
    words = {w.lower().rstrip(".") for w in re.findall(r"[A-Za-z_][\w.]*", text)} | {
        f"line {n}" for n in re.findall(r"\bline\s+(\d+)", lowered)}
    known = set().union(*(_identifiers(c) for c in candidates)) if candidates else set()
    names = {w for w in words if w in known and len(w) > 1}
    names |= {w.rsplit(".", 1)[0] for w in words if w.endswith(".py")}
    if not rules and not names:
        return HypothesisCheck(text, "inconclusive",
                               "the hypothesis names no defect kind, file or symbol the analysis can check")

    def matches(candidate: Candidate) -> tuple[str, ...]:
        hit_rule = not rules or candidate.rule in rules
        ids = _identifiers(candidate)
        hit_names = not names or bool(names & ids)
        if not (hit_rule and hit_names):
            return ()
        return tuple(sorted(({candidate.rule} & rules) | (names & ids)))

    best = candidates[0] if candidates else None
    if best is not None and (matched := matches(best)):
        return HypothesisCheck(text, "supported",
                               f"the root cause matches it ({', '.join(matched)}): {best.summary}", matched)
    for candidate in candidates[1:]:
        if matched := matches(candidate):
            where = f"{relative(candidate.file, root)}:{candidate.line}"
            if not failure:
                return HypothesisCheck(text, "supported", f"the analysis finds it ({', '.join(matched)}): "
                                       f"{candidate.summary}", matched)
            lead = f"; the root cause is rather: {best.summary}" if best else ""
            return HypothesisCheck(text, "partially_supported",
                                   f"the evidence shows it ({candidate.rule} at {where}) but not as the "
                                   f"most likely cause{lead}", matched)
    asked = sorted(rules) + sorted(names)
    lead = f"the evidence points to: {best.summary}" if best else "the analysis found no defect"
    return HypothesisCheck(text, "not_supported", f"nothing in the evidence matches {', '.join(asked)}; {lead}")
