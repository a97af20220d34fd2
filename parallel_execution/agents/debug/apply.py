"""Write mechanically fixed files and re-run the analyzers on them.

``apply_fixes``: ``none`` (default) writes nothing; ``beside`` writes ``<stem>.fixed.py`` next to
the original; ``in_place`` replaces the original. Only findings with an edit (``fixes.MECHANICAL``)
are applied, at most one edit per line, bottom-up so earlier line numbers stay valid. The target
path goes through the workspace policy (``resolve_in_workspace``) and is written atomically
(temporary file + rename). The written file is analysed again at the same depth; ``recheck`` says
which of the fixed findings are gone and what the analyzers report now.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from parallel_execution.agents.debug.model import Finding
from parallel_execution.analysis.engine import Depth, analyse
from parallel_execution.analysis.interpreter import ProjectInterpreter
from parallel_execution.inputs.paths import WorkspacePolicy, resolve_in_workspace
from parallel_execution.traces.fsio import atomic_write_text

__all__ = ["ApplyMode", "apply_fixes", "target_for"]

ApplyMode = Literal["none", "beside", "in_place"]


def target_for(file: str, mode: ApplyMode) -> Path:
    path = Path(file)
    return path if mode == "in_place" else path.with_name(f"{path.stem}.fixed{path.suffix or '.py'}")


def _edited(text: str, findings: list[Finding]) -> tuple[str, list[Finding]]:
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
    applied: list[Finding] = []
    used: set[int] = set()
    edits = [(item, item.fix.edit) for item in findings if item.fix is not None and item.fix.edit is not None]
    for item, edit in sorted(edits, key=lambda pair: (pair[1].line, pair[1].kind == "replace"), reverse=True):
        if edit.line in used or not 1 <= edit.line <= len(lines) + 1:
            continue
        if edit.kind == "replace":
            current = lines[edit.line - 1]
            if current.rstrip("\r\n") != edit.old:
                continue
            lines[edit.line - 1] = edit.new + current[len(current.rstrip("\r\n")):]
        else:
            lines.insert(edit.line - 1, edit.new + newline)
        used.add(edit.line)
        applied.append(item)
    return "".join(lines), list(reversed(applied))


async def apply_fixes(findings: Sequence[Finding], mode: ApplyMode, policy: WorkspacePolicy, depth: Depth,
                      python: ProjectInterpreter, timeout: float) -> list[dict[str, Any]]:
    """Apply the mechanical edits of ``findings`` per file; one result per file written."""
    if mode == "none":
        return []
    by_file: dict[str, list[Finding]] = {}
    for item in findings:
        if item.fix is not None and item.fix.edit is not None:
            by_file.setdefault(item.file, []).append(item)
    results: list[dict[str, Any]] = []
    for file, items in sorted(by_file.items()):
        text = Path(file).read_text(encoding="utf-8")
        new_text, applied = _edited(text, items)
        if not applied or new_text == text:
            continue
        target = resolve_in_workspace(target_for(file, mode), policy)
        atomic_write_text(target, new_text)
        report = await analyse([str(target)], root=policy.root, depth=depth, texts={str(target): new_text},
                               python=python, timeout=timeout)
        after = [d for d in report.diagnostics if d.file == str(target)]
        remaining = {(d.rule, d.symbol) for d in after}
        results.append({
            "file": file,
            "written_to": str(target),
            "mode": mode,
            "fixed": [{"id": f.id, "rule": f.rule, "tool": f.tool, "code": f.code, "line": f.line,
                       "edit": f.fix.edit.to_json() if f.fix and f.fix.edit else None} for f in applied],
            "recheck": {
                "resolved": [f.id for f in applied if (f.rule, f.symbol) not in remaining],
                "still_reported": [f.id for f in applied if (f.rule, f.symbol) in remaining],
                "findings": [d.to_json() for d in after],
                "checks": [c.to_json() for c in report.checks],
            },
        })
    return results
