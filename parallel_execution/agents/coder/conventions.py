"""ONEX convention checks: node class and models (moderate), purity, type hints, docstrings (strict).

Moderate level (names and shapes):

- ``node_class``: the module defines ``Node<Pascal><Type>`` (exactly that name when the node name
  is known, else any ``Node...<Type>`` class).
- ``io_models``: ``Model<Pascal>Input`` and ``Model<Pascal>Output`` exist and subclass something
  (strict level confirms at import time that they are pydantic models).
- ``entry_point``: the node type's one entry point, with the right ``async``-ness and number of
  required parameters; an Effect's also takes a timeout and a retry-policy parameter.

Strict level (discipline):

- ``purity`` (Compute and Reducer only): no I/O modules (``os``, ``socket``, ``subprocess``,
  ``requests``, ``httpx``, database drivers, ...), no ``open``/``print``/``input``, no file-method
  calls, no subprocess/network helpers of ``asyncio``, no ``global`` and no ``async def``.
- ``type_hints``: every public function and method annotates its parameters and return.
- ``docstrings``: the module, public classes, public functions and methods have docstrings.
"""

from __future__ import annotations

import ast
import re

from parallel_execution.agents.coder.naming import ENTRY_POINTS, NodeNames
from parallel_execution.agents.coder.report import Check, issues_check

__all__ = ["FORBIDDEN_PURE_MODULES", "find_node_class", "moderate_checks", "strict_checks"]

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

FORBIDDEN_PURE_MODULES = frozenset({
    "os", "socket", "subprocess", "requests", "httpx", "aiohttp", "urllib3", "urllib.request",
    "http.client", "http.server", "asyncio.subprocess", "asyncpg", "psycopg", "psycopg2", "sqlite3",
    "pymongo", "redis", "sqlalchemy", "boto3", "shutil", "tempfile", "pathlib", "io", "ssl",
    "select", "selectors", "signal", "multiprocessing", "ftplib", "smtplib", "mmap",
})
_IMPURE_BUILTINS = frozenset({"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"})
_FILE_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes", "unlink", "mkdir",
                           "rmdir", "touch", "rename", "replace_file", "open"})
_ASYNCIO_IO = frozenset({"create_subprocess_exec", "create_subprocess_shell", "open_connection",
                         "start_server", "open_unix_connection", "start_unix_server"})


def find_node_class(tree: ast.Module, node_type: str, names: NodeNames | None) -> ast.ClassDef | None:
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    if names is not None:
        return next((c for c in classes if c.name == names.class_name), None)
    pattern = re.compile(rf"^Node[A-Z0-9]\w*{node_type}$")
    return next((c for c in classes if pattern.match(c.name)), None)


def moderate_checks(tree: ast.Module, node_type: str, names: NodeNames | None) -> list[Check]:
    """``node_class``, ``io_models``, ``entry_point``."""
    node_class = find_node_class(tree, node_type, names)
    expected = names.class_name if names else f"Node<Name>{node_type}"
    if node_class is None:
        found = ", ".join(n.name for n in tree.body if isinstance(n, ast.ClassDef)) or "none"
        missing = f"no class {expected} (classes defined: {found})"
        return [
            Check(name="node_class", passed=False, message=missing),
            Check(name="io_models", passed=False, message=f"not checked: {missing}"),
            Check(name="entry_point", passed=False, message=f"not checked: {missing}"),
        ]
    pascal = node_class.name[len("Node"): -len(node_type)]
    return [
        Check(name="node_class", passed=True, message=f"{node_class.name} defined", line=node_class.lineno),
        _io_models(tree, pascal),
        _entry_point(node_class, node_type),
    ]


def _io_models(tree: ast.Module, pascal: str) -> Check:
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    issues: list[tuple[int, str]] = []
    for model in (f"Model{pascal}Input", f"Model{pascal}Output"):
        node = classes.get(model)
        if node is None:
            issues.append((1, f"no class {model}"))
        elif not node.bases:
            issues.append((node.lineno, f"{model} must subclass pydantic BaseModel"))
    return issues_check("io_models", issues, f"Model{pascal}Input and Model{pascal}Output defined")


