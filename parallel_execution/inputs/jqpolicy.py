"""What a jq filter may do: read the value it is given, nothing else.

A ``$from`` filter (and a ``traces query`` filter) is user text run by the jq C library inside the
runner. jq can also read files (``import``/``include`` with a ``search`` path), the environment
(``$ENV``, ``env``), further inputs (``input``, ``inputs``, ``input_filename``) and write to stderr
(``debug``, ``stderr``), or stop the program (``halt``, ``halt_error``). ``refusals`` finds every such
use with a real jq tokenizer - string literals (with ``\\(...)`` interpolation), comments (with jq's
backslash continuation), field names (``.env``) and object keys (``{env: 1}``) are told apart from
calls - so a string cannot hide a directive and a field name is not refused.

As a second, independent layer, ``guarded`` prefixes the filter with definitions that shadow every
one of those builtins with an error, and binds ``$ENV`` to ``{}``; a module directive after them is a
jq syntax error. Even a tokenizer mistake cannot then reach the environment or the file system.

``is_plain_path`` recognises the filters nearly everyone writes (``.``, ``.a.b[0]``, ``[.items[].id]``):
paths, iteration and pipes, without function calls, recursion or ``,``. Their cost is linear in the
value they read, so they are safe to run in-process; everything else runs in a bounded worker
(``jqrun``).
"""

from __future__ import annotations

import re

__all__ = ["FORBIDDEN", "guarded", "is_plain_path", "refusals"]

# Builtins that reach beyond the input value (or stop / write from inside the runner).
FORBIDDEN = {
    "import": "a module directive (it reads files on the host)",
    "include": "a module directive (it reads files on the host)",
    "env": "the environment",
    "input": "further inputs",
    "inputs": "further inputs",
    "input_filename": "the input file name",
    "input_line_number": "the input position",
    "debug": "writes to the runner's stderr",
    "stderr": "writes to the runner's stderr",
    "halt": "stops the program",
    "halt_error": "stops the program",
    "get_search_list": "the module search path",
    "get_prog_origin": "the program's location",
    "get_jq_origin": "jq's location",
    "modulemeta": "module metadata (it reads files on the host)",
    "$ENV": "the environment",
    "$__loc__": "the program's location",
    "$__prog_args": "the program's arguments",
}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*")
_SHADOW = ["env", "input", "inputs", "input_filename", "input_line_number", "debug", "stderr", "halt",
           "halt_error", "get_search_list", "get_prog_origin", "get_jq_origin", "modulemeta"]
_PRELUDE = "".join(f'def {name}: error("{name} is not allowed in this filter"); ' for name in _SHADOW) + \
    'def debug(m): error("debug is not allowed in this filter"); ' \
    'def halt_error(c): error("halt_error is not allowed in this filter"); {} as $ENV | \n'

_SEGMENT = r'(?:\.[A-Za-z_][A-Za-z0-9_]*|\."[^"\\]*"|\[\s*(?:-?\d+|"[^"\\]*"|-?\d*\s*:\s*-?\d*)?\s*\])\??'
_PATH = rf'\.(?:[A-Za-z_][A-Za-z0-9_]*|"[^"\\]*")?\??(?:{_SEGMENT})*'
_PLAIN = re.compile(rf"\s*(?:{_PATH})(?:\s*\|\s*(?:{_PATH}))*\s*")


def is_plain_path(text: str) -> bool:
    """True for ``.``, ``.a.b``, ``.a[0]["k"]``, ``.[]?``, ``.a | .b``, and any of them inside ``[...]``."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    return bool(_PLAIN.fullmatch(body))


def guarded(text: str) -> str:
    """``text`` with every forbidden builtin shadowed by an error and ``$ENV`` bound to ``{}``."""
    return _PRELUDE + text


def refusals(text: str) -> list[str]:
    """One message per forbidden construct used in ``text`` (a filter that jq has compiled)."""
    found: list[str] = []
    for kind, value, prev, nxt in _significant(_tokens(text)):
        name = value if kind in ("ident", "var") else None
        if name is None:
            continue
        if kind == "ident" and nxt == ":" and prev in ("{", ","):
            continue  # an object key: {env: 1}
        base = name if kind == "var" or "::" not in name else None
        if base is None:
            found.append(f"{name!r} calls a module function (modules are not allowed)")
        elif base in FORBIDDEN:
            found.append(f"{base!r} is not allowed in a filter: {FORBIDDEN[base]}; a filter may only read "
                         "the value it is given")
        elif kind == "var" and base.startswith("$__"):
            found.append(f"{base!r} is not allowed in a filter")
    return list(dict.fromkeys(found))


def _significant(tokens: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(kind, value, previous token's value, next token's value) for each token."""
    out = []
    for i, (kind, value) in enumerate(tokens):
        prev = tokens[i - 1][1] if i else ""
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        out.append((kind, value, prev, nxt))
    return out


def _tokens(text: str) -> list[tuple[str, str]]:
    """jq's lexer, as far as telling calls from strings, comments, fields and keys needs."""
    tokens: list[tuple[str, str]] = []
    # A stack of open interpolations: each entry is the paren depth at which "\(" was opened.
    interp: list[int] = []
    depth, i, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":  # a comment runs to the end of the line; an odd run of backslashes continues it
            while i < n:
                end = text.find("\n", i)
                if end < 0:
                    i = n
                    break
                run = len(text[i:end]) - len(text[i:end].rstrip("\\"))
                i = end + 1
                if run % 2 == 0:
                    break
        elif ch == '"':
            i = _string(text, i + 1, tokens, interp, depth)
        elif ch == ")" and interp and interp[-1] == depth:
            interp.pop()
            tokens.append(("punct", ")"))
            i = _string(text, i + 1, tokens, interp, depth)  # back inside the string
        elif ch == "$":
            match = _IDENT.match(text, i + 1)
            if match:
                tokens.append(("var", "$" + match.group()))
                i = match.end()
            else:
                tokens.append(("punct", "$"))
                i += 1
        elif ch == "." and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_"):
            match = _IDENT.match(text, i + 1)
            assert match is not None
            tokens.append(("field", match.group()))
            i = match.end()
        elif ch == "@":
            match = _IDENT.match(text, i + 1)
            tokens.append(("format", "@" + (match.group() if match else "")))
            i = match.end() if match else i + 1
        elif ch.isalpha() or ch == "_":
            match = _IDENT.match(text, i)
            assert match is not None
            tokens.append(("ident", match.group()))
            i = match.end()
        else:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            tokens.append(("punct", ch))
            i += 1
    return tokens


def _string(text: str, i: int, tokens: list[tuple[str, str]], interp: list[int], depth: int) -> int:
    """Skip a string body from ``i``; stop after the closing quote, or after ``\\(`` (interpolation)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            if text[i + 1] == "(":
                tokens.append(("punct", "("))
                interp.append(depth)
                return i + 2
            i += 2
        elif ch == '"':
            tokens.append(("string", '""'))
            return i + 1
        else:
            i += 1
    return n
