"""Tool codes -> defect kinds: which rule each ruff, mypy and bandit code reports.

The debug agent ranks and explains by *rule* (``missing-import``, ``call-arity`` ...), the coder
gates on named checks; both read the same :func:`classify`, so a file gets the same verdict from
either. Codes without a specific rule fall back to ``lint`` (ruff), ``type-error`` (mypy) or
``security`` (ruff ``S`` and bandit). The selections below are what each depth asks the tools for.

An undefined name is a ``missing-import`` when an import for it is known (:func:`import_for`):
another analysed file imports that name, it is a standard-library module, or a well-known member
(``Path`` -> ``from pathlib import Path``); that statement is the mechanical fix.
"""

from __future__ import annotations

import collections.abc
import re
import sys
import typing
from collections.abc import Mapping

from parallel_execution.analysis.diagnostics import Diagnostic

__all__ = ["RUFF_SELECT", "classify", "import_for", "undefined_name"]

# The ruff selection: pyflakes, syntax, bugbear, the bandit-derived S rules, async misuse, None comparison, bare except.
RUFF_SELECT = ("F", "E9", "E711", "E722", "B", "S", "ASYNC", "PLE")

_RUFF: dict[str, str] = {
    "invalid-syntax": "syntax-error", "E999": "syntax-error", "E902": "syntax-error",
    "F401": "unused-import", "F821": "undefined-name", "F822": "undefined-name", "F823": "undefined-name",
    "F811": "lint", "E711": "none-comparison", "E722": "bare-except", "B006": "mutable-default",
    "S110": "swallowed-exception", "S112": "swallowed-exception", "S307": "eval-exec", "S102": "eval-exec",
    "S602": "shell-true", "S604": "shell-true", "S605": "shell-true", "S301": "pickle-loads",
    "S506": "unsafe-yaml-load", "S105": "hardcoded-secret", "S106": "hardcoded-secret",
    "S107": "hardcoded-secret", "S608": "sql-string-format", "S324": "weak-hash", "S303": "weak-hash",
    "S403": "lint",
}
_BANDIT: dict[str, str] = {
    "B307": "eval-exec", "B102": "eval-exec", "B602": "shell-true", "B604": "shell-true", "B605": "shell-true",
    "B301": "pickle-loads", "B506": "unsafe-yaml-load", "B105": "hardcoded-secret", "B106": "hardcoded-secret",
    "B107": "hardcoded-secret", "B608": "sql-string-format", "B324": "weak-hash", "B303": "weak-hash",
    "B110": "swallowed-exception", "B112": "swallowed-exception", "B403": "lint", "B404": "lint",
}
_MYPY: dict[str, str] = {
    "syntax": "syntax-error", "name-defined": "undefined-name", "call-arg": "call-arity",
    "import-not-found": "unresolved-import", "import": "unresolved-import", "unused-coroutine": "missing-await",
    "attr-defined": "attribute-error", "union-attr": "none-misuse", "operator": "type-error",
    "arg-type": "type-error", "index": "type-error", "return-value": "type-error", "call-overload": "type-error",
    "typeddict-item": "dict-key-typo", "import-untyped": "lint", "no-redef": "lint",
}
_KNOWN_HOMES: dict[str, str] = {
    **{name: "typing" for name in typing.__all__ if name[:1].isupper() or name in ("cast", "overload")},
    **{name: "collections.abc" for name in collections.abc.__all__},
    **dict.fromkeys(("BaseModel", "Field", "ConfigDict", "ValidationError", "field_validator",
                     "model_validator"), "pydantic"),
    **dict.fromkeys(("dataclass", "field", "asdict"), "dataclasses"),
    **dict.fromkeys(("partial", "reduce", "wraps", "lru_cache", "cache", "cached_property"), "functools"),
    **dict.fromkeys(("defaultdict", "OrderedDict", "Counter", "deque", "namedtuple"), "collections"),
    **dict.fromkeys(("ABC", "abstractmethod"), "abc"),
    **dict.fromkeys(("contextmanager", "asynccontextmanager", "suppress"), "contextlib"),
    **dict.fromkeys(("datetime", "timedelta", "timezone"), "datetime"),
    **dict.fromkeys(("Path", "PurePath"), "pathlib"),
    **dict.fromkeys(("Enum", "IntEnum"), "enum"),
}
_NONE = re.compile(r'"None"|None\]|\| None"|Optional\[')


def undefined_name(diag: Diagnostic) -> str | None:
    """The name an undefined-name diagnostic is about."""
    if diag.code in ("F821", "F822", "F823", "name-defined"):
        return diag.symbol
    return None


def import_for(name: str, hints: Mapping[str, str]) -> str | None:
    """The import statement that binds ``name``, when one is known (see the module docstring)."""
    if name in hints:
        return hints[name]
    if name in sys.stdlib_module_names:
        return f"import {name}"
    if name in _KNOWN_HOMES:
        return f"from {_KNOWN_HOMES[name]} import {name}"
    return None


def classify(diag: Diagnostic, hints: Mapping[str, str], line_text: str = "") -> str:
    """The rule a tool diagnostic reports (see the module docstring); ``line_text`` is its source line."""
    if diag.tool == "ruff":
        rule = _RUFF.get(diag.code)
        if rule is None:
            rule = "blocking-call-in-async" if diag.code.startswith("ASYNC") else \
                "security" if diag.code.startswith("S") else "lint"
    elif diag.tool == "bandit":
        rule = _BANDIT.get(diag.code, "security")
    elif diag.tool == "mypy":
        rule = _MYPY.get(diag.code, "type-error")
        text = f"{diag.message} {diag.hint or ''}"
        if re.search(r"gets multiple values for keyword argument|^Too (many|few) arguments", diag.message):
            rule = "call-arity"
        elif "Coroutine[" in text or "await" in (diag.hint or ""):
            rule = "missing-await"
        elif rule == "attribute-error" and diag.message.startswith("Module ") and "has no attribute" in text:
            rule = "unresolved-import" if line_text.lstrip().startswith(("from ", "import ")) else rule
        elif rule in ("type-error", "attribute-error") and _NONE.search(diag.message):
            rule = "none-misuse"
    else:
        rule = diag.rule
    if rule == "undefined-name" and (name := undefined_name(diag)) and import_for(name, hints):
        return "missing-import"
    return rule

