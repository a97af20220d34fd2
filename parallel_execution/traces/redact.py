"""Keep secrets out of traces and results.

Two rules, applied to every document the runner persists or prints:

* a string stored under a key that looks like a secret (``api_key``, ``token``, ``password``, ...;
  inside an ``env`` mapping also terse names like ``OPENAI_KEY``) becomes ``"[REDACTED]"``;
* any occurrence of a known secret *value* inside any string is replaced too. Known values are those
  of environment variables with secret-looking names (the runner's own environment, e.g.
  ``ANTHROPIC_API_KEY``, and ``env`` entries given to tasks), so a program that prints its API key
  does not leak it through a stdout tail;
* credentials recognised by their *shape* (``secrets``: URL passwords, ``ghp_``/``sk-ant-``/``AKIA``...
  tokens, ``--password=...`` flags) are replaced wherever they stand, known or not.

Object keys are strings like any other: a secret used as a key is replaced in the key. ``scrub_file``
rewrites a log file of any size, streaming it line by line. ``RedactingObserver`` puts the same rules
between the scheduler and the progress observers (``--events``, stderr), which print task errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from parallel_execution.run.observers import HOOKS, acts_on
from parallel_execution.traces import secrets
from parallel_execution.traces.fsio import json_fallback

__all__ = ["REDACTED", "RedactingObserver", "Redactor", "looks_secret"]

REDACTED = "[REDACTED]"
# Names of fields that hold secrets, anywhere in a document ("max_tokens" is not one of them).
_SECRET_NAME = re.compile(r"(api[_-]?key|secret|token(?!s)|passw(or)?d|passphrase|credential|"
                          r"(private|auth|access|signing|encryption|master|client|session)[_-]?key|"
                          r"authorization|cookie)", re.IGNORECASE)
# Environment variable names are terser: OPENAI_KEY, AWS_ACCESS_KEY_ID, DB_PASS, GITHUB_PAT, DATABASE_URL
# (its password is caught by value; the whole URL is not a secret on its own).
_SECRET_ENV_NAME = re.compile(_SECRET_NAME.pattern + r"|(_KEY(_ID)?|_PASS|_PWD|^KEY|_PAT|^PAT)$|_PAT_", re.IGNORECASE)
_ENV_FIELDS = frozenset({"env", "environ", "environment"})
_MIN_SECRET_LENGTH = 6  # shorter values would scrub ordinary words


def looks_secret(name: str, *, env: bool = False) -> bool:
    return bool((_SECRET_ENV_NAME if env else _SECRET_NAME).search(name))


class Redactor:
    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        values = sorted({v for v in secret_values if len(v) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = values
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
        # The same values as they appear inside serialised JSON strings (escapes applied).
        encoded = [orjson.dumps(v)[1:-1] for v in values]
        self._encoded = encoded
        self._bytes_pattern = re.compile(b"|".join(map(re.escape, encoded))) if encoded else None
        self._key_cache: dict[Any, bool] = {}
        raw = [v.encode("utf-8", "surrogateescape") for v in values]
        self._raw_pattern = re.compile(b"|".join(map(re.escape, raw))) if raw else None

    @classmethod
    def for_dispatch(cls, inputs: Iterable[Any], environ: Mapping[str, str] | None = None) -> Redactor:
        """Secrets from the environment plus secret-named string values anywhere in task inputs."""
        env = os.environ if environ is None else environ
        values = [v for k, v in env.items() if looks_secret(k, env=True)]
        for item in inputs:
            values.extend(_secret_values(item))
        return cls(values)

    def scrub(self, value: Any, *, keys: bool = True) -> Any:
        """``value`` with secrets removed: a cleaned copy, or ``value`` itself when it holds none.

        Nearly every document holds no secret, so first look cheaply (one serialisation, read for
        the words secret names are made of and for known values and credential shapes) and rebuild
        only when something matches. ``keys=False`` skips the key check, for documents whose keys
        are all the runner's own.
        """
        if value is None or isinstance(value, (int, float, bool)):
            return value
        if isinstance(value, str):
            return self._text(value)
        try:
            data = serialise(value)
        except TypeError:
            return self._scrub(value)
        if (keys and self._suspect_key(data, value)) or self.holds_secret(data):
            return self._scrub(value)
        return value

    def unchanged(self, *values: Any) -> bool:
        """Whether ``scrub`` would return every one of ``values`` as it is: one look at them all
        (one serialisation, one scan) instead of one per value. False may be a false alarm (then
        scrub each: they are cleaned exactly); True never is."""
        containers = []
        for value in values:
            if isinstance(value, str):
                if self._text(value) != value:
                    return False
            elif not (value is None or isinstance(value, (int, float, bool))):
                containers.append(value)
        if not containers:
            return True
        try:
            data = serialise(containers)
        except TypeError:
            return False
        return not self._suspect_key(data, containers) and not self.holds_secret(data)

    def clean_json(self, data: bytes, key_parts: Iterable[Any] = ()) -> bool:
        """Whether a serialised document holds nothing to redact: no secret value or credential shape
        in ``data`` and no secret-named key in ``key_parts`` (its user-supplied parts), whose
        serialisation ``data`` must contain (see ``serialise``). True means ``scrub`` would return
        those parts as they are and ``scrub_bytes(data)`` is ``data``. ``data`` may be the
        serialisation of just the strings and values that came from outside (see
        ``traces.writer._supplied``): then True holds for the document built around them."""
        parts = list(key_parts)
        return not (parts and self._suspect_key(data, parts)) and not self.holds_secret(data)

    def _suspect_key(self, data: bytes, value: Any) -> bool:
        # Every secret name holds one of _NAME_WORDS (ASCII, any case): without one in the serialised
        # bytes there is no suspect key, and the walk over every key is skipped.
        return _may_name_secret(data) and self._has_suspect_key(value)

    def holds_secret(self, data: bytes) -> bool:
        """Whether serialised JSON holds a known secret value or a credential shape (nothing replaced)."""
        return self._has_known(data) or secrets.has_secret_bytes(data)

    def scrub_bytes(self, data: bytes) -> bytes:
        """Serialised JSON (or log text) with known secret values and credential shapes replaced."""
        if self._bytes_pattern is not None and self._has_known(data):
            data = self._bytes_pattern.sub(REDACTED.encode(), data)
        return secrets.sub_bytes(data)

    def _has_known(self, data: bytes) -> bool:
        # One substring search per value: far quicker than the alternation, which ``re`` tries at every byte.
        return any(value in data for value in self._encoded)

    def _text(self, text: str) -> str:
        if self._pattern is not None and any(value in text for value in self._values):
            text = self._pattern.sub(REDACTED, text)
        return secrets.sub_text(text)

    def _has_suspect_key(self, value: Any) -> bool:
        # Plain dict/list checks (not the slower ABCs): documents here come from JSON.
        stack, cache, containers = [value], self._key_cache, (dict, list, tuple)
        while stack:
            item = stack.pop()
            if type(item) is dict:
                for key, child in item.items():
                    suspect = cache.get(key)
                    if suspect is None:  # the broader env rule: a superset; _scrub applies the exact ones
                        suspect = cache[key] = isinstance(key, str) and looks_secret(key, env=True)
                    if suspect:
                        return True
                    if type(child) in containers:
                        stack.append(child)
            elif type(item) in containers:
                stack.extend(c for c in item if type(c) in containers)
            elif isinstance(item, Mapping):  # anything else map-like: take the slow, exact path
                return True
        return False

    def _scrub(self, value: Any, *, env: bool = False) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                secret_named = isinstance(k, str) and isinstance(v, str) and looks_secret(k, env=env)
                item = REDACTED if secret_named else self._scrub(v, env=isinstance(k, str) and k in _ENV_FIELDS)
                key = self._text(k) if isinstance(k, str) else k
                n = 1
                while key in out:  # two keys scrubbed to the same text: keep both entries
                    n += 1
                    key = f"{self._text(k)} #{n}"
                out[key] = item
            return out
        if isinstance(value, (list, tuple)):
            items = [self._scrub(v) for v in value]
            if any(isinstance(v, str) and secrets.flag_takes_secret(v) for v in items):
                items = secrets.scrub_argv(items)  # ["--password", "x"]: the value is the next item
            return items
        return value

    def scrub_file(self, path: str | os.PathLike[str], chunk_bytes: int = 1024 * 1024) -> None:
        """Rewrite a text file (e.g. a captured stderr log) of any size without secrets: streamed line
        by line (a line longer than ``chunk_bytes`` is taken in pieces), replaced only if changed."""
        raw, target = self._raw_pattern, os.fspath(path)
        tmp = f"{target}.{os.getpid()}.redact.tmp"
        changed = False
        try:
            with open(target, "rb") as source, open(tmp, "xb") as sink:
                while line := source.readline(chunk_bytes):
                    out = secrets.sub_bytes(raw.sub(REDACTED.encode(), line) if raw is not None else line)
                    changed = changed or out != line
                    sink.write(out)
            if changed:
                os.replace(tmp, target)  # never following a link planted at the name
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)


# What every name ``looks_secret(name, env=True)`` accepts contains, lowercased: each branch of
# _SECRET_NAME holds key, secret, token, pass, credential, authorization or cookie; the env endings
# are _KEY, _PASS, _PWD, _PAT, and the whole names KEY and PAT (a key is quoted in JSON).
_NAME_WORDS = (b"key", b"secret", b"token", b"pass", b"credential", b"authorization", b"cookie", b"_pwd", b"_pat",
               b'"pat"')


def _may_name_secret(data: bytes) -> bool:
    """False only when no object key in serialised ``data`` can look secret (non-ASCII text may
    case-fold to ASCII letters under ``re.IGNORECASE``: no shortcut for it)."""
    if not data.isascii():
        return True
    lowered = data.lower()
    for word in _NAME_WORDS:  # noqa: SIM110 (a loop: any() over a generator costs ~1 µs a call here)
        if word in lowered:
            return True
    return False


def serialise(value: Any) -> bytes:
    """The bytes the scan reads: JSON, with sets and tuples as lists, models dumped, other objects
    as their ``str``. A mapping that is not a dict raises ``TypeError`` (its keys may not show in
    its text, and another serialiser would write them): callers clean such values item by item."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=_strict_fallback)


