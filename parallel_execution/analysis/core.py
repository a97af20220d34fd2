"""The small core of checks no analyzer has, and the one place tool findings are moved to a cause.

* ``insecure-compare``: ``==``/``!=`` on a digest (``hmac.new(...).hexdigest() == sig``, names like
  ``signature``, ``digest``, ``mac``): a timing side channel; the fix is ``hmac.compare_digest``.
  Neither ruff nor bandit reports it.
* ``dict-key-typo``: a string key read once in a module (``cfg["tiemout"]``) that is one or two
  edits from a key the module uses elsewhere (``"timeout"``), plural/singular pairs excluded.
  mypy sees this only for ``TypedDict``.
* ``attribute-error`` on untyped objects: an attribute read once that is one or two edits from one
  the module uses at least twice (mypy only sees typos on objects whose type it knows);
* ``missing-await``: ``x = loop.run_in_executor(...)`` (or another asyncio call returning an
  awaitable) in an ``async def`` where ``x`` is never awaited;
* ``import-cycle`` (deep): module-level imports between workspace modules that form a cycle; each
  file on the cycle gets a finding on its import of the next module.
* :func:`relocate_missing_await`: mypy reports a forgotten ``await`` where the coroutine is *used*
  (``user["name"]``); when that value is a local assigned from a call earlier in the function, the
  finding moves to the call (``user = fetch_user(id)``), keeping the tool's line in ``moved_from``.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import networkx as nx

from parallel_execution.analysis.diagnostics import Diagnostic
from parallel_execution.analysis.files import import_root, module_name

__all__ = ["attribute_typos", "dict_key_typos", "import_cycles", "insecure_compares", "relocate_missing_await",
           "unawaited_calls"]

_DIGESTY = ("signature", "hmac", "mac", "sig", "password_hash", "pwhash")
_COMMON_ATTRS = frozenset(name for kind in (str, bytes, list, dict, set, int, float) for name in dir(kind)) | frozenset(
    dir(__import__("os")) + dir(__import__("os.path").path))


def _core(file: str, node: ast.AST, code: str, rule: str, message: str, symbol: str | None = None,
          hint: str | None = None) -> Diagnostic:
    return Diagnostic("core", code, file, getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, message,
                      "warning", getattr(node, "end_lineno", None), hint, rule, symbol)


def _hmac_digest(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        node.func.attr in ("digest", "hexdigest") and "hmac" in ast.unparse(node.func.value)


def _digesty(node: ast.expr) -> bool:
    """A MAC or signature by its name (content hashes compared for equality are fine)."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    words = name.lower().split("_")
    return any(w in _DIGESTY for w in words) or name.lower() in _DIGESTY


def insecure_compares(file: str, tree: ast.Module) -> list[Diagnostic]:
    """Both sides look like MACs/signatures, or one side is (a name assigned from) an HMAC digest."""
    macs = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
            and _hmac_digest(n.value) for t in n.targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare) or len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            continue
        left, right = node.left, node.comparators[0]
        if isinstance(left, ast.Constant) or isinstance(right, ast.Constant):
            continue
        strong = [_hmac_digest(x) or (isinstance(x, ast.Name) and x.id in macs) for x in (left, right)]
        if any(strong) or (_digesty(left) and _digesty(right)):
            found.append(_core(file, node, "DBG001", "insecure-compare",
                               f"digest compared with `{ast.unparse(node.ops[0]).strip() or '=='}`: not constant-time",
                               hint="use hmac.compare_digest(a, b)"))
    return found


