"""Security rules: eval/exec, shell=True, unpickling, unsafe YAML, hard-coded secrets, SQL by formatting.

Calls are matched on the API they resolve to through the file's imports (``FileContext.qualified``),
so ``from pickle import loads`` and ``import pickle as p; p.loads`` are both found, and a local
function that happens to be called ``eval`` is not. Literal arguments lower the risk to nothing
(``eval("1 + 1")`` is not reported).

Secrets: a non-empty string literal assigned (or passed, or used as a default or dict value) to a
name such as ``password``, ``api_key`` or ``SECRET_TOKEN``, excluding names that hold a *reference*
to a secret (``PASSWORD_ENV``, ``token_url``) and values that are templates or environment-variable
names; plus well-known key formats (AWS, GitHub, Slack, Stripe, PEM private keys) anywhere. The
evidence snippet is masked so the secret is not copied into task outputs and traces.

SQL: a string built with an f-string, ``%`` or ``.format`` or ``+`` whose literal text reads like
a statement (``SELECT ... FROM``, ``INSERT INTO``, ``UPDATE ... SET``, ``DELETE FROM``).
"""

from __future__ import annotations

import ast
import re

from parallel_execution.agents.debug.context import FileContext, replace_in_line
from parallel_execution.agents.debug.model import Edit, Finding, Fix
from parallel_execution.agents.debug.source import dotted_name

__all__ = ["security"]

_EVAL = frozenset({"eval", "exec", "builtins.eval", "builtins.exec"})
_PICKLE = frozenset({
    "pickle.loads", "pickle.load", "pickle.Unpickler", "_pickle.loads", "_pickle.load", "cPickle.loads",
    "cPickle.load", "dill.loads", "dill.load", "shelve.open", "jsonpickle.decode", "marshal.loads",
})
_YAML = frozenset({"yaml.load", "yaml.load_all"})
_YAML_UNSAFE = frozenset({"yaml.unsafe_load", "yaml.unsafe_load_all"})
_SAFE_LOADERS = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")
_SHELL = frozenset({"os.system", "os.popen"})
_SECRET_NAME = re.compile(
    r"(?:^|_)(password|passwd|passphrase|pwd|secret|token|api_?key|apikey|access_?key|private_?key|"
    r"client_?secret|credentials?|auth)(?:$|_)"
)
_REFERENCE_SUFFIX = re.compile(
    r"_(url|uri|path|file|dir|env|var|name|field|header|type|prefix|suffix|len|length|endpoint|"
    r"pattern|regex|format|label|id|param|key_name|policy|hint|prompt|attempts|method|scheme|expiry|ttl|hash|hashed|"
    r"digest|salt|rounds|iterations)$"
)
_KEY_PATTERNS = re.compile(
    r"AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,}|xox[baprs]-[A-Za-z0-9-]{10,}|"
    r"sk_live_[A-Za-z0-9]{20,}|-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"
)
_SQL = re.compile(
    r"^\s*(select\b.*\bfrom|insert\s+into|update\b.*\bset|delete\s+from|replace\s+into|drop\s+table|"
    r"create\s+table|alter\s+table|with\b.*\bselect)\b",
    re.IGNORECASE | re.DOTALL,
)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _is_secret_name(name: str) -> bool:
    snake = _snake(name)
    return bool(_SECRET_NAME.search(snake)) and not _REFERENCE_SUFFIX.search(snake)


def _is_secret_value(value: ast.AST) -> bool:
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return False
    text = value.value.strip()
    if len(text) < 4 or re.fullmatch(r"[A-Z][A-Z0-9_]*", text) or set(text) <= {"*", "x", "X", "."}:
        return False  # too short, an environment variable's name, or a mask
    return not re.search(r"\{|\}|<[a-z_]+>|\$\{?[A-Za-z_]|%\(|^https?://|^/", text)


def _masked(line: str, secret: str) -> str:
    shown = secret[:2] + "***" if len(secret) > 6 else "***"
    return line.replace(secret, shown).strip()


