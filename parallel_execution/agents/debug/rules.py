"""The rule catalogue: one stable kebab-case id per defect kind, and what each id means.

Every finding the checks emit names a rule from :data:`RULES`. A rule carries what the rest of
the analysis needs to reason about it without knowing the check that produced it:

* ``severity`` (``error`` breaks at run time, ``warning`` is a likely defect or a security risk,
  ``info`` is hygiene) and ``prior``, the base confidence that a finding of this rule is the root
  cause when no traceback says otherwise;
* ``explains``: exception types (and message fragments) this rule produces at run time, so a
  traceback can be matched to a finding (``TypeError: f() missing ...`` -> ``call-arity``);
* ``keywords``: words a problem description or hypothesis uses for it ("circular", "await").

Findings come from the analyzers (``parallel_execution.analysis``: ruff, mypy, bandit and a small
core), whose codes ``analysis.catalogue.classify`` maps onto these ids; adding a rule means adding
one :class:`RuleSpec` here and the codes that report it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NONE_PRODUCERS", "RULES", "SECURITY_RULES", "SYMPTOM_SITE_RULES", "USE_SITE_RULES", "RuleSpec", "Severity", "exception_rules", "is_symptom", "rules_mentioned",
]

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    rule: str
    severity: Severity
    prior: float
    title: str
    # (exception type, regex on the message or "" for any message)
    explains: tuple[tuple[str, str], ...] = ()
    keywords: tuple[str, ...] = ()


_SPECS = (
    RuleSpec("syntax-error", "error", 0.55, "syntax error",
             (("SyntaxError", ""), ("IndentationError", ""), ("TabError", "")),
             ("syntax", "indent", "parse error", "does not parse")),
    RuleSpec("missing-import", "error", 0.42, "name used but never imported",
             (("NameError", r"is not defined"),), ("import", "imported")),
    RuleSpec("undefined-name", "error", 0.38, "undefined name",
             (("NameError", r"is not defined"), ("UnboundLocalError", "")),
             ("undefined", "not defined", "typo", "misspel", "nameerror")),
    RuleSpec("call-arity", "error", 0.40, "call does not match the signature",
             (("TypeError", r"(missing \d+ required|takes .* positional argument|unexpected keyword"
                            r"|multiple values for argument|positional-only arguments passed)"),),
             ("argument", "parameter", "arity", "signature", "positional", "keyword argument")),
    RuleSpec("unresolved-import", "error", 0.36, "import that cannot succeed",
             (("ImportError", r"cannot import name"), ("ModuleNotFoundError", "")),
             ("cannot import", "no module", "module not found", "import")),
    RuleSpec("import-cycle", "warning", 0.22, "circular import",
             (("ImportError", r"circular import|partially initialized"),
              ("AttributeError", r"partially initialized")),
             ("circular", "cycle", "import loop")),
    RuleSpec("missing-await", "error", 0.36, "coroutine called without await",
             (("AttributeError", r"'(coroutine|Future|Task)' object"), ("TypeError", r"'coroutine' object|<Future"),
              ("RuntimeWarning", r"was never awaited")),
             ("await", "coroutine", "async")),
    RuleSpec("blocking-call-in-async", "warning", 0.24, "blocking call inside async def",
             (("TimeoutError", ""), ("AssertionError", r"block"), ("CancelledError", "")),
             ("blocking", "blocked", "event loop", "sleep", "slow", "latency", "hang", "freez",
              "performance")),
    RuleSpec("bare-except", "warning", 0.20, "bare except",
             (("TypeError", r"NoneType"), ("AttributeError", r"NoneType"), ("UnboundLocalError", "")),
             ("except", "swallow", "silenc", "exception handling", "hidden error")),
    RuleSpec("swallowed-exception", "warning", 0.16, "broad exception silently ignored",
             (("TypeError", r"NoneType"), ("AttributeError", r"NoneType"), ("UnboundLocalError", "")),
             ("swallow", "silenc", "ignored error", "exception handling")),
    RuleSpec("mutable-default", "warning", 0.20, "mutable default argument",
             (("AssertionError", ""),), ("mutable", "default argument", "shared state", "shared list", "leaks between calls")),
    RuleSpec("none-comparison", "warning", 0.12, "comparison to None with ==",
             (("AttributeError", r"NoneType"), ("TypeError", r"NoneType")), ("== none", "!= none", "none comparison", "compared to none", "null check")),
    RuleSpec("eval-exec", "warning", 0.30, "eval/exec of data",
             (), ("eval", "exec", "code injection", "code execution")),
    RuleSpec("shell-true", "warning", 0.30, "subprocess with shell=True",
             (("CalledProcessError", ""),), ("shell", "command injection", "subprocess")),
    RuleSpec("pickle-loads", "warning", 0.28, "unpickling data",
             (("UnpicklingError", ""),), ("pickle", "deserializ", "unpickl")),
    RuleSpec("unsafe-yaml-load", "warning", 0.28, "yaml.load without a safe loader",
             (("TypeError", r"load\(\) missing 1 required positional argument: 'Loader'"),
              ("ConstructorError", "")), ("yaml",)),
    RuleSpec("hardcoded-secret", "warning", 0.26, "hard-coded secret",
             (), ("secret", "password", "hard-coded", "hardcoded", "credential", "api key", "token")),
    RuleSpec("sql-string-format", "warning", 0.30, "SQL built by string formatting",
             (("OperationalError", ""), ("ProgrammingError", ""), ("IntegrityError", "")),
             ("sql", "injection", "query")),
    RuleSpec("unused-import", "info", 0.04, "unused import", (), ("unused",)),
    RuleSpec("attribute-error", "error", 0.40, "attribute that does not exist",
             (("AttributeError", r"has no attribute"),), ("attribute", "typo", "misspel", "has no attribute")),
    RuleSpec("none-misuse", "error", 0.34, "a value that may be None used as if it were not",
             (("TypeError", r"NoneType"), ("AttributeError", r"NoneType")),
             ("optional", "nonetype", "returns none", "returned none", "none returned", "may be none")),
    RuleSpec("type-error", "error", 0.32, "operation on the wrong type",
             (("TypeError", r"(unsupported operand|can only concatenate|must be str|not supported between"
                            r"|object is not (callable|subscriptable|iterable)|argument must be)"),),
             ("type", "concatenat", "operand", "str + int", "wrong type")),
    RuleSpec("dict-key-typo", "error", 0.30, "dictionary key that is never set",
             (("KeyError", ""),), ("key", "keyerror", "dict", "typo")),
    RuleSpec("weak-hash", "warning", 0.26, "weak hash function", (),
             ("md5", "sha1", "weak hash", "insecure hash")),
    RuleSpec("insecure-compare", "warning", 0.26, "digest compared in non-constant time", (),
             ("timing", "constant-time", "constant time", "compare_digest", "signature", "hmac")),
    RuleSpec("security", "warning", 0.14, "security risk (other)", (), ()),
    RuleSpec("onex-convention", "warning", 0.12, "ONEX node convention", (), ("onex", "convention", "node")),
    RuleSpec("lint", "info", 0.03, "code-quality finding", (), ("lint", "style")),
    # Not a static check: the innermost project frame of a traceback nothing else explains.
    RuleSpec("unhandled-exception", "error", 0.24, "exception raised here", (), ("exception",)),
)

RULES: dict[str, RuleSpec] = {spec.rule: spec for spec in _SPECS}

SECURITY_RULES = frozenset(
    {"eval-exec", "shell-true", "pickle-loads", "unsafe-yaml-load", "hardcoded-secret", "sql-string-format",
     "weak-hash", "insecure-compare", "security"}
)

# Rules that report where a bad value is *used*; for a symptom exception the cause is elsewhere.
USE_SITE_RULES = frozenset({"attribute-error", "type-error"})
SYMPTOM_SITE_RULES = frozenset({"attribute-error", "type-error", "none-misuse"})
# Rules whose code hands a None on instead of failing where the error happened.
NONE_PRODUCERS = frozenset({"swallowed-exception", "bare-except"})

_SECURITY_WORDS = ("security", "vulnerab", "injection", "unsafe", "attack", "exploit", "audit")


def exception_rules(exc_type: str | None, message: str) -> list[str]:
    """Rules whose defect raises ``exc_type`` with this message (most specific first)."""
    if not exc_type:
        return []
    short = exc_type.rsplit(".", 1)[-1]
    found = []
    # a None (or an un-awaited coroutine) used: not a typo, not a wrong type of the code's own making
    none_value = "NoneType" in message or "'coroutine'" in message
    for spec in _SPECS:
        if none_value and spec.rule in USE_SITE_RULES:
            continue
        for name, pattern in spec.explains:
            if name == short and (not pattern or re.search(pattern, message)):
                found.append(spec.rule)
                break
    return found


def rules_mentioned(text: str) -> set[str]:
    """Rules a free-text problem description or hypothesis talks about."""
    lowered = text.lower()
    found = {
        spec.rule
        for spec in _SPECS
        if spec.rule != "unhandled-exception"
        and any(re.search(r"(?<![\w])" + re.escape(word), lowered) for word in spec.keywords)
    }
    if any(re.search(r"(?<![\w])" + word, lowered) for word in _SECURITY_WORDS):
        found |= SECURITY_RULES
    return found


def is_symptom(exc_type: str | None, message: str) -> bool:
    """Exceptions that report a bad value *used* on their line, produced somewhere else."""
    short = (exc_type or "").rsplit(".", 1)[-1]
    return short == "AssertionError" or (
        short in ("TypeError", "AttributeError") and re.search(r"NoneType|'coroutine'", message) is not None)
