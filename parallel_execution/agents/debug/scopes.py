"""Name binding and resolution for one module, following Python's scoping rules.

Two phases. :class:`_Builder` walks the tree once, creating a :class:`Scope` per module,
class, function, lambda and comprehension, recording every binding (assignments, parameters,
imports, defs, ``except ... as``, ``match`` captures, walrus targets in the enclosing function)
and every name load. Then each load is resolved the way the interpreter does it: the own scope,
enclosing *function* scopes (class bodies are skipped), the module, builtins; ``global`` and
``nonlocal`` redirect. Like pyflakes, a binding anywhere in a scope counts for the whole scope,
so the result has no flow-sensitivity and no false "undefined" reports for late definitions.

What callers get (:class:`ModuleScopes`): for every load its bindings (``None`` = builtin, empty
= unresolved), the unresolved loads (minus ones guarded by ``except NameError``), and every
import binding with a ``used`` flag. Strings inside annotations are parsed so names used only in
``"Foo"`` annotations count as used, but are never reported as undefined.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from parallel_execution.analysis import astsafe

__all__ = ["Binding", "ModuleScopes", "Scope", "Use", "analyse_scopes"]

ScopeKind = Literal["module", "class", "function", "lambda", "comprehension"]
BUILTINS = frozenset(dir(builtins)) | {
    "__file__", "__name__", "__doc__", "__builtins__", "__spec__", "__loader__", "__package__",
    "__path__", "__annotations__", "__cached__", "__class__", "__qualname__", "__module__",
    "__debug__", "WindowsError",
}


@dataclass(eq=False, slots=True)
class Binding:
    name: str
    kind: Literal["import", "def", "class", "param", "assign"]
    node: ast.AST
    scope: Scope
    line: int
    column: int
    module: str | None = None  # imports: the module text as written ("os.path", "utils")
    level: int = 0  # imports: relative level (from .. import x -> 2)
    imported: str | None = None  # from-imports: the attribute imported
    guarded: bool = False  # import inside try/except ImportError (an availability probe)
    used: bool = False


@dataclass(eq=False, slots=True)
class Scope:
    kind: ScopeKind
    name: str
    qualname: str
    node: ast.AST
    parent: Scope | None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    global_names: set[str] = field(default_factory=set)
    nonlocal_names: set[str] = field(default_factory=set)
    star_import: bool = False

    def bind(self, binding: Binding) -> None:
        self.bindings.setdefault(binding.name, []).append(binding)

    def function(self) -> str | None:
        """Qualified name of the function this scope belongs to (``None`` at module level)."""
        scope: Scope | None = self
        while scope is not None and scope.kind not in ("function", "lambda"):
            scope = scope.parent
        return scope.qualname if scope is not None else None


@dataclass(frozen=True, slots=True)
class Use:
    name: str
    node: ast.Name
    scope: Scope
    guarded: bool  # inside ``try`` whose handler catches NameError
    soft: bool  # from a string annotation: counts as a use, never reported


@dataclass(slots=True)
class ModuleScopes:
    module: Scope
    scopes: dict[ast.AST, Scope]  # node that opens a scope -> the scope
    uses: list[Use]
    resolved: dict[ast.Name, list[Binding] | None]
    unresolved: list[Use]
    imports: list[Binding]

    def scope_of(self, node: ast.AST) -> Scope | None:
        return self.scopes.get(node)

    def bindings_for(self, name: ast.Name) -> list[Binding] | None:
        """What a loaded name refers to: bindings, ``None`` for a builtin, ``[]`` if unknown."""
        return self.resolved.get(name, [])

    def visible_names(self, scope: Scope) -> set[str]:
        names: set[str] = set()
        current: Scope | None = scope
        while current is not None:
            if current is scope or current.kind != "class":
                names.update(current.bindings)
            current = current.parent
        return names


class _Builder(ast.NodeVisitor):
    def __init__(self, tree: ast.Module) -> None:
        self.module = Scope("module", "<module>", "", tree, None)
        self.scope = self.module
        self.scopes: dict[ast.AST, Scope] = {tree: self.module}
        self.uses: list[Use] = []
        self.imports: list[Binding] = []
        self.name_guard = 0
        self.import_guard = 0
        self.soft = False

    # -- helpers -------------------------------------------------------------------------------
    def _open(self, kind: ScopeKind, name: str, node: ast.AST) -> Scope:
        prefix = self.scope.qualname
        if self.scope.kind in ("function", "lambda"):
            prefix += ".<locals>"
        qualname = f"{prefix}.{name}" if prefix else name
        scope = Scope(kind, name, qualname, node, self.scope)
        self.scopes[node] = scope
        return scope

    def _bind(self, name: str, kind: Literal["def", "class", "param", "assign"], node: ast.AST,
              scope: Scope | None = None) -> None:
        target = scope or self.scope
        if name in target.global_names:
            target = self.module
        elif name in target.nonlocal_names:
            return
        target.bind(Binding(name, kind, node, target, getattr(node, "lineno", 1),
                            getattr(node, "col_offset", 0)))

    def _visit_in(self, scope: Scope, nodes: Iterable[ast.AST | None]) -> None:
        saved, self.scope = self.scope, scope
        for node in nodes:
            if node is not None:
                self.visit(node)
        self.scope = saved

    def _annotation(self, node: ast.AST | None) -> None:
        if node is None:
            return
        self.visit(node)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                try:
                    parsed = astsafe.parse(sub.value.strip(), mode="eval")
                except SyntaxError:
                    continue
                saved, self.soft = self.soft, True
                for name in ast.walk(parsed):
                    if isinstance(name, ast.Name):
                        self.uses.append(Use(name.id, name, self.scope, True, True))
                self.soft = saved

    # -- scopes ----------------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        args = node.args
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for arg in [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]:
            if arg is not None:
                self._annotation(arg.annotation)
        self._annotation(node.returns)
        self._bind(node.name, "def", node)
        scope = self._open("function", node.name, node)
        self._params(scope, args)
        self._visit_in(scope, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        scope = self._open("lambda", "<lambda>", node)
        self._params(scope, node.args)
        self._visit_in(scope, [node.body])

    def _params(self, scope: Scope, args: ast.arguments) -> None:
        for arg in [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]:
            if arg is not None:
                scope.bind(Binding(arg.arg, "param", arg, scope, arg.lineno, arg.col_offset))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        self._bind(node.name, "class", node)
        scope = self._open("class", node.name, node)
        self._visit_in(scope, node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       results: list[ast.expr]) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # evaluated in the enclosing scope
        scope = self._open("comprehension", "<comprehension>", node)
        saved, self.scope = self.scope, scope
        for index, generator in enumerate(node.generators):
            if index:
                self.visit(generator.iter)
            self.visit(generator.target)
            for condition in generator.ifs:
                self.visit(condition)
        for result in results:
            self.visit(result)
        self.scope = saved
        del rest

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp  # type: ignore[assignment]
    visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    # -- bindings --------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.uses.append(Use(node.id, node, self.scope, self.name_guard > 0, self.soft))
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id, "assign", node)
        else:  # del x: a use, not a binding
            self.uses.append(Use(node.id, node, self.scope, True, True))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.uses.append(Use(node.target.id, node.target, self.scope, self.name_guard > 0, False))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        self._bind(node.target.id, "assign", node.target, scope)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.global_names.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.nonlocal_names.update(node.names)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            self._import(Binding(bound, "import", node, self.scope, node.lineno, node.col_offset,
                                 module=alias.name, guarded=self.import_guard > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.scope.star_import = True
                continue
            self._import(Binding(alias.asname or alias.name, "import", node, self.scope, node.lineno,
                                 node.col_offset, module=node.module or "", level=node.level,
                                 imported=alias.name, guarded=self.import_guard > 0))

    def _import(self, binding: Binding) -> None:
        target = self.module if binding.name in self.scope.global_names else self.scope
        binding.scope = target
        target.bind(binding)
        self.imports.append(binding)

    def visit_Try(self, node: ast.Try | ast.TryStar) -> None:
        caught = {name for handler in node.handlers for name in _handler_names(handler)}
        name_guard = bool(caught & {"NameError", "Exception", "BaseException"} or
                          any(h.type is None for h in node.handlers))
        import_guard = bool(caught & {"ImportError", "ModuleNotFoundError", "Exception"})
        self.name_guard += name_guard
        self.import_guard += import_guard
        for statement in node.body:
            self.visit(statement)
        self.name_guard -= name_guard
        self.import_guard -= import_guard
        for part in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(part)

    visit_TryStar = visit_Try

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name, "assign", node)
        for statement in node.body:
            self.visit(statement)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._bind(node.name, "assign", node)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._bind(node.name, "assign", node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._bind(node.rest, "assign", node)
        self.generic_visit(node)


def _handler_names(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return set()
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {t.id if isinstance(t, ast.Name) else t.attr for t in types if isinstance(t, (ast.Name, ast.Attribute))}


def _lookup(name: str, scope: Scope, module: Scope) -> list[Binding] | None:
    if name in scope.global_names:
        found = module.bindings.get(name)
    elif name in scope.nonlocal_names:
        found = _enclosing(name, scope.parent)
    elif name in scope.bindings:
        return scope.bindings[name]
    else:
        found = _enclosing(name, scope.parent)
    if found:
        return found
    return None if name in BUILTINS else []


def _enclosing(name: str, scope: Scope | None) -> list[Binding]:
    while scope is not None:
        if scope.kind != "class" and name in scope.bindings:
            return scope.bindings[name]
        scope = scope.parent
    return []


def analyse_scopes(tree: ast.Module) -> ModuleScopes:
    """Build scopes for ``tree`` and resolve every name load in it."""
    builder = _Builder(tree)
    builder.visit(tree)
    module = builder.module
    exported = _dunder_all(tree)
    for name in exported:
        for binding in module.bindings.get(name, []):
            binding.used = True
    resolved: dict[ast.Name, list[Binding] | None] = {}
    unresolved: list[Use] = []
    for use in builder.uses:
        found = _lookup(use.name, use.scope, module)
        resolved[use.node] = found
        if found:
            for binding in found:
                binding.used = True
        elif found is not None and not use.guarded and not use.soft and not module.star_import:
            unresolved.append(use)
    return ModuleScopes(module, builder.scopes, builder.uses, resolved, unresolved, builder.imports)


def _dunder_all(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        value = getattr(node, "value", None)
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and isinstance(
                value, (ast.List, ast.Tuple)):
            names += [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return names
