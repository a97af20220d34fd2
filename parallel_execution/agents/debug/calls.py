"""Checks that follow names into other definitions: call arity, missing await, imports, cycles.

A call's target is resolved statically (:func:`resolve_callee`): a ``def`` or class in scope,
``self.method`` / ``cls.method`` inside a class (through bases known to the index), ``Class.method``,
a method of an instance built right there or assigned once from a constructor
(``shop = Shop(); shop.add(...)``), ``module.func`` through an import, or ``from m import f``
through the :class:`Index` (following re-exports). Anything else (parameters, attributes of unknown objects, decorated functions) is
left alone, so every report is one CPython would make at run time.

* ``call-arity``: the call's arguments do not bind (:func:`check_call`, CPython's own message).
* ``missing-await``: a coroutine function (ours or asyncio's) called where its result is used as a
  value (attribute, subscript, comparison, iteration), dropped as a statement, or stored and never
  awaited or handed on. Passing it to another call (``gather``, ``create_task``) or returning it is
  fine.
* ``unresolved-import``: ``from m import n`` where ``m`` is an indexed module without ``n``, or
  ``import pkg.x`` where ``pkg`` is a project package without ``x``.
* ``import-cycle``: module-level imports forming a cycle through an analysed module (networkx
  strongly connected components; the reported cycle is the shortest one through that module).
"""

from __future__ import annotations

import ast
import difflib
import itertools

import networkx as nx

from parallel_execution.agents.debug.context import FileContext
from parallel_execution.agents.debug.index import ClassInfo, Index, ModuleInfo
from parallel_execution.agents.debug.model import Edit, Finding, Fix
from parallel_execution.agents.debug.scopes import Binding, Scope
from parallel_execution.agents.debug.signatures import ArityProblem, Signature, check_call, signature_of

__all__ = ["call_checks", "import_checks", "import_cycles", "resolve_callee"]

_ASYNCIO_COROUTINES = frozenset({
    "asyncio.sleep", "asyncio.wait_for", "asyncio.wait", "asyncio.open_connection", "asyncio.to_thread",
    "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell", "asyncio.start_server",
})
_VALUE_CONTEXTS = (ast.Attribute, ast.Subscript, ast.Compare, ast.BinOp, ast.UnaryOp, ast.BoolOp,
                   ast.For, ast.comprehension, ast.If, ast.While, ast.IfExp, ast.FormattedValue, ast.With,
                   ast.withitem, ast.Assert)


def _class_scope(scope: Scope | None) -> Scope | None:
    return scope.parent if scope is not None and scope.parent is not None and scope.parent.kind == "class" else None


def _from_binding(ctx: FileContext, index: Index, module: ModuleInfo | None,
                  binding: Binding) -> Signature | ClassInfo | ModuleInfo | None:
    """What a name bound by ``def``, ``class`` or an import refers to."""
    node = binding.node
    if binding.kind == "def" and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        in_class = binding.scope.kind == "class"
        qualname = f"{binding.scope.qualname}.{node.name}" if binding.scope.qualname else node.name
        return signature_of(node, qualname, ctx.path, in_class)
    if binding.kind == "class":
        in_module = binding.scope.kind == "module" and module is not None
        return module.classes.get(binding.name) if in_module else None  # type: ignore[union-attr]
    if binding.kind == "import":
        if binding.imported is None:
            dotted = binding.module if binding.name != (binding.module or "").split(".")[0] else binding.name
            return index.find(dotted or "", module)
        return index.resolve_from(binding.module or "", binding.level, binding.imported, module)[0]
    return None