def _strict_fallback(value: Any) -> Any:
    if isinstance(value, Mapping):
        raise TypeError("not a dict")
    return json_fallback(value)


def _secret_values(value: Any, env: bool = False) -> list[str]:
    """Values of secret-named fields: in task inputs and in the ``env`` mappings they pass on."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and isinstance(v, str) and looks_secret(k, env=env):
                found.append(v)
            else:
                found.extend(_secret_values(v, env=isinstance(k, str) and k in _ENV_FIELDS))
    elif isinstance(value, list):
        for v in value:
            found.extend(_secret_values(v))
    return found


class RedactingObserver:
    """Forwards the scheduler's hooks to ``inner`` with secrets scrubbed from what they carry: strings
    and event records, and task outcomes (a scrubbed copy: ``output``, ``error``, ``resolved_input``)."""

    def __init__(self, inner: Any, redactor: Redactor) -> None:
        self._inner, self._redactor = inner, redactor

    @property
    def wrapped(self) -> Any:
        """The observer behind the redaction (its name is the one reported when a hook raises)."""
        return self._inner

    def __getattr__(self, name: str) -> Any:
        # Outcomes are cleaned one by one: the inner observer gets task_finished, never the batch hook.
        if name == "tasks_finished" or (name in HOOKS and not acts_on(self._inner, name)):
            raise AttributeError(name)
        target = getattr(self._inner, name)  # AttributeError: the inner observer has no such hook
        if not callable(target) or name.startswith("_"):
            return target
        return lambda *args: target(*(self._clean(a) for a in args))

    def _clean(self, value: Any) -> Any:
        if isinstance(value, (str, dict, list)):
            return self._redactor.scrub(value)
        if hasattr(value, "error") and hasattr(value, "output") and hasattr(value, "attempts"):
            if getattr(value, "verified_by", None) is self._redactor:
                return value  # its trace document was checked whole and held nothing to hide
            parts = [value.error, value.output, getattr(value, "resolved_input", None)]
            parts.extend(p for a in value.attempts for p in (getattr(a, "error", None), getattr(a, "traceback", None),
                                                              getattr(a, "events", None)))
            if self._redactor.unchanged(*parts):
                return value  # nothing to hide (nearly always): no copies
            import copy

            outcome = copy.copy(value)
            outcome.error = self._redactor.scrub(value.error)
            outcome.output = self._redactor.scrub(value.output)
            if hasattr(value, "resolved_input"):
                outcome.resolved_input = self._redactor.scrub(value.resolved_input)
            outcome.attempts = [self._attempt(a) for a in value.attempts]
            return outcome
        return value

    def _attempt(self, attempt: Any) -> Any:
        import copy

        clean = copy.copy(attempt)
        for name in ("error", "traceback"):
            if isinstance(getattr(attempt, name, None), str):
                setattr(clean, name, self._redactor.scrub(getattr(attempt, name)))
        if isinstance(getattr(attempt, "events", None), list):
            clean.events = self._redactor.scrub(attempt.events)
        return clean
