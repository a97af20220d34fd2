"""Per-file static checks: syntax, names and imports, async misuse, error handling, defaults.

Each rule family is one small function taking a :class:`FileContext` (see ``context``: the
parsed source, its resolved scopes, the project's ``import_hints``, and ``qualified(expr)`` for
matching APIs through imports) and returning findings; :data:`FAMILIES` lists them and
:func:`check_file` runs them all. Security rules live in ``security``; rules that need other
modules (call arity, missing await, imports, cycles) in ``calls``.

* ``syntax-error``: the parser's error, the symbol table's (via ``source``), and what only the
  compiler rejects: ``await``/``async for``/``async with`` outside ``async def``, ``return``/``yield``
  outside a function, ``break``/``continue`` outside a loop.
* An undefined name becomes ``missing-import`` when an import for it is known (another analysed
  file imports it, it is a standard-library module, or a common standard-library member such as
  ``Path``), with the import statement as a mechanical fix; otherwise ``undefined-name`` with a
  "did you mean" from the names visible there. ``unused-import`` skips ``__init__.py``, ``__all__``,
  ``import x as x`` and availability probes (``try: import x except ImportError``).
* ``blocking-call-in-async`` (``time.sleep``, ``requests.*``, ``subprocess.run`` ... directly in an
  ``async def`` body), ``bare-except``, ``swallowed-exception`` (``except Exception: pass``),
  ``mutable-default``, ``none-comparison``.
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from collections.abc import Callable

from parallel_execution.agents.debug.context import FileContext, import_fix, replace_in_line
from parallel_execution.agents.debug.model import Edit, Finding, Fix
from parallel_execution.agents.debug.scopes import BUILTINS
from parallel_execution.agents.debug.security import security
from parallel_execution.agents.debug.source import dotted_name

__all__ = ["FAMILIES", "check_file"]

_COMMON_MEMBERS = {
    "typing": ("Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "Callable", "Iterable",
               "Iterator", "Sequence", "Mapping", "TypeVar", "Generic", "Literal", "cast", "TYPE_CHECKING"),
    "collections": ("defaultdict", "OrderedDict", "Counter", "deque", "namedtuple"),
    "functools": ("partial", "wraps", "lru_cache", "cache", "reduce", "cached_property"),
    "pathlib": ("Path", "PurePath"),
    "dataclasses": ("dataclass", "field", "asdict"),
    "datetime": ("timedelta", "timezone"),
    "enum": ("Enum", "IntEnum"),
    "abc": ("ABC", "abstractmethod"),
    "contextlib": ("contextmanager", "asynccontextmanager", "suppress"),
    "itertools": ("chain", "groupby", "islice"),
}
_MEMBER_IMPORTS = {name: f"from {module} import {name}" for module, names in _COMMON_MEMBERS.items()
                   for name in names}
_BLOCKING = frozenset({
    "time.sleep", "os.system", "os.popen", "input", "urllib.request.urlopen",
    "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
})
_BLOCKING_MODULES = ("requests.", "httpx.")
_NON_BLOCKING_ATTRS = {"Session", "AsyncClient", "Client", "Request", "codes", "exceptions", "HTTPError"}
_MUTABLE_CALLS = frozenset({"list", "dict", "set", "bytearray", "collections.defaultdict",
                            "collections.OrderedDict", "collections.Counter", "collections.deque"})


# -- rule families -----------------------------------------------------------------------------

def syntax(ctx: FileContext) -> list[Finding]:
    error = ctx.source.error
    if error is None:
        return _misplaced(ctx)
    line = error.lineno or 1
    message = f"{type(error).__name__}: {error.msg}"
    return [ctx.finding("syntax-error", line, message, column=max((error.offset or 1) - 1, 0),
                        fix=Fix(f"fix the syntax at line {line}: {error.msg}"))]


_MISPLACED = (ast.Await, ast.AsyncFor, ast.AsyncWith, ast.Return, ast.Yield, ast.YieldFrom, ast.Break, ast.Continue)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _misplaced(ctx: FileContext) -> list[Finding]:
    """Statements the parser accepts but the compiler rejects (``await`` outside ``async def``)."""
    found: list[Finding] = []
    parents = ctx.source.parents
    for node in ctx.source.nodes:
        if not isinstance(node, _MISPLACED):
            continue
        function: ast.AST | None = None
        loop = False
        current = parents.get(node)
        while current is not None and not isinstance(current, (*_FUNCTIONS, ast.ClassDef)):
            loop |= isinstance(current, (ast.For, ast.AsyncFor, ast.While))
            current = parents.get(current)
        if isinstance(current, _FUNCTIONS):
            function = current
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)) and not isinstance(function, ast.AsyncFunctionDef):
            what = {"Await": "'await'", "AsyncFor": "'async for'", "AsyncWith": "'async with'"}[type(node).__name__]
            where = "outside function" if function is None else "outside async function"
            fix = None
            if isinstance(function, ast.FunctionDef):
                fix = Fix(f"declare `{function.name}` with `async def`",
                          replace_in_line(ctx.source, function.lineno, "def ", "async def "))
            found.append(ctx.finding("syntax-error", node, f"SyntaxError: {what} {where}", fix=fix))
        elif isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and function is None:
            word = "return" if isinstance(node, ast.Return) else "yield"
            found.append(ctx.finding("syntax-error", node, f"SyntaxError: '{word}' outside function"))
        elif isinstance(node, (ast.Break, ast.Continue)) and not loop:
            word = "break" if isinstance(node, ast.Break) else "continue"
            found.append(ctx.finding("syntax-error", node, f"SyntaxError: '{word}' outside loop"))
    return found


def names(ctx: FileContext) -> list[Finding]:
    """``undefined-name``, ``missing-import`` and ``unused-import``."""
    scopes = ctx.scopes
    if scopes is None:
        return []
    found: list[Finding] = []
    for use in scopes.unresolved:
        statement = ctx.import_hints.get(use.name)
        if statement is None and use.name in sys.stdlib_module_names and not use.name.startswith("_"):
            statement = f"import {use.name}"
        statement = statement or _MEMBER_IMPORTS.get(use.name)
        if statement is not None:
            found.append(ctx.finding(
                "missing-import", use.node, f"name '{use.name}' is not defined: `{statement}` is missing",
                symbol=use.name, fix=import_fix(ctx.source, statement)))
            continue
        visible = scopes.visible_names(use.scope) | BUILTINS
        close = difflib.get_close_matches(use.name, sorted(visible - {use.name}), n=1, cutoff=0.75)
        fix = None
        if close:
            text = ctx.source.line_text(use.node.lineno)
            col = use.node.col_offset
            if text[col:col + len(use.name)] == use.name:
                fixed = text[:col] + close[0] + text[col + len(use.name):]
                fix = Fix(f"did you mean `{close[0]}`?", Edit("replace", use.node.lineno, fixed, text))
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        found.append(ctx.finding("undefined-name", use.node, f"name '{use.name}' is not defined{hint}",
                                 symbol=use.name, fix=fix))
    if ctx.source.path.endswith("__init__.py"):
        return found
    for binding in scopes.imports:
        if binding.used or binding.guarded or binding.module == "__future__":
            continue
        node = binding.node
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        alias = next((a for a in node.names if (a.asname or a.name.split(".")[0]) == binding.name
                      or a.asname == binding.name or a.name == binding.name), None)
        if alias is not None and alias.asname is not None and alias.asname == alias.name:
            continue  # "import x as x": an explicit re-export
        text = ctx.source.line_text(node.lineno)
        fix = Fix(f"remove the unused import `{binding.name}`")
        if node.lineno == node.end_lineno and alias is not None:
            rest = [a for a in node.names if a is not alias]
            if rest:
                clone = ast.ImportFrom(node.module, rest, node.level) if isinstance(node, ast.ImportFrom) \
                    else ast.Import(rest)
                new = text[: node.col_offset] + ast.unparse(clone)
            else:
                new = ""
            fix = Fix(fix.description, Edit("replace", node.lineno, new, text))
        found.append(ctx.finding("unused-import", node, f"'{binding.name}' imported but unused",
                                 symbol=binding.name, fix=fix))
    return found


def _functions(ctx: FileContext) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ctx.source.nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """Nodes in a function's body, not inside nested defs, lambdas or classes."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def blocking(ctx: FileContext) -> list[Finding]:
    found: list[Finding] = []
    if ctx.source.tree is None:
        return found
    for function in _functions(ctx):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for node in _own_nodes(function):
            if not isinstance(node, ast.Call):
                continue
            name = ctx.qualified(node.func)
            if name is None:
                continue
            blocking_module = name.startswith(_BLOCKING_MODULES) and name.count(".") == 1 and \
                name.split(".")[1] not in _NON_BLOCKING_ATTRS
            if name not in _BLOCKING and not blocking_module:
                continue
            spelled = dotted_name(node.func) or name
            if name == "time.sleep":
                fix = Fix("use `await asyncio.sleep(...)`, which yields to the event loop",
                          replace_in_line(ctx.source, node.lineno, f"{spelled}(", "await asyncio.sleep("))
            else:
                fix = Fix(f"run it in a thread: `await asyncio.to_thread({spelled}, ...)`, or use an async client")
            found.append(ctx.finding(
                "blocking-call-in-async", node,
                f"blocking call `{name}()` inside `async def {function.name}` stalls the event loop",
                symbol=function.name, fix=fix))
    return found


