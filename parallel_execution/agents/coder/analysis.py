"""Static checks on names: undefined names, missing imports, unresolvable imports, unused imports,
and call arity. The code being checked is parsed, never run.

- **Scopes** come from :mod:`symtable` (the compiler's own symbol table), so comprehension and
  class-body scoping are exactly Python's. A name used in some scope that resolves to the module
  scope, is bound nowhere there and is not a builtin is undefined. Annotations are checked as well
  (also string annotations): pydantic evaluates them at class creation.
- An undefined name that is a findable module (``sys``) or a well-known importable name (``Any``,
  ``BaseModel``) is reported as a **missing import** with the line to add.
- **Imports** are resolved with :class:`~.resolve.ImportResolver` (``from m import n`` also checks that
  ``m`` defines ``n``). Imports guarded by ``try/except ImportError`` are optional and skipped.
- **Call arity** is checked for calls whose target is known statically: module functions, classes
  with their own ``__init__``, ``self.method(...)`` within a class, and functions imported from
  modules with Python source. Calls with ``*args``/``**kwargs`` are skipped.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import collections.abc
import symtable
import typing
from collections.abc import Iterator

from parallel_execution.agents.coder.report import Check, issues_check
from parallel_execution.agents.coder.resolve import ImportResolver

__all__ = ["call_arity_check", "import_checks", "name_checks", "unused_imports_check"]

Issue = tuple[int, str]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

_BUILTINS = frozenset(dir(builtins))
_MODULE_DUNDERS = frozenset(
    {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
     "__path__", "__annotations__", "__dict__", "__cached__"}
)
_CLASS_DUNDERS = frozenset({"__module__", "__qualname__"})
_KNOWN_HOMES: dict[str, str] = {
    **{name: "typing" for name in typing.__all__},
    **{name: "collections.abc" for name in collections.abc.__all__},
    **dict.fromkeys(("BaseModel", "Field", "ConfigDict", "ValidationError", "field_validator",
                     "model_validator"), "pydantic"),
    **dict.fromkeys(("dataclass", "field"), "dataclasses"),
    **dict.fromkeys(("partial", "reduce", "wraps", "lru_cache", "cache"), "functools"),
    **dict.fromkeys(("defaultdict", "OrderedDict", "Counter", "deque", "namedtuple"), "collections"),
    **dict.fromkeys(("ABC", "abstractmethod"), "abc"),
    "Path": "pathlib",
    "Enum": "enum",
}
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


# ----------------------------------------------------------------------------- names


def name_checks(tree: ast.Module, source: str, filename: str, resolver: ImportResolver) -> list[Check]:
    """``undefined_names`` and ``missing_imports``."""
    table = symtable.symtable(source, filename, "exec")
    defined = _module_bindings(table)
    star_unknown: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            names = resolver.module_names(node.module or "") if node.level == 0 else None
            if names is None or names.open:
                star_unknown.append(node.module or "." * node.level)
            else:
                defined |= names.names
    if star_unknown:
        note = f"not checked: 'from {star_unknown[0]} import *' hides which names exist"
        return [Check(name=n, passed=False, severity="warning", message=note)
                for n in ("undefined_names", "missing_imports")]

    used = _referenced_globals(table) | _annotation_names(tree)
    unknown = sorted(used - defined - _BUILTINS - _MODULE_DUNDERS)
    first_line = _first_lines(tree)
    missing: list[Issue] = []
    undefined: list[Issue] = []
    for name in unknown:
        line = first_line.get(name, 1)
        home = _home_of(name, resolver)
        if home is None:
            undefined.append((line, f"name {name!r} is not defined"))
        elif home == name:
            missing.append((line, f"{name!r} is used but never imported: add 'import {name}'"))
        else:
            missing.append((line, f"{name!r} is used but never imported: add 'from {home} import {name}'"))
    return [
        issues_check("undefined_names", undefined, "every name used is defined, imported or a builtin"),
        issues_check("missing_imports", missing, "every module and library name used is imported"),
    ]


def _module_bindings(table: symtable.SymbolTable) -> set[str]:
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for child in _all_tables(table):
        bound |= {s.get_name() for s in child.get_symbols() if s.is_declared_global() and s.is_assigned()}
    return bound


def _referenced_globals(table: symtable.SymbolTable) -> set[str]:
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced() and not s.is_assigned()
            and not s.is_imported()}
    for child in _all_tables(table):
        allowed = _CLASS_DUNDERS if child.get_type() == "class" else frozenset()
        used |= {s.get_name() for s in child.get_symbols()
                 if s.is_referenced() and s.is_global() and s.get_name() not in allowed}
    return used


def _all_tables(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    for child in table.get_children():
        yield child
        yield from _all_tables(child)


def _annotation_names(tree: ast.Module) -> set[str]:
    """Names in annotations evaluated at definition time (module and class level, signatures)."""
    found: set[str] = set()
    class_locals: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                class_locals.add(node.name)
                class_locals.update(_stored_names(node.body))
                visit(node.body)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                    if arg is not None and arg.annotation is not None:
                        found.update(_names_in_annotation(arg.annotation))
                if node.returns is not None:
                    found.update(_names_in_annotation(node.returns))
            elif isinstance(node, ast.AnnAssign):
                found.update(_names_in_annotation(node.annotation))

    visit(tree.body)
    return found - class_locals


def _stored_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        for sub in ast.walk(node) if isinstance(node, (ast.Assign, ast.AnnAssign)) else ():
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
    return names


def _names_in_annotation(annotation: ast.expr) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(annotation):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                inner = ast.parse(sub.value.strip(), mode="eval")
            except SyntaxError:
                continue
            names |= {n.id for n in ast.walk(inner) if isinstance(n, ast.Name)}
    return names


def _first_lines(tree: ast.Module) -> dict[str, int]:
    lines: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            lines[node.id] = min(lines.get(node.id, node.lineno), node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and hasattr(node, "lineno"):
            for name in _names_in_annotation(node) if node.value.isidentifier() else ():
                lines.setdefault(name, node.lineno)
    return lines


def _home_of(name: str, resolver: ImportResolver) -> str | None:
    if resolver.find(name) is not None:
        return name
    return _KNOWN_HOMES.get(name)


# ----------------------------------------------------------------------------- imports


def import_checks(tree: ast.Module, resolver: ImportResolver) -> Check:
    """``imports_resolvable``: every (non-optional) import finds its module and names."""
    issues: list[Issue] = []
    for node in _required_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if resolver.find(alias.name) is None:
                    issues.append((node.lineno, f"No module named {alias.name!r}"))
            continue
        if node.level:
            issues.append((node.lineno, "relative import: the module is imported on its own, not as part "
                                        "of a package; use an absolute import"))
            continue
        module = node.module or ""
        if module == "__future__":
            bad = [a.name for a in node.names if a.name not in __future__.all_feature_names]
            issues.extend((node.lineno, f"future feature {name!r} is not defined") for name in bad)
            continue
        names = resolver.module_names(module)
        if names is None:
            issues.append((node.lineno, f"No module named {module!r}"))
            continue
        for alias in node.names:
            if alias.name != "*" and not names.has(alias.name) and not resolver.has_submodule(module, alias.name):
                issues.append((node.lineno, f"cannot import name {alias.name!r} from {module!r}"))
    return issues_check("imports_resolvable", issues, "every import resolves in this environment")


def _required_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports not guarded by ``try: ... except ImportError``."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Try, ast.TryStar)) and any(_catches_import_error(h) for h in node.handlers):
            optional |= {id(sub) for stmt in node.body for sub in ast.walk(stmt)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in optional:
            yield node


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in _IMPORT_ERRORS for k in kinds)


def unused_imports_check(tree: ast.Module) -> Check:
    """``unused_imports`` (a warning): imported names never referenced."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            used |= _names_in_annotation(node)  # string annotations and __all__ entries
    issues: list[Issue] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name != "*" and bound not in used:
                    issues.append((node.lineno, f"{bound!r} is imported but unused"))
    return issues_check("unused_imports", issues, "every import is used", severity="warning")


# ----------------------------------------------------------------------------- call arity


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
