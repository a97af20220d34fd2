"""What every check sees of one file: the source, its scopes, and how to emit a finding.

:class:`FileContext` bundles the parsed :class:`SourceFile`, its resolved
:class:`ModuleScopes` and the ``import_hints`` table (bound name -> the import statement the
project uses for it). ``qualified(expr)`` maps a call target through the file's imports to the
API it means (``sp.run`` -> ``subprocess.run``; ``None`` for local objects), so rules match
APIs rather than spellings. ``finding`` fills in severity, evidence snippet and enclosing scope.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from parallel_execution.agents.debug.model import Edit, Finding, Fix
from parallel_execution.agents.debug.rules import RULES
from parallel_execution.agents.debug.scopes import ModuleScopes
from parallel_execution.agents.debug.source import SourceFile, dotted_name

__all__ = ["FileContext", "import_fix", "replace_in_line"]


@dataclass(slots=True)
class FileContext:
    source: SourceFile
    scopes: ModuleScopes | None
    import_hints: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.source.path

    def qualified(self, expr: ast.AST) -> str | None:
        """The imported dotted name ``expr`` refers to, or ``None`` for local objects."""
        dotted = dotted_name(expr)
        if dotted is None or self.scopes is None:
            return None
        head = expr
        while isinstance(head, ast.Attribute):
            head = head.value
        assert isinstance(head, ast.Name)
        bindings = self.scopes.bindings_for(head)
        if bindings is None or not bindings:  # a builtin, or undefined (keep the spelling)
            return dotted
        imports = [b for b in bindings if b.kind == "import"]
        if len(imports) != len(bindings):
            return None
        binding = imports[0]
        if binding.imported is None:
            base = binding.module if binding.name != (binding.module or "").split(".")[0] else binding.name
        else:
            base = f"{binding.module}.{binding.imported}" if not binding.level else binding.imported
        rest = dotted.split(".", 1)[1] if "." in dotted else ""
        return f"{base}.{rest}" if rest else base or None

    def finding(self, rule: str, node: ast.AST | int, message: str, *, symbol: str | None = None,
                fix: Fix | None = None, column: int | None = None, evidence: str | None = None) -> Finding:
        """A finding at ``node`` (or a line number); ``column`` is a 0-based offset, stored 1-based."""
        if isinstance(node, int):
            line, end_line, col = node, node, column or 0
        else:
            line = getattr(node, "lineno", 1)
            end_line = getattr(node, "end_lineno", None) or line
            col = getattr(node, "col_offset", 0) if column is None else column
        return Finding(rule, RULES[rule].severity, self.path, line, col + 1, message,
                       evidence if evidence is not None else self.source.snippet(line), end_line, symbol,
                       self.source.scope_at(line), fix)


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