def _trivial(body: list[ast.stmt]) -> bool:
    return all(isinstance(s, (ast.Pass, ast.Continue)) or (isinstance(s, ast.Expr) and isinstance(
        s.value, ast.Constant)) or (isinstance(s, ast.Return) and (s.value is None or (
            isinstance(s.value, ast.Constant) and s.value.value is None))) for s in body)


def exceptions(ctx: FileContext) -> list[Finding]:
    found: list[Finding] = []
    if ctx.source.tree is None:
        return found
    for node in ctx.source.nodes:
        if not isinstance(node, ast.ExceptHandler):
            continue
        swallowed = _trivial(node.body) or all(
            isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) for s in node.body)
        if node.type is None:
            tail = " and silently replaces the error" if swallowed else ""
            found.append(ctx.finding(
                "bare-except", node,
                f"bare `except:` catches every exception, including KeyboardInterrupt and SystemExit{tail}",
                fix=Fix("catch the specific exception the block expects (e.g. `except KeyError:`)",
                        replace_in_line(ctx.source, node.lineno, "except:", "except Exception:"))))
        elif swallowed and _trivial(node.body) and dotted_name(node.type) in ("Exception", "BaseException"):
            found.append(ctx.finding(
                "swallowed-exception", node, f"`except {dotted_name(node.type)}:` discards every error silently",
                fix=Fix("log the exception or re-raise it; catch only what the block expects")))
    return found


