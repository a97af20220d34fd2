"""Mechanical fixes: the one edit that removes a finding, when there is exactly one.

* ``missing-import``: insert the import statement the project already uses for the name (or the
  standard-library one) after the module's last top-level import;
* ``undefined-name`` / ``attribute-error``: replace the name by the *one* close match among the
  names the module binds (for an attribute: the attributes of the class mypy names, gathered from
  every analysed file: ``self.x = ...``, class-level names, methods), a close match being a
  ``difflib`` ratio >= 0.8 or the missing name being one ``_``-separated part of a single candidate
  (``ttl`` -> ``token_ttl``);
* ``missing-await``: insert ``await`` before the call, inside an ``async def``;
* ``none-comparison``: ``== None`` -> ``is None``.

Anything else gets no edit (a description only, or nothing): a guess is not a fix.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
from collections.abc import Mapping

from parallel_execution.agents.debug.model import Edit, Fix
from parallel_execution.agents.debug.source import SourceFile
from parallel_execution.analysis.catalogue import import_for
from parallel_execution.analysis.diagnostics import Diagnostic

__all__ = ["MECHANICAL", "fix_for", "import_fix", "replace_in_line"]

MECHANICAL = frozenset({"missing-import", "undefined-name", "attribute-error", "missing-await", "none-comparison"})


def replace_in_line(source: SourceFile, line: int, old: str, new: str, count: int = 1) -> Edit | None:
    text = source.line_text(line)
    if old not in text:
        return None
    return Edit("replace", line, text.replace(old, new, count), text)


def import_fix(source: SourceFile, statement: str) -> Fix:
    """``Fix`` that inserts ``statement`` after the module's last top-level import."""
    line = 1
    tree = source.tree
    if tree is not None:
        for index, node in enumerate(tree.body):
            is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            if isinstance(node, (ast.Import, ast.ImportFrom)) or is_docstring:
                line = (node.end_lineno or node.lineno) + 1
            elif line > 1:
                break
    return Fix(f"add `{statement}`", Edit("insert", line, statement))


def _one_close(name: str, candidates: set[str]) -> str | None:
    candidates = {c for c in candidates if c != name and not c.startswith("__")}
    close = set(difflib.get_close_matches(name, candidates, n=3, cutoff=0.8))
    close |= {c for c in candidates if name in c.split("_") and len(name) >= 3}
    return next(iter(close)) if len(close) == 1 else None


def _module_names(tree: ast.Module) -> set[str]:
    names = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names


def class_attributes(trees: Mapping[str, ast.Module], class_name: str, *, methods: bool = True) -> set[str]:
    found: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ClassDef) and node.name == class_name):
                continue
            for item in ast.walk(node):
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if methods:
                        found.add(item.name)
                elif isinstance(item, ast.Attribute) and isinstance(item.ctx, ast.Store) \
                        and isinstance(item.value, ast.Name) and item.value.id == "self":
                    found.add(item.attr)
                elif isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store):
                    found.add(item.id)
    return found


def _replace_word(source: SourceFile, line: int, old: str, new: str, attribute: bool) -> Edit | None:
    text = source.line_text(line)
    pattern = (r"(?<=\.)" if attribute else r"(?<![\w.])") + re.escape(old) + r"\b"
    replaced, count = re.subn(pattern, new, text, count=1)
    return Edit("replace", line, replaced, text) if count else None


def _await_fix(source: SourceFile, line: int) -> Fix | None:
    tree = source.tree
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and node.lineno <= line <= (node.end_lineno or node.lineno):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and sub.lineno == line and sub.end_lineno == line:
                    text = source.line_text(line)
                    column = len(text.encode("utf-8")[: sub.col_offset].decode("utf-8", "replace"))
                    new = text[:column] + "await " + text[column:]
                    return Fix(f"await the coroutine: `{new.strip()}`", Edit("replace", line, new, text))
    return None


def fix_for(diag: Diagnostic, source: SourceFile, hints: Mapping[str, str],
            trees: Mapping[str, ast.Module]) -> Fix | None:
    """The mechanical fix for ``diag`` in ``source``, or ``None``."""
    name = diag.symbol
    if diag.rule == "missing-import" and name and (statement := import_for(name, hints)):
        return import_fix(source, statement)
    if diag.rule == "undefined-name" and name and source.tree is not None:
        match = _one_close(name, _module_names(source.tree))
        edit = _replace_word(source, diag.line, name, match, False) if match else None
        return Fix(f"`{name}` is not defined: did you mean `{match}`?", edit) if edit else None
    if diag.rule == "attribute-error" and name:
        owner = re.match(r'^"([\w.]+)" has no attribute', diag.message)
        hinted = re.search(r'Maybe "(\w+)"\?', f"{diag.message} {diag.hint or ''}")
        cls = owner.group(1).rsplit(".", 1)[-1] if owner else None
        match = hinted.group(1) if hinted else None
        if match is None and cls is not None:  # data attributes first (self.x = ...), then methods too
            match = _one_close(name, class_attributes(trees, cls, methods=False)) or \
                _one_close(name, class_attributes(trees, cls))
        edit = _replace_word(source, diag.line, name, match, True) if match else None
        return Fix(f"`{name}` is not an attribute: did you mean `{match}`?", edit) if edit else None
    if diag.rule == "missing-await":
        return _await_fix(source, diag.line)
    if diag.rule == "none-comparison":
        text = source.line_text(diag.line)
        new = text.replace("!= None", "is not None", 1) if "!= None" in text else text.replace("== None", "is None", 1)
        return Fix("compare with `is None`", Edit("replace", diag.line, new, text)) if new != text else None
    if diag.rule == "call-arity" and (missing := re.match(r'Missing (?:positional|named) arguments? (.+?) (?:in call to|for) ',
                                                          diag.message)):
        names = re.findall(r'"(\w+)"', missing.group(1))
        return Fix("pass the missing argument" + ("s " if len(names) > 1 else " ") + ", ".join(f"`{n}`" for n in names))
    if diag.rule == "call-arity" and (typo := re.search(r'Unexpected keyword argument "(\w+)".*did you mean "(\w+)"',
                                                          diag.message)):
        edit = replace_in_line(source, diag.line, f"{typo.group(1)}=", f"{typo.group(2)}=")
        return Fix(f"the keyword is `{typo.group(2)}`, not `{typo.group(1)}`", edit) if edit else None
    if diag.rule == "insecure-compare":
        return Fix("compare digests with hmac.compare_digest(a, b)")
    return None
