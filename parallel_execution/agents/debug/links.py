"""How a traceback frame connects to code elsewhere: the evidence that ties a finding to a failure.

A frame names a line and a function. Reading that function's source tells us:

* ``line_calls``: functions called on the frame's line, *and* functions whose results reach it
  through a local variable (``port = parse_port(text)`` ... ``host + port`` on the frame line links
  ``parse_port``): where a bad value can come from;
* ``body_calls``: every function the frame's function calls (for ``<module>``, module-level calls);
* ``used``: the names read on the frame's line, so a finding that assigns one of them on an earlier
  line of the same function (``user = fetch_user(id)`` then ``user["name"]``) is linked by data flow.

Names are compared by their last component (``self.send`` -> ``send``), matching the last part of
a finding's ``scope``. Without source (a frame outside the analysed files) the frame's printed code
line is scanned for calls instead.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from parallel_execution.agents.debug.model import Frame
from parallel_execution.agents.debug.source import SourceFile

__all__ = ["FrameLinks", "assigned_name", "frame_links"]

_CALL = re.compile(r"([A-Za-z_]\w*)\s*\(")
_ASSIGN = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?::[^=]+)?=(?!=)")


@dataclass(frozen=True, slots=True)
class FrameLinks:
    line_calls: frozenset[str]
    body_calls: frozenset[str]
    used: frozenset[str]


def assigned_name(evidence: str) -> str | None:
    """The variable a one-line statement assigns (``user = fetch(...)`` -> ``user``)."""
    match = _ASSIGN.match(evidence)
    return match.group(1) if match else None


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _function_node(tree: ast.Module, line: int, name: str | None) -> ast.AST:
    best: ast.AST = tree
    for node in ast.walk(tree):
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.lineno <= line <= (node.end_lineno or node.lineno) and (name is None or node.name == name)
                and (best is tree or node.lineno >= getattr(best, "lineno", 0))):
            best = node
    return best


def _own(node: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        out.append(item)
        stack.extend(ast.iter_child_nodes(item))
    return out


def _links(source: SourceFile, line: int, function: str | None) -> FrameLinks:
    assert source.tree is not None
    name = None if function in (None, "<module>") else function
    scope = _function_node(source.tree, line, name)
    nodes = _own(scope)
    on_line = [n for n in nodes if getattr(n, "lineno", 0) <= line <= (getattr(n, "end_lineno", 0) or 0)]
    used = {n.id for n in on_line if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    line_calls = {c for n in on_line if isinstance(n, ast.Call) and (c := _call_name(n))}
    body_calls = {c for n in nodes if isinstance(n, ast.Call) and (c := _call_name(n))}
    for node in nodes:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in used for t in targets):
                line_calls |= {c for n in ast.walk(node.value) if isinstance(n, ast.Call) and (c := _call_name(n))}
    return FrameLinks(frozenset(line_calls), frozenset(body_calls), frozenset(used))


def frame_links(frame: Frame, sources: dict[str, SourceFile],
                cache: dict[tuple[str, int | None, str | None], FrameLinks]) -> FrameLinks:
    key = (frame.file, frame.line, frame.function)
    if key not in cache:
        source = sources.get(frame.file)
        if frame.line is None or source is None or source.tree is None:
            calls = frozenset(_CALL.findall(frame.code or ""))
            used = frozenset(re.findall(r"[A-Za-z_]\w*", frame.code or ""))
            cache[key] = FrameLinks(calls, frozenset(), used)
        else:
            cache[key] = _links(source, frame.line, frame.function)
    return cache[key]