def _string_keys(tree: ast.Module) -> tuple[Counter[str], list[tuple[str, ast.AST]]]:
    counts: Counter[str] = Counter()
    reads: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            counts.update(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str):
            counts[node.slice.value] += 1
            if isinstance(node.ctx, ast.Load):
                reads.append((node.slice.value, node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "get", "pop", "setdefault") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            counts[node.args[0].value] += 1
        elif isinstance(node, ast.keyword) and node.arg:
            counts[node.arg] += 1  # dict(timeout=...) and model fields
    return counts, reads


def _vocabulary(tree: ast.Module) -> Counter[str]:
    """How often each word (identifier parts, words of string constants) occurs in the module."""
    words: Counter[str] = Counter()
    for node in ast.walk(tree):
        text = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                else node.arg if isinstance(node, ast.arg) else node.name if isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None)
        if text:
            words.update(w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", text))
    return words


def _typo_pair(a: str, b: str, words: Counter[str]) -> bool:
    """``a`` is a misspelling of ``b``: one word differs, that word occurs nowhere else in the module,
    starts with the same letter and is a near miss (``tiemout``/``timeout``, ``_roled``/``_rolled``);
    not ``get``/``set``, ``min``/``max``, plurals, ``_x``/``x`` or case variants."""
    plain_a, plain_b = a.lstrip("_"), b.lstrip("_")
    if plain_a.rstrip("s") == plain_b.rstrip("s") or plain_a.lower().replace("_", "") == plain_b.lower().replace(
            "_", ""):
        return False
    parts_a, parts_b = plain_a.split("_"), plain_b.split("_")
    if len(parts_a) != len(parts_b):
        return False
    differ = [(x, y) for x, y in zip(parts_a, parts_b, strict=True) if x != y]
    if len(differ) != 1:
        return False
    word, other = differ[0]
    if word.startswith(other) or other.startswith(word):  # close/closed, item/items: inflections
        return False
    return (len(word) >= 4 and word[:1] == other[:1] and words[word.lower()] <= 1 and words[other.lower()] >= 2
            and _near(word, other))


def _near(a: str, b: str) -> bool:
    """One or two edits apart, same length +-1, not a plural pair and not ``key1``/``key2``."""
    if a == b or a.rstrip("s") == b.rstrip("s") or abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 4:
        return False
    if a.rstrip("0123456789") == b.rstrip("0123456789"):
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.85


def dict_key_typos(file: str, tree: ast.Module) -> list[Diagnostic]:
    counts, reads = _string_keys(tree)
    words = _vocabulary(tree)
    found = []
    for key, node in reads:
        if counts[key] != 1 or not key.isidentifier():
            continue
        close = [other for other in counts if _typo_pair(key, other, words)]
        if len(close) == 1:
            found.append(_core(file, node, "DBG002", "dict-key-typo",
                               f"key '{key}' is read once; the module uses '{close[0]}' elsewhere", key,
                               f'did you mean "{close[0]}"?'))
    return found


def attribute_typos(file: str, tree: ast.Module) -> list[Diagnostic]:
    """An attribute read once in the module that is a near miss of one the module uses twice or more:
    what mypy cannot see on untyped objects (``self._file._roled`` for ``_rolled``)."""
    counts: Counter[str] = Counter()
    reads: dict[str, ast.Attribute] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            counts[node.attr] += 1
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(node.ctx, ast.Load) and isinstance(root, ast.Name) and root.id == "self":
                reads.setdefault(node.attr, node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            counts[node.name] += 1
    words = _vocabulary(tree)
    found = []
    for name, node in sorted(reads.items()):
        if counts[name] != 1 or name in _COMMON_ATTRS:
            continue
        close = [other for other, n in counts.items() if n >= 2 and _typo_pair(name, other, words)]
        if len(close) == 1:
            found.append(_core(file, node, "DBG004", "attribute-error",
                               f"attribute '{name}' is used once; the module uses '{close[0]}' "
                               f"{counts[close[0]]} times", name, f'did you mean "{close[0]}"?'))
    return found


_AWAITABLE_CALLS = frozenset({"run_in_executor", "wait_for", "gather", "to_thread", "sleep", "create_subprocess_exec",
                              "create_subprocess_shell", "open_connection"})


def unawaited_calls(file: str, tree: ast.Module) -> list[Diagnostic]:
    """``x = loop.run_in_executor(...)`` (and other asyncio calls returning awaitables) in an
    ``async def`` whose result is never awaited there: the value is a future, not its result."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        awaited = {n.value.id for n in ast.walk(function) if isinstance(n, ast.Await) and isinstance(n.value, ast.Name)}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                    isinstance(node.value.func, ast.Attribute) and node.value.func.attr in _AWAITABLE_CALLS and \
                    len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and \
                    node.targets[0].id not in awaited:
                found.append(_core(file, node.value, "DBG005", "missing-await",
                                   f"`{node.value.func.attr}(...)` returns an awaitable that is never awaited; "
                                   f"`{node.targets[0].id}` holds the future, not its result", node.value.func.attr,
                                   "add `await`"))
    return found


def _imports(tree: ast.Module) -> list[tuple[str, int, int, str]]:
    """(module, line, column, statement) of every module-level import (not inside functions)."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, node.col_offset, ast.unparse(node)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno, node.col_offset, ast.unparse(node)))
            out += [(f"{node.module}.{a.name}", node.lineno, node.col_offset, ast.unparse(node)) for a in node.names]
    return out


def import_cycles(trees: Mapping[str, ast.Module], report_for: set[str]) -> list[Diagnostic]:
    """``import-cycle`` findings for files of ``report_for`` that are on a module-level import cycle."""
    modules: dict[str, str] = {}
    for file in trees:
        path = Path(file)
        modules.setdefault(module_name(path, import_root(path)), file)
    graph: nx.DiGraph = nx.DiGraph()
    for file, tree in trees.items():
        for target, line, column, text in _imports(tree):
            other = modules.get(target)
            if other is not None and other != file and not graph.has_edge(file, other):
                graph.add_edge(file, other, line=line, column=column, text=text)
    found = []
    for file in sorted(report_for & set(graph)):
        best: list[str] | None = None
        for successor in sorted(graph.successors(file)):
            try:
                path = nx.shortest_path(graph, successor, file)
            except nx.NetworkXNoPath:
                continue
            if best is None or len(path) + 1 < len(best):
                best = [file, *path]
        if best is None:
            continue
        names = [module_name(Path(f), import_root(Path(f))) for f in best]
        edge = graph.edges[best[0], best[1]]
        links = ", ".join(f"{module_name(Path(a), import_root(Path(a)))} line {graph.edges[a, b]['line']}"
                          for a, b in itertools.pairwise(best))
        found.append(Diagnostic("core", "DBG003", file, edge["line"], edge["column"] + 1,
                                f"import cycle: {' -> '.join(names)} (imports at {links})", "warning", None,
                                f"move `{edge['text']}` into the function that uses it, or move the shared code "
                                "into a module both can import", "import-cycle", names[1]))
    return found


def relocate_missing_await(diag: Diagnostic, tree: ast.Module | None) -> Diagnostic:
    if tree is None or diag.tool != "mypy" or diag.rule != "missing-await" or diag.code == "unused-coroutine":
        return diag
    subject: str | None = None
    function: ast.AST | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.lineno <= diag.line <= (node.end_lineno or node.lineno):
            function = node  # innermost wins: ast.walk is breadth first
        if isinstance(node, ast.Name) and node.lineno == diag.line and node.col_offset + 1 == diag.column:
            subject = node.id
    if subject is None or function is None:
        return diag
    best: int | None = None
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.lineno < diag.line and any(
                isinstance(t, ast.Name) and t.id == subject for t in node.targets):
            best = max(best or 0, node.lineno)
    if best is None:
        return diag
    return diag.with_(line=best, end_line=best, moved_from=diag.line, column=1,
                      message=f"{diag.message} (`{subject}` is the un-awaited result of the call here)")