def resolve_callee(ctx: FileContext, index: Index, call: ast.Call) -> tuple[Signature | None, str | None, bool]:
    """(signature, display name, implicit first argument) of the function ``call`` calls."""
    scopes = ctx.scopes
    if scopes is None:
        return None, None, False
    module = index.module_for(ctx.path)
    func = call.func
    target = None
    if isinstance(func, ast.Name):
        bindings = scopes.bindings_for(func)
        if not bindings or len(bindings) != 1:
            return None, None, False
        target = _from_binding(ctx, index, module, bindings[0])
        if isinstance(target, Signature) and target.kind != "function":
            return None, None, False
    elif isinstance(func, ast.Attribute):
        instance_of = _instance_class(ctx, index, func.value)
        if instance_of is not None:  # Shop("a").add(...) or shop = Shop("a"); shop.add(...)
            return _bound_method(index, instance_of, func.attr)
        owner = func.value
        while isinstance(owner, ast.Attribute):
            owner = owner.value
        if not isinstance(owner, ast.Name):
            return None, None, False
        bindings = scopes.bindings_for(owner)
        if not bindings or len(bindings) != 1:
            return None, None, False
        binding = bindings[0]
        if binding.kind == "param" and func.value is owner:
            return _method_call(ctx, index, module, binding, func.attr)
        base = _from_binding(ctx, index, module, binding)
        chain: list[str] = []
        node: ast.AST = func
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        for position, attr in enumerate(chain, 1):
            if isinstance(base, ModuleInfo):
                base = index.resolve_from(base.name, 0, attr, module)[0]
            elif isinstance(base, ClassInfo) and position == len(chain):
                sig, found = index.method(base, attr)
                if not found or sig is None:
                    return None, None, False
                if sig.kind == "classmethod":
                    return sig.bound(), sig.qualname, True
                return sig, sig.qualname, False
            else:
                return None, None, False
        target = base
    if isinstance(target, ClassInfo):
        return index.constructor(target), None, True
    if isinstance(target, Signature):
        return target, None, False
    return None, None, False


def _instance_class(ctx: FileContext, index: Index, expr: ast.AST) -> ClassInfo | None:
    """The class of ``expr`` when it is a constructor call, or a local assigned once from one."""
    if isinstance(expr, ast.Name) and ctx.scopes is not None:
        bindings = ctx.scopes.bindings_for(expr)
        if not bindings or len(bindings) != 1 or bindings[0].kind != "assign":
            return None
        parent = ctx.source.parents.get(bindings[0].node)
        if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1 and parent.targets[0] is bindings[0].node):
            return None
        expr = parent.value
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, (ast.Name, ast.Attribute))):
        return None
    sig, _, _ = resolve_callee(ctx, index, expr)
    if sig is None or sig.kind not in ("constructor", "object"):
        return None
    module = index.module_for(sig.file)
    return module.classes.get(sig.name) if module is not None else None


def _bound_method(index: Index, cls: ClassInfo, attr: str) -> tuple[Signature | None, str | None, bool]:
    sig, found = index.method(cls, attr)
    if not found or sig is None:
        return None, None, False
    if sig.kind == "staticmethod":
        return sig, sig.qualname, False
    return sig.bound(), sig.qualname, True


def _method_call(ctx: FileContext, index: Index, module: ModuleInfo | None, binding: Binding,
                 attr: str) -> tuple[Signature | None, str | None, bool]:
    """``self.attr(...)`` / ``cls.attr(...)`` where ``self`` is a method's first parameter."""
    function = binding.scope
    class_scope = _class_scope(function)
    node = function.node
    if class_scope is None or module is None or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None, None, False
    params = [*node.args.posonlyargs, *node.args.args]
    if not params or params[0] is not binding.node or class_scope.parent is not ctx.scopes.module:  # type: ignore[union-attr]
        return None, None, False
    cls = module.classes.get(class_scope.name)
    if cls is None:
        return None, None, False
    decorators = {ast.unparse(d) for d in node.decorator_list}
    if "staticmethod" in decorators:
        return None, None, False
    sig, found = index.method(cls, attr)
    if found and sig is not None and sig.kind == "method" and "classmethod" in decorators:
        return None, None, False  # cls.method(instance, ...): unusual, not judged
    return _bound_method(index, cls, attr)


