"""Call arity in Python's own words: mypy's ``call-arg`` diagnostics as the ``TypeError`` text.

mypy decides *whether* a call binds (it knows signatures across modules, dataclasses, stubs); this
module only words the verdict the way the interpreter would (``f() missing 1 required positional
argument(s): 'x'``), so the coder's repair prompt and the debug agent's traceback matching read
the same. The label is the call as written (``self._twice``, ``json.loads``); "takes N positional
arguments" counts come from a definition in the same module when there is one.
"""

from __future__ import annotations

import ast
import re

from parallel_execution.analysis.diagnostics import Diagnostic

__all__ = ["arity_message"]


def _call_at(tree: ast.Module, line: int, column: int) -> ast.Call | None:
    best: ast.Call | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == line:
            if node.col_offset + 1 == column:
                return node
            best = best or node
    return best


def _positional_count(tree: ast.Module, name: str) -> int | None:
    short = name.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == short:
            count = len(node.args.posonlyargs) + len(node.args.args)
            return count - 1 if name.startswith(("self.", "cls.")) else count
    return None


def arity_message(diag: Diagnostic, tree: ast.Module) -> str:
    call = _call_at(tree, diag.line, diag.column)
    label = ast.unparse(call.func) if call is not None else (diag.symbol or "call")
    message = diag.message
    if (m := re.match(r'Missing positional arguments? (.+?) in call to ', message)) is not None:
        names = re.findall(r'"(\w+)"', m.group(1))
        listed = ", ".join(repr(n) for n in names)
        return f"{label}() missing {len(names)} required positional argument(s): {listed}"
    if (m := re.match(r'Missing named arguments? (.+?) for ', message)) is not None:
        names = re.findall(r'"(\w+)"', m.group(1))
        listed = ", ".join(repr(n) for n in names)
        return f"{label}() missing {len(names)} required keyword-only argument(s): {listed}"
    if (m := re.match(r'Unexpected keyword argument "(\w+)"', message)) is not None:
        return f"{label}() got an unexpected keyword argument {m.group(1)!r}"
    if (m := re.search(r'gets multiple values for keyword argument "(\w+)"', message)) is not None:
        return f"{label}() got multiple values for argument {m.group(1)!r}"
    if message.startswith("Too many") and call is not None:
        given = len(call.args)
        takes = _positional_count(tree, label)
        if takes is not None:
            return f"{label}() takes {takes} positional argument(s) but {given} were given"
        return f"{label}() takes fewer positional arguments than the {given} given"
    return f"{label}(): {message}"