def _literal_text(node: ast.AST) -> str | None:
    """The literal text of a string built by formatting, or ``None`` if it is not one."""
    if isinstance(node, ast.JoinedStr):
        if not any(isinstance(v, ast.FormattedValue) for v in node.values):
            return None
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                       for v in node.values)
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)):
        return node.left.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
        return node.func.value.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts: list[ast.AST] = []
        stack: list[ast.AST] = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, ast.BinOp) and isinstance(item.op, ast.Add):
                stack += [item.right, item.left]
            else:
                parts.append(item)
        literal = [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
        if literal and len(literal) < len(parts):
            return "".join(p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else "{}"
                           for p in parts)
    return None


def _is_formatted(node: ast.AST) -> bool:
    return _literal_text(node) is not None


def _calls(ctx: FileContext, node: ast.Call) -> list[Finding]:
    name = ctx.qualified(node.func)
    spelled = dotted_name(node.func) or name or ""
    first = node.args[0] if node.args else None
    literal_first = isinstance(first, ast.Constant)
    found: list[Finding] = []
    if name in _EVAL and first is not None and not literal_first:
        fix = Fix("parse data with `ast.literal_eval` (or json); never evaluate untrusted text")
        if name.endswith("eval"):
            fix = Fix(fix.description, replace_in_line(ctx.source, node.lineno, f"{spelled}(", "ast.literal_eval("))
        found.append(ctx.finding("eval-exec", node, f"`{name.split('.')[-1]}()` runs arbitrary code from its "
                                 "argument", symbol=name, fix=fix))
    shell = any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords)
    if shell or (name in _SHELL and first is not None and not literal_first):
        injected = first is not None and _is_formatted(first)
        what = f"`{spelled}(..., shell=True)`" if shell else f"`{name}()`"
        message = f"{what} runs the command through a shell" + (
            "; the command is built by string formatting: command injection" if injected else "")
        fix = Fix("pass an argument list (e.g. `shlex.split` or `[\"ls\", path]`) without `shell=True`",
                  replace_in_line(ctx.source, node.lineno, "shell=True", "shell=False") if shell else None)
        found.append(ctx.finding("shell-true", node, message, symbol=name, fix=fix))
    if name in _PICKLE:
        found.append(ctx.finding(
            "pickle-loads", node, f"`{name}()` on untrusted data executes arbitrary code while unpickling",
            symbol=name, fix=Fix("store and load the data as JSON (`json.loads`), or sign it (hmac) before "
                                 "unpickling")))
    if name in _YAML or name in _YAML_UNSAFE:
        loader = next((k.value for k in node.keywords if k.arg == "Loader"), node.args[1] if len(node.args) > 1 else None)
        loader_name = dotted_name(loader) if loader is not None else None
        if name in _YAML_UNSAFE or loader_name is None or not loader_name.endswith(_SAFE_LOADERS):
            safe = "yaml.safe_load_all(" if name.endswith("_all") else "yaml.safe_load("
            edit = replace_in_line(ctx.source, node.lineno, f"{spelled}(", safe) if loader is None else None
            found.append(ctx.finding(
                "unsafe-yaml-load", node,
                f"`{name}()` without a safe loader can construct arbitrary Python objects",
                symbol=name, fix=Fix("use `yaml.safe_load(...)` (or `Loader=yaml.SafeLoader`)", edit)))
    for keyword in node.keywords:
        if keyword.arg and _is_secret_name(keyword.arg) and _is_secret_value(keyword.value):
            found.append(_secret(ctx, keyword.value, keyword.arg))
    return found


def _secret(ctx: FileContext, value: ast.AST, name: str) -> Finding:
    assert isinstance(value, ast.Constant)
    env = re.sub(r"[^A-Z0-9]+", "_", _snake(name).upper()).strip("_")
    edit = None
    text = ctx.source.line_text(value.lineno)
    segment = ast.get_source_segment(ctx.source.text, value)
    if segment and value.lineno == value.end_lineno and segment in text:
        edit = Edit("replace", value.lineno, text.replace(segment, f'os.environ["{env}"]', 1), None)
    return ctx.finding(
        "hardcoded-secret", value, f"hard-coded secret in `{name}`", symbol=name,
        evidence=_masked(text, str(value.value)), fix=Fix(f"read it from the environment (`os.environ[\"{env}\"]`) "
                                                     "or a secrets manager, and rotate the exposed value", edit))


def _secrets(ctx: FileContext, node: ast.AST) -> list[Finding]:
    pairs: list[tuple[str, ast.AST]] = []
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            name = target.id if isinstance(target, ast.Name) else (
                target.attr if isinstance(target, ast.Attribute) else None)
            if name is not None:
                pairs.append((name, node.value))
    elif isinstance(node, ast.Dict):
        pairs += [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                  if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        pairs += [(a.arg, d) for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True)]
        pairs += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
        left, right = node.left, node.comparators[0]
        for one, other in ((left, right), (right, left)):
            name = one.id if isinstance(one, ast.Name) else (one.attr if isinstance(one, ast.Attribute) else None)
            if name is not None:
                pairs.append((name, other))
    found = [_secret(ctx, value, name) for name, value in pairs if _is_secret_name(name) and _is_secret_value(value)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _KEY_PATTERNS.search(node.value):
        found.append(_secret(ctx, node, "key material"))
    return found


def security(ctx: FileContext) -> list[Finding]:
    found: list[Finding] = []
    tree = ctx.source.tree
    if tree is None:
        return found
    parents = ctx.source.parents
    seen_secrets: set[tuple[int, int]] = set()
    for node in ctx.source.nodes:
        if isinstance(node, ast.Call):
            found += _calls(ctx, node)
        for item in _secrets(ctx, node):
            if (item.line, item.column) not in seen_secrets:
                seen_secrets.add((item.line, item.column))
                found.append(item)
        text = _literal_text(node)
        if text is None or not _SQL.search(text):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.BinOp) and _literal_text(parent) is not None:
            continue  # reported once, at the outermost concatenation
        found.append(ctx.finding(
            "sql-string-format", node,
            "SQL built by string formatting: a value containing a quote changes the query (SQL injection)",
            fix=Fix("use query parameters, e.g. `cursor.execute(\"SELECT ... WHERE name = ?\", (name,))`")))
    return found