def _entry_point(node_class: ast.ClassDef, node_type: str) -> Check:
    spec = ENTRY_POINTS[node_type]
    method = next((m for m in node_class.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and m.name == spec.method), None)
    shape = f"{'async ' if spec.is_async else ''}def {spec.method}(self, {', '.join(spec.params)})"
    if method is None:
        return Check(name="entry_point", passed=False, message=f"{node_class.name} has no {shape}",
                     line=node_class.lineno)
    problems: list[str] = []
    if isinstance(method, ast.AsyncFunctionDef) != spec.is_async:
        problems.append(f"must be {'async' if spec.is_async else 'a plain (not async)'} method")
    if method.decorator_list:
        problems.append("must be a plain instance method (no decorators)")
    args = method.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    required = positional[1: len(positional) - len(args.defaults)]
    kw_required = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    if len(required) != len(spec.params) or kw_required:
        got = ", ".join(required + kw_required) or "nothing"
        problems.append(f"must take exactly {len(spec.params)} required argument(s) after self "
                        f"({', '.join(spec.params)}), takes {got}")
    if node_type == "Effect":
        optional = positional[len(positional) - len(args.defaults):] if args.defaults else []
        optional += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for needed in ("timeout", "retry"):
            if not any(needed in name for name in optional):
                problems.append(f"must take an optional {needed} parameter (e.g. {needed}"
                                f"{'_seconds' if needed == 'timeout' else '_policy'}=...)")
    if problems:
        return Check(name="entry_point", passed=False, line=method.lineno,
                     message=f"{node_class.name}.{spec.method} " + "; ".join(problems))
    return Check(name="entry_point", passed=True, line=method.lineno,
                 message=f"{node_class.name}.{spec.method} follows the {node_type} convention")


def strict_checks(tree: ast.Module, node_type: str) -> list[Check]:
    """``purity`` (Compute/Reducer), ``type_hints``, ``docstrings``."""
    checks = []
    if node_type in ("Compute", "Reducer"):
        checks.append(issues_check("purity", _impurities(tree), f"{node_type} code has no I/O"))
    checks.append(issues_check("type_hints", _missing_hints(tree), "public signatures are annotated"))
    checks.append(issues_check("docstrings", _missing_docstrings(tree), "module, public classes and "
                               "functions have docstrings"))
    return checks


def _forbidden(module: str) -> str | None:
    parts = module.split(".")
    return next((".".join(parts[:i]) for i in range(1, len(parts) + 1)
                 if ".".join(parts[:i]) in FORBIDDEN_PURE_MODULES), None)


def _impurities(tree: ast.Module) -> list[tuple[int, str]]:
    issues: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if bad := _forbidden(alias.name):
                    issues.append((node.lineno, f"imports {bad!r} (I/O is not allowed here)"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if bad := next((b for m in modules if (b := _forbidden(m))), None):
                issues.append((node.lineno, f"imports from {bad!r} (I/O is not allowed here)"))
            elif node.module == "asyncio" and (names := {a.name for a in node.names} & _ASYNCIO_IO):
                issues.append((node.lineno, f"imports asyncio.{min(names)} (subprocess/network I/O)"))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _IMPURE_BUILTINS:
                issues.append((node.lineno, f"calls {func.id}() (I/O or dynamic code)"))
            elif isinstance(func, ast.Attribute) and func.attr in _FILE_METHODS:
                issues.append((node.lineno, f"calls .{func.attr}() (file I/O)"))
            elif isinstance(func, ast.Attribute) and func.attr in _ASYNCIO_IO:
                issues.append((node.lineno, f"calls .{func.attr}() (subprocess/network I/O)"))
        elif isinstance(node, ast.Global):
            issues.append((node.lineno, f"declares global {', '.join(node.names)} (mutates module state)"))
        elif isinstance(node, ast.AsyncFunctionDef):
            issues.append((node.lineno, f"async def {node.name} (async code implies I/O)"))
    return issues


def _public_functions(tree: ast.Module) -> list[tuple[FunctionNode, bool]]:
    """Public functions and methods of public classes, with whether they are methods."""
    found: list[tuple[FunctionNode, bool]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found.append((node, False))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found.extend(
                (item, True) for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and (not item.name.startswith("_") or item.name in ("__init__", "__call__"))
            )
    return found


def _missing_hints(tree: ast.Module) -> list[tuple[int, str]]:
    issues: list[tuple[int, str]] = []
    for func, is_method in _public_functions(tree):
        args = func.args
        params = [*args.posonlyargs, *args.args]
        static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list)
        if is_method and not static and params:
            params = params[1:]
        params += [*args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a is not None)]
        unannotated = [p.arg for p in params if p.annotation is None]
        if unannotated:
            issues.append((func.lineno, f"{func.name}(): parameter(s) {', '.join(unannotated)} not annotated"))
        if func.returns is None and func.name != "__init__":
            issues.append((func.lineno, f"{func.name}(): return type not annotated"))
    return issues


def _missing_docstrings(tree: ast.Module) -> list[tuple[int, str]]:
    issues: list[tuple[int, str]] = []
    if ast.get_docstring(tree) is None:
        issues.append((1, "module has no docstring"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and ast.get_docstring(node) is None:
            issues.append((node.lineno, f"class {node.name} has no docstring"))
    for func, _ in _public_functions(tree):
        if not func.name.startswith("__") and ast.get_docstring(func) is None:
            issues.append((func.lineno, f"{func.name}() has no docstring"))
    return issues
