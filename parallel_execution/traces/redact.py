"""Keep secrets out of traces and results.

Two rules, applied to every document the runner persists or prints:

* a string stored under a key that looks like a secret (``api_key``, ``token``, ``password``, ...;
  inside an ``env`` mapping also terse names like ``OPENAI_KEY``) becomes ``"[REDACTED]"``;
* any occurrence of a known secret *value* inside any string is replaced too. Known values are those
  of environment variables with secret-looking names (the runner's own environment, e.g.
  ``ANTHROPIC_API_KEY``, and ``env`` entries given to tasks), so a program that prints its API key
  does not leak it through a stdout tail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = ["REDACTED", "Redactor", "looks_secret"]

REDACTED = "[REDACTED]"
# Names of fields that hold secrets, anywhere in a document ("max_tokens" is not one of them).
_SECRET_NAME = re.compile(r"(api[_-]?key|secret|token(?!s)|passw(or)?d|passphrase|credential|"
                          r"(private|auth|access|signing|encryption|master|client|session)[_-]?key|"
                          r"authorization|cookie)", re.IGNORECASE)
# Environment variable names are terser: OPENAI_KEY, AWS_ACCESS_KEY_ID, DB_PASS.
_SECRET_ENV_NAME = re.compile(_SECRET_NAME.pattern + r"|(_KEY(_ID)?|_PASS|_PWD|^KEY)$", re.IGNORECASE)
_ENV_FIELDS = frozenset({"env", "environ", "environment"})
_MIN_SECRET_LENGTH = 6  # shorter values would scrub ordinary words


def looks_secret(name: str, *, env: bool = False) -> bool:
    return bool((_SECRET_ENV_NAME if env else _SECRET_NAME).search(name))


class Redactor:
    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        values = sorted({v for v in secret_values if len(v) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
        # The same values as they appear inside serialised JSON strings (escapes applied).
        encoded = [orjson.dumps(v)[1:-1] for v in values]
        self._bytes_pattern = re.compile(b"|".join(map(re.escape, encoded))) if encoded else None
        self._key_cache: dict[Any, bool] = {}

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

        Nearly every document holds no secret, so first look cheaply (keys from a cache, known
        values by one regex over the serialised bytes) and rebuild only when something matches.
        ``keys=False`` skips the key scan, for documents whose keys are all the runner's own.
        """
        if value is None or isinstance(value, (int, float, bool)):
            return value
        if keys and self._has_suspect_key(value):
            return self._scrub(value)
        if self._bytes_pattern is not None:
            try:
                data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str)
            except TypeError:
                return self._scrub(value)
            if self._bytes_pattern.search(data):
                return self._scrub(value)
        return value

    def scrub_bytes(self, data: bytes) -> bytes:
        """Serialised JSON with known secret values replaced (keys are not looked at)."""
        if self._bytes_pattern is None:
            return data
        return self._bytes_pattern.sub(REDACTED.encode(), data)

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
            return self._pattern.sub(REDACTED, value) if self._pattern else value
        if isinstance(value, Mapping):
            return {k: REDACTED if isinstance(k, str) and isinstance(v, str) and looks_secret(k, env=env)
                    else self._scrub(v, env=isinstance(k, str) and k in _ENV_FIELDS) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value

    def scrub_file(self, path: str | os.PathLike[str], limit_bytes: int = 64 * 1024 * 1024) -> None:
        """Rewrite a text file (e.g. a captured stdout log) without known secret values."""
        if self._pattern is None:
            return
        from parallel_execution.traces.fsio import atomic_write_bytes

        with open(path, "rb") as handle:
            data = handle.read(limit_bytes + 1)
        if len(data) > limit_bytes:
            return  # too large to rewrite here; the tails in results are still scrubbed
        text = data.decode("utf-8", errors="surrogateescape")
        cleaned = self._pattern.sub(REDACTED, text)
        if cleaned != text:
            atomic_write_bytes(path, cleaned.encode("utf-8", errors="surrogateescape"))


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