def defaults(ctx: FileContext) -> list[Finding]:
    found: list[Finding] = []
    if ctx.source.tree is None:
        return found
    for function in _functions(ctx):
        args = function.args
        positional = [*args.posonlyargs, *args.args]
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, default in pairs:
            mutable = isinstance(default, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp))
            if isinstance(default, ast.Call):
                mutable = (ctx.qualified(default.func) or "") in _MUTABLE_CALLS
            if not mutable:
                continue
            literal = ast.get_source_segment(ctx.source.text, default) or ast.unparse(default)
            edit = None
            if default.lineno == default.end_lineno:
                text = ctx.source.line_text(default.lineno)
                new = text[: default.col_offset] + "None" + text[default.end_col_offset or 0:]
                edit = Edit("replace", default.lineno, new, text)
            found.append(ctx.finding(
                "mutable-default", default,
                f"mutable default `{arg.arg}={literal}` in `{function.name}()` is created once and shared "
                "between calls", symbol=function.name,
                fix=Fix(f"default `{arg.arg}` to None and create it inside: "
                        f"`if {arg.arg} is None: {arg.arg} = {literal}`", edit)))
    return found


def none_comparisons(ctx: FileContext) -> list[Finding]:
    found: list[Finding] = []
    if ctx.source.tree is None:
        return found
    for node in ctx.source.nodes:
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            if not isinstance(op, (ast.Eq, ast.NotEq)):
                continue
            left, right = operands[index], operands[index + 1]
            if not any(isinstance(x, ast.Constant) and x.value is None for x in (left, right)):
                continue
            spelled, proper = ("==", "is") if isinstance(op, ast.Eq) else ("!=", "is not")
            text = ctx.source.line_text(node.lineno)
            new = re.sub(rf"{spelled}\s*None\b", f"{proper} None", text, count=1)
            new = re.sub(rf"\bNone\s*{spelled}", f"None {proper}", new, count=1) if new == text else new
            edit = Edit("replace", node.lineno, new, text) if new != text else None
            found.append(ctx.finding(
                "none-comparison", node,
                f"comparison to None with `{spelled}` calls `__eq__`; use `{proper} None`",
                fix=Fix(f"use `{proper} None`", edit)))
    return found


FAMILIES: tuple[Callable[[FileContext], list[Finding]], ...] = (
    syntax, names, blocking, exceptions, defaults, none_comparisons, security,
)


def check_file(ctx: FileContext) -> list[Finding]:
    """Every per-file rule family on one file."""
    found: list[Finding] = []
    for family in FAMILIES:
        found.extend(family(ctx))
    return found