def _arity_fix(ctx: FileContext, call: ast.Call, sig: Signature, problem: ArityProblem) -> Fix:
    source = ctx.source
    if problem.kind == "missing":
        names = ", ".join(f"`{n}`" for n in problem.names)
        fix = Fix(f"pass the missing argument{'s' if len(problem.names) > 1 else ''} {names} "
                  f"(`{sig.render()}`, defined at {sig.file.rsplit('/', 1)[-1]}:{sig.line})")
        scope = ctx.scopes.module if ctx.scopes else None
        visible: set[str] = set()
        if ctx.scopes is not None:
            for use_scope in ctx.scopes.scopes.values():
                node = use_scope.node
                if getattr(node, "lineno", 0) <= call.lineno <= getattr(node, "end_lineno", 0) and (
                        scope is None or use_scope.qualname.count(".") >= scope.qualname.count(".")):
                    scope = use_scope
            if scope is not None:
                visible = ctx.scopes.visible_names(scope)
        end_line, end_col = call.end_lineno or call.lineno, (call.end_col_offset or 1) - 1
        text = source.line_text(end_line)
        if all(n in visible for n in problem.names) and text[end_col:end_col + 1] == ")":
            keyword = all(n not in sig.posonly for n in problem.names)
            added = ", ".join(f"{n}={n}" if keyword else n for n in problem.names)
            sep = ", " if call.args or call.keywords else ""
            return Fix(fix.description, Edit("replace", end_line, text[:end_col] + sep + added + text[end_col:], text))
        return fix
    if problem.kind == "unexpected-keyword":
        wrong = problem.names[0]
        close = difflib.get_close_matches(wrong, [*sig.args, *sig.kwonly], n=1, cutoff=0.6)
        if close:
            text = source.line_text(call.lineno)
            edit = Edit("replace", call.lineno, text.replace(f"{wrong}=", f"{close[0]}=", 1), text) \
                if text.count(f"{wrong}=") == 1 else None
            return Fix(f"rename keyword `{wrong}=` to `{close[0]}=` (`{sig.render()}`)", edit)
        return Fix(f"remove keyword `{wrong}=`: `{sig.render()}` has no such parameter")
    if problem.kind == "too-many":
        return Fix(f"remove the extra positional argument(s): the signature is `{sig.render()}`")
    return Fix(f"pass each argument once, matching `{sig.render()}`")


