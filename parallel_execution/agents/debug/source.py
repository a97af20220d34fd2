"""One Python source file, read and parsed once, with the lookups every check needs.

Only regular files are read (``analysis.files.read_regular``: ``O_NONBLOCK`` + ``fstat``), so a
FIFO or device named ``*.py`` never blocks. Reading follows the interpreter: the encoding comes from the BOM or the ``coding:`` cookie
(``tokenize.detect_encoding``), so a Latin-1 file is analysed rather than rejected. A file that
does not parse is still a :class:`SourceFile` (``tree`` is ``None`` and ``error`` holds the
``SyntaxError``): the syntax error is itself the most useful finding. Scope errors that only the
compiler's symbol table reports (``nonlocal`` at module level, duplicate arguments) are found
with :mod:`symtable`, which, unlike ``compile``, never prints warnings.

Helpers: ``nodes`` (every node, walked once) and ``parents`` (child -> parent), ``scope_at(line)`` (qualified name
of the innermost function containing a line) and ``snippet(line)`` for evidence.
"""

from __future__ import annotations

import ast
import bisect
import symtable
from dataclasses import dataclass, field
from pathlib import Path

from parallel_execution.analysis import astsafe
from parallel_execution.analysis.engine import decode_source
from parallel_execution.analysis.files import MAX_SOURCE_BYTES, read_regular

__all__ = ["MAX_SOURCE_BYTES", "SourceFile", "dotted_name", "parse_source", "read_source"]


@dataclass(slots=True)
class SourceFile:
    path: str
    text: str
    lines: list[str]
    tree: ast.Module | None
    error: SyntaxError | None = None
    _nodes: list[ast.AST] | None = field(default=None, repr=False)
    _parents: dict[ast.AST, ast.AST] | None = field(default=None, repr=False)
    _functions: list[tuple[int, int, str]] | None = field(default=None, repr=False)

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def snippet(self, line: int, limit: int = 200) -> str:
        text = self.line_text(line).strip()
        return text if len(text) <= limit else text[: limit - 3] + "..."

    @property
    def nodes(self) -> list[ast.AST]:
        """Every node of the tree, breadth first (walked once, shared by all checks)."""
        if self._nodes is None:
            self._nodes, self._parents = [], {}
            if self.tree is not None:
                queue: list[ast.AST] = [self.tree]
                for node in queue:  # the list grows while it is read: a breadth-first walk
                    for child in ast.iter_child_nodes(node):
                        self._parents[child] = node
                        queue.append(child)
                self._nodes = queue
        return self._nodes

    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        if self._parents is None:
            self.nodes  # noqa: B018 - builds both
        assert self._parents is not None
        return self._parents

    def functions(self) -> list[tuple[int, int, str]]:
        """(first line, last line, qualified name) of every def, sorted by first line."""
        if self._functions is None:
            found: list[tuple[int, int, str]] = []
            if self.tree is not None:
                _collect_functions(self.tree, "", found)
            self._functions = sorted(found)
        return self._functions

    def scope_at(self, line: int) -> str | None:
        """The innermost function whose body spans ``line`` (``Class.method``), or ``None``."""
        functions = self.functions()
        best: tuple[int, int, str] | None = None
        end = bisect.bisect_right(functions, (line, 1 << 30, ""))
        for start, stop, name in functions[:end]:
            if start <= line <= stop and (best is None or start >= best[0]):
                best = (start, stop, name)
        return best[2] if best else None


def _collect_functions(node: ast.AST, prefix: str, out: list[tuple[int, int, str]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            qualname = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                out.append((first, child.end_lineno or child.lineno, qualname))
                _collect_functions(child, f"{qualname}.<locals>.", out)
            else:
                _collect_functions(child, f"{qualname}.", out)
        else:
            _collect_functions(child, prefix, out)


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attribute accesses on a name, else ``None``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def parse_source(path: str, text: str, *, scope_check: bool = True) -> SourceFile:
    """Parse ``text``; a syntax (or symbol-table) error is recorded, not raised."""
    lines = text.splitlines()
    try:
        tree = astsafe.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # ValueError: null bytes; RecursionError: nesting the interpreter cannot compile either
        error = exc if isinstance(exc, SyntaxError) else SyntaxError(
            f"{type(exc).__name__}: {exc}", (path, 1, 1, lines[0] if lines else "", 1, 1))
        return SourceFile(path, text, lines, None, error)
    source = SourceFile(path, text, lines, tree)
    if scope_check:
        try:
            symtable.symtable(text, path, "exec")
        except SyntaxError as exc:
            source.error = exc
        except (RecursionError, MemoryError):
            pass  # the parse succeeded; the checks below cope or report
    return source


def read_source(path: Path, *, scope_check: bool = True) -> SourceFile:
    """Read and parse a *regular* file (a FIFO named ``x.py`` is refused, never opened blocking).

    Raises ``OSError`` (``NotRegularFile`` included) or ``ValueError`` (too large, undecodable)."""
    text = decode_source(read_regular(path, MAX_SOURCE_BYTES))
    return parse_source(str(path), text, scope_check=scope_check)
