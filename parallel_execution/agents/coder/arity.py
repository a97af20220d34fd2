"""Call arity: calls to statically known functions must bind to their signature.

Checked targets: module-level functions, classes with their own ``__init__`` (or none and no
bases), ``self.method(...)``/``cls.method(...)`` inside a class, and functions imported from
modules with Python source (``from m import f``; ``import m`` then ``m.f(...)``). A name bound more
than once at module level, shadowed by a local, decorated, or called with ``*args``/``**kwargs``
is skipped: a false alarm would reject good code. Messages are Python's own ``TypeError`` text.
"""

from __future__ import annotations

import ast

from parallel_execution.agents.coder.report import Check, issues_check
from parallel_execution.agents.coder.resolve import ImportResolver

__all__ = ["call_arity_check"]

Issue = tuple[int, str]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef



def call_arity_check(tree: ast.Module, resolver: ImportResolver) -> Check:
    """``call_arity``: calls to statically known functions pass arguments their signature accepts."""
    return issues_check("call_arity", _ArityVisitor(tree, resolver).run(),
                        "every call to a known function matches its signature")


class _ArityVisitor(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, resolver: ImportResolver) -> None:
        self.tree = tree
        self.issues: list[Issue] = []
        self.functions: dict[str, tuple[FunctionNode, bool]] = {}  # name -> (def, drops first param)
        self.modules: dict[str, str] = {}  # local alias -> module, for ``mod.func(...)``
        self.local_stack: list[set[str]] = []
        self.class_stack: list[dict[str, tuple[FunctionNode, bool]]] = []
        self.resolver = resolver
        self._collect_module_targets(resolver)

    def run(self) -> list[Issue]:
        self.visit(self.tree)
        return self.issues

    def _collect_module_targets(self, resolver: ImportResolver) -> None:
        counts: dict[str, int] = {}
        for node in self.tree.body:
            for name in _bound_names(node):
                counts[name] = counts.get(name, 0) + 1
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.decorator_list:
                self.functions[node.name] = (node, False)
            elif isinstance(node, ast.ClassDef) and _plain_class(node):
                init = _class_methods(node).get("__init__")
                if init is not None:
                    self.functions[node.name] = init
                elif not node.bases:
                    self.functions[node.name] = (_NO_ARGS, True)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = resolver.module_names(node.module)
                for alias in node.names:
                    target = names.functions.get(alias.name) if names else None
                    if target is not None:
                        self.functions[alias.asname or alias.name] = (target, False)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname or "." not in alias.name:
                        self.modules[alias.asname or alias.name] = alias.name
        self.functions = {k: v for k, v in self.functions.items() if counts.get(k, 0) <= 1}

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.class_stack.append(_class_methods(node))
        self.generic_visit(node)
        self.class_stack.pop()

    def visit_FunctionDef(self, node: FunctionNode) -> None:
        self.local_stack.append(_function_locals(node))
        methods = self.class_stack[-1] if self.class_stack else {}
        self.class_stack.append(methods)  # ``self`` inside nested defs still means the class
        self.generic_visit(node)
        self.class_stack.pop()
        self.local_stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return
        target = self._target(node.func)
        if target is not None:
            label, (definition, bound) = target
            message = _arity_problem(label, definition, bound, node)
            if message:
                self.issues.append((node.lineno, message))

    def _target(self, func: ast.expr) -> tuple[str, tuple[FunctionNode, bool]] | None:
        local: set[str] = set().union(*self.local_stack)
        if isinstance(func, ast.Name) and func.id not in local and func.id in self.functions:
            return func.id, self.functions[func.id]
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in ("self", "cls") and self.class_stack and func.attr in self.class_stack[-1]:
                return f"{owner}.{func.attr}", self.class_stack[-1][func.attr]
            if owner in self.modules and owner not in local:
                names = self.resolver.module_names(self.modules[owner])
                definition = names.functions.get(func.attr) if names else None
                if definition is not None:
                    return f"{owner}.{func.attr}", (definition, False)
        return None


_NO_ARGS: FunctionNode = ast.parse("def __init__(self): pass").body[0]  # type: ignore[assignment]


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [a.asname or a.name.split(".")[0] for a in node.names]
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def _plain_class(node: ast.ClassDef) -> bool:
    """A class whose call simply runs its own ``__init__`` (no decorators, metaclass or Protocol)."""
    base_names = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "?"
                  for b in node.bases}
    special = {"Protocol", "Enum", "IntEnum", "StrEnum", "Flag", "NamedTuple", "TypedDict", "?"}
    return not node.decorator_list and not node.keywords and not (base_names & special)


def _class_methods(node: ast.ClassDef) -> dict[str, tuple[FunctionNode, bool]]:
    methods: dict[str, tuple[FunctionNode, bool]] = {}
    for item in node.body:
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        decorators = {d.id for d in item.decorator_list if isinstance(d, ast.Name)}
        if len(decorators) != len(item.decorator_list) or decorators - {"staticmethod", "classmethod"}:
            continue
        methods[item.name] = (item, "staticmethod" not in decorators)
    return methods


def _function_locals(node: FunctionNode) -> set[str]:
    args = node.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            names.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in sub.names}
    return names


def _arity_problem(label: str, definition: FunctionNode, bound: bool, call: ast.Call) -> str | None:
    """Python's own TypeError text for a call that cannot bind, else None."""
    args = definition.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    defaults = len(args.defaults)
    posonly = {a.arg for a in args.posonlyargs}
    if bound and positional:
        positional, posonly = positional[1:], posonly - {positional[0]}
        defaults = min(defaults, len(positional))
    required = positional[: len(positional) - defaults] if defaults else positional
    given = len(call.args)
    if given > len(positional) and args.vararg is None:
        return f"{label}() takes {len(positional)} positional argument(s) but {given} were given"
    filled = set(positional[:given])
    keyword_names = {a.arg for a in args.kwonlyargs}
    for keyword in call.keywords:
        name = keyword.arg or ""
        if name in filled:
            return f"{label}() got multiple values for argument {name!r}"
        unknown = name in posonly or (name not in positional and name not in keyword_names)
        if unknown and args.kwarg is None:
            return f"{label}() got an unexpected keyword argument {name!r}"
        filled.add(name)
    missing = [name for name in required if name not in filled]
    if missing:
        listed = ", ".join(repr(m) for m in missing)
        return f"{label}() missing {len(missing)} required positional argument(s): {listed}"
    missing_kw = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                  if d is None and a.arg not in filled]
    if missing_kw:
        listed = ", ".join(repr(m) for m in missing_kw)
        return f"{label}() missing {len(missing_kw)} required keyword-only argument(s): {listed}"
    return None