def _awaited_later(function: ast.AST, name: str, after: int, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether a stored coroutine is awaited, passed on, returned or stored after line ``after``."""
    for node in ast.walk(function):
        if (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)
                and node.lineno >= after and not isinstance(parents.get(node), _VALUE_CONTEXTS)):
            return True
    return False


def _missing_await(ctx: FileContext, call: ast.Call, name: str) -> Finding | None:
    parents = ctx.source.parents
    parent = parents.get(call)
    if isinstance(parent, (ast.Await, ast.Return, ast.Lambda, ast.keyword, ast.Call, ast.List, ast.Tuple,
                           ast.Set, ast.Dict, ast.Yield, ast.YieldFrom, ast.Starred)):
        return None
    text = ctx.source.line_text(call.lineno)
    segment = ast.get_source_segment(ctx.source.text, call) or ""
    edit = None
    if segment and call.lineno == call.end_lineno and text.count(segment) == 1:
        wrapped = f"(await {segment})" if isinstance(parent, (ast.Attribute, ast.Subscript)) else f"await {segment}"
        edit = Edit("replace", call.lineno, text.replace(segment, wrapped, 1), text)
    fix = Fix(f"await the call: `await {segment or name + '(...)'}`" + (
        " (and make the caller `async def`)" if not _in_async(call, parents) else ""), edit)
    if isinstance(parent, ast.Expr):
        how = "its result is discarded, so it never runs"
    elif isinstance(parent, (ast.Assign, ast.AnnAssign)) and isinstance(
            target := (parent.targets[0] if isinstance(parent, ast.Assign) else parent.target), ast.Name):
        function = _enclosing_function(call, parents)
        if function is not None and _awaited_later(function, target.id, call.lineno + 1, parents):
            return None
        how = f"`{target.id}` holds a coroutine object, not its result"
    elif isinstance(parent, _VALUE_CONTEXTS):
        how = "a coroutine object is used as if it were the result"
    else:
        return None
    return ctx.finding("missing-await", call, f"coroutine `{name}()` is called without `await`: {how}",
                       symbol=name.rsplit(".", 1)[-1], fix=fix)


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    current = parents.get(node)
    while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        current = parents.get(current)
    return current


def _in_async(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    return isinstance(_enclosing_function(node, parents), ast.AsyncFunctionDef)


def call_checks(ctx: FileContext, index: Index) -> list[Finding]:
    """``call-arity`` and ``missing-await`` for every call in the file."""
    found: list[Finding] = []
    if ctx.source.tree is None or ctx.scopes is None:
        return found
    for call in ctx.source.nodes:
        if not isinstance(call, ast.Call):
            continue
        sig, display, implicit = resolve_callee(ctx, index, call)
        if sig is None:
            qualified = ctx.qualified(call.func)
            if qualified in _ASYNCIO_COROUTINES and (item := _missing_await(ctx, call, qualified)):
                found.append(item)
            continue
        problem = check_call(sig, call, display, implicit_first=implicit)
        if problem is not None:
            found.append(ctx.finding("call-arity", call, problem.message, symbol=sig.name,
                                     fix=_arity_fix(ctx, call, sig, problem)))
        if sig.is_async and (item := _missing_await(ctx, call, sig.qualname)):
            found.append(item)
    return found


def import_checks(ctx: FileContext, index: Index) -> list[Finding]:
    """``unresolved-import`` for imports into indexed (project) modules."""
    found: list[Finding] = []
    if ctx.scopes is None:
        return found
    module = index.module_for(ctx.path)
    for binding in ctx.scopes.imports:
        node = binding.node
        if binding.imported is not None:
            _, target, exists = index.resolve_from(binding.module or "", binding.level, binding.imported, module)
            if target is None or exists:
                continue
            close = difflib.get_close_matches(binding.imported, sorted(target.names), n=1, cutoff=0.7)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            fix = Fix(f"import a name `{target.name}` defines" + (f": `{close[0]}`" if close else ""))
            found.append(ctx.finding(
                "unresolved-import", node,
                f"cannot import name '{binding.imported}' from '{target.name}' ({target.file}){hint}",
                symbol=binding.imported, fix=fix))
        else:
            dotted = binding.module or ""
            head = dotted.split(".")[0]
            if "." in dotted and head in index.roots and index.find(dotted, module) is None and \
                    (index.find(head, module) is not None and index.find(head, module).is_package):  # type: ignore[union-attr]
                found.append(ctx.finding("unresolved-import", node, f"No module named '{dotted}'", symbol=dotted,
                                         fix=Fix(f"check the module path: `{head}` has no `{dotted[len(head) + 1:]}`")))
    return found


def import_cycles(ctx: FileContext, index: Index, graph: nx.DiGraph) -> list[Finding]:
    """``import-cycle``: the shortest module-level import cycle through this file, if any."""
    node = ctx.path
    if node not in graph:
        return []
    best: list[str] | None = None
    for successor in sorted(graph.successors(node)):
        try:
            path = nx.shortest_path(graph, successor, node)
        except nx.NetworkXNoPath:
            continue
        if best is None or (len(path), path) < (len(best) - 1, best[1:]):
            best = [node, *path]
    if best is None:
        return []
    names = [graph.nodes[f]["module"] for f in best]
    first = graph.edges[best[0], best[1]]["edge"]
    links = ", ".join(f"{graph.nodes[a]['module']} line {graph.edges[a, b]['edge'].line}"
                      for a, b in itertools.pairwise(best))
    return [ctx.finding(
        "import-cycle", first.line, f"import cycle: {' -> '.join(names)} (imports at {links})",
        column=first.column, symbol=names[1],
        fix=Fix(f"break the cycle: move `{first.text}` into the function that uses it, or move the shared "
                "code into a module both can import"))]
