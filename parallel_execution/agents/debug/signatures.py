"""Function signatures from ``def`` statements, and calls checked against them like CPython does.

:func:`signature_of` turns a ``def`` into a :class:`Signature` (``None`` when a decorator may
change what is called, or for ``@overload`` stubs); :func:`dataclass_init` synthesises the
``__init__`` of a ``@dataclass``. :func:`check_call` binds a call's arguments the way the
interpreter binds them and returns the ``TypeError`` message Python would raise, word for word
(``f() missing 1 required positional argument: 'x'``), plus the names involved, so a finding and
a traceback can be matched on their text. Calls with ``*args`` or ``**kwargs`` are not judged:
their arity is unknown statically.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from parallel_execution.agents.debug.source import dotted_name

__all__ = ["ArityProblem", "Signature", "check_call", "dataclass_init", "signature_of"]

# Decorators that keep the wrapped function's signature (or only bind the first argument).
_SAFE_DECORATORS = frozenset({
    "staticmethod", "classmethod", "abstractmethod", "abc.abstractmethod", "cache", "lru_cache",
    "functools.cache", "functools.lru_cache", "override", "typing.override", "typing_extensions.override",
    "cached_property", "functools.cached_property", "final", "typing.final",
})


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    qualname: str
    file: str
    line: int
    posonly: tuple[str, ...]
    args: tuple[str, ...]
    defaults: int  # how many of posonly+args (from the end) have defaults
    vararg: str | None
    kwonly: tuple[str, ...]
    kwonly_required: tuple[str, ...]
    kwarg: str | None
    is_async: bool = False
    kind: str = "function"  # function | method | staticmethod | classmethod | constructor | object

    @property
    def positional(self) -> tuple[str, ...]:
        return self.posonly + self.args

    def bound(self, kind: str | None = None) -> Signature:
        """The signature as seen through an instance or class: the first parameter is taken."""
        if self.posonly:
            posonly, args = self.posonly[1:], self.args
        else:
            posonly, args = (), self.args[1:]
        defaults = min(self.defaults, len(posonly) + len(args))
        return Signature(self.name, self.qualname, self.file, self.line, posonly, args, defaults,
                         self.vararg, self.kwonly, self.kwonly_required, self.kwarg, self.is_async,
                         kind or self.kind)

    def render(self) -> str:
        parts = list(self.posonly) + (["/"] if self.posonly else []) + list(self.args)
        if self.vararg:
            parts.append("*" + self.vararg)
        elif self.kwonly:
            parts.append("*")
        parts += list(self.kwonly)
        if self.kwarg:
            parts.append("**" + self.kwarg)
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class ArityProblem:
    message: str  # CPython's TypeError text
    kind: str  # missing | too-many | unexpected-keyword | multiple-values | positional-only
    names: tuple[str, ...]  # missing or offending parameter names


def signature_of(node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, file: str,
                 in_class: bool) -> Signature | None:
    """The signature of ``node`` as its callers see it, or ``None`` if it cannot be trusted."""
    decorators = [dotted_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
    if any(d in ("overload", "typing.overload", "property") or (d and d.endswith((".setter", ".getter", ".deleter")))
           for d in decorators):
        return None
    if any(d is None or d not in _SAFE_DECORATORS for d in decorators):
        return None
    args = node.args
    kind = "function"
    if in_class:
        kind = "staticmethod" if "staticmethod" in decorators else (
            "classmethod" if "classmethod" in decorators else "method")
    return Signature(
        name=node.name,
        qualname=qualname,
        file=file,
        line=node.lineno,
        posonly=tuple(a.arg for a in args.posonlyargs),
        args=tuple(a.arg for a in args.args),
        defaults=len(args.defaults),
        vararg=args.vararg.arg if args.vararg else None,
        kwonly=tuple(a.arg for a in args.kwonlyargs),
        kwonly_required=tuple(a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None),
        kwarg=args.kwarg.arg if args.kwarg else None,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        kind=kind,
    )


def dataclass_init(node: ast.ClassDef, qualname: str, file: str) -> Signature | None:
    """``__init__`` of a plain ``@dataclass`` (no inheritance), from its annotated fields."""
    options: dict[str, object] = {}
    is_dataclass = False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if dotted_name(target) in ("dataclass", "dataclasses.dataclass"):
            is_dataclass = True
            if isinstance(decorator, ast.Call):
                options = {k.arg: getattr(k.value, "value", None) for k in decorator.keywords if k.arg}
    if not is_dataclass or node.bases or options.get("init") is False:
        return None
    positional: list[str] = []
    kwonly: list[str] = []
    kwonly_required: list[str] = []
    defaults = 0
    kw_only = options.get("kw_only") is True
    for statement in node.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        annotation = ast.unparse(statement.annotation)
        if "ClassVar" in annotation:
            continue  # a class attribute, not a field
        if annotation in ("KW_ONLY", "dataclasses.KW_ONLY"):
            kw_only = True
            continue
        has_default = statement.value is not None
        value = statement.value
        if isinstance(value, ast.Call) and dotted_name(value.func) in ("field", "dataclasses.field"):
            keywords = {k.arg: k.value for k in value.keywords}
            init = keywords.get("init")
            if isinstance(init, ast.Constant) and init.value is False:
                continue
            has_default = "default" in keywords or "default_factory" in keywords
        name = statement.target.id
        if kw_only:
            kwonly.append(name)
            if not has_default:
                kwonly_required.append(name)
        else:
            if defaults and not has_default:
                return None  # a TypeError at class creation; not an arity question
            positional.append(name)
            defaults += has_default
    return Signature(node.name, qualname, file, node.lineno, (), tuple(positional), defaults, None,
                     tuple(kwonly), tuple(kwonly_required), None, False, "constructor")


def _names(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def check_call(sig: Signature, call: ast.Call, display: str | None = None,
               implicit_first: bool = False) -> ArityProblem | None:
    """Bind ``call``'s arguments to ``sig``; return CPython's complaint, or ``None`` if they fit.

    ``implicit_first``: ``sig`` is already bound (a method); CPython counts ``self`` in the
    "takes N positional arguments" message, so the counts are shifted back for the text.
    """
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    shown = display or sig.qualname
    if sig.kind == "constructor" and not display:
        shown = f"{sig.qualname}.__init__"
    given = len(call.args)
    positional = sig.positional
    if sig.kind == "object" and (call.args or call.keywords):  # a class without __init__
        return ArityProblem(f"{sig.qualname}() takes no arguments", "too-many", ())
    if given > len(positional) and sig.vararg is None:
        extra = 1 if implicit_first else 0
        most = len(positional) + extra
        least = most - sig.defaults
        takes = f"from {least} to {most}" if sig.defaults else str(most)
        plural = "" if most == 1 and not sig.defaults else "s"
        was = "was" if given + extra == 1 else "were"
        message = f"{shown}() takes {takes} positional argument{plural} but {given + extra} {was} given"
        return ArityProblem(message, "too-many", ())
    assigned = set(positional[:given])
    for keyword in call.keywords:
        name = keyword.arg or ""
        if name in sig.posonly and sig.kwarg is None:
            return ArityProblem(f"{shown}() got some positional-only arguments passed as keyword "
                                f"arguments: '{name}'", "positional-only", (name,))
        if name in assigned:
            return ArityProblem(f"{shown}() got multiple values for argument '{name}'", "multiple-values", (name,))
        if name in sig.args or name in sig.kwonly:
            assigned.add(name)
        elif sig.kwarg is None:
            return ArityProblem(f"{shown}() got an unexpected keyword argument '{name}'",
                                "unexpected-keyword", (name,))
    required = positional[: len(positional) - sig.defaults]
    missing = [name for name in required if name not in assigned]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return ArityProblem(f"{shown}() missing {len(missing)} required positional argument{plural}: "
                            f"{_names(missing)}", "missing", tuple(missing))
    missing_kw = [name for name in sig.kwonly_required if name not in assigned]
    if missing_kw:
        plural = "s" if len(missing_kw) > 1 else ""
        return ArityProblem(f"{shown}() missing {len(missing_kw)} required keyword-only argument{plural}: "
                            f"{_names(missing_kw)}", "missing", tuple(missing_kw))
    return None
