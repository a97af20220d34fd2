"""Credentials recognised by their value, whatever field or text they stand in.

Name-based redaction misses a secret that arrives under an ordinary name, inside a longer string, or
in a program's output. These patterns find the common shapes by value:

* the password in a URL's userinfo: ``postgres://app:hunter2@db/x`` -> ``postgres://app:[REDACTED]@db/x``;
* token formats with a known prefix: GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``,
  ``github_pat_``), Anthropic (``sk-ant-``), OpenAI (``sk-``, ``sk-proj-``), Slack (``xoxb-`` ...),
  AWS access key ids (``AKIA``/``ASIA``), GitLab (``glpat-``), Google (``AIza``), npm (``npm_``),
  Hugging Face (``hf_``), Stripe (``sk_live_``/``rk_live_``), JWTs, ``Bearer`` tokens and PEM private keys;
* the value of a secret-named command-line flag: ``--password=x``, ``--token x``, ``--db-pass x``
  (``scrub_argv`` also handles the value in the next list element).

``sub_text`` and ``sub_bytes`` apply them to text and to serialised JSON / log bytes; each keeps what
identifies the credential's kind (the prefix, the user name, the flag) and replaces the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["flag_takes_secret", "has_secret_bytes", "scrub_argv", "sub_bytes", "sub_text"]

REDACTED = "[REDACTED]"

_TOKENS = (
    r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-ant-[A-Za-z0-9_-]{16,}"
    r"|sk-(?:proj-)?[A-Za-z0-9_-]{20,}|xox[abposre]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{30,}"
    r"|[sr]k_live_[A-Za-z0-9]{20,}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_BEARER = r"((?:[Bb]earer|BEARER|Basic)[ \t]+)[A-Za-z0-9._~+/=-]{16,}"
# Every pattern is linear in the text it scans (40 KB of "xxxx" once took the runner minutes): a
# variable-length part either starts right after a fixed prefix, or is bounded and anchored by a
# look-behind so it is tried from the start of a run of word characters only, not from inside it.
_PEM = r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----(?:(?!-----BEGIN ).){0,16384}?-----END [A-Z ]{0,40}PRIVATE KEY-----"
# scheme://user:password@host - the password part (no '/', '@' or whitespace inside).
_USERINFO = r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}://[^/\s:@\"']{0,256}:)[^/\s@\"']+(@)"
_SECRET_FLAG = (r"(?i:(?<![A-Za-z0-9_-])-{1,2}(?:[A-Za-z0-9_-]{0,48}[_-])?(?:password|passwd|pass|pwd|token|secret|api[_-]?key|apikey"
                r"|access[_-]?key|private[_-]?key|auth|credentials?)(?![A-Za-z0-9]))")
_FLAG_VALUE = rf"({_SECRET_FLAG}(?:=|[ \t]+))(?!-)[^\s\"'\\]+"

_TEXT = re.compile(rf"{_PEM}|{_USERINFO}|{_FLAG_VALUE}|{_BEARER}|(?<![A-Za-z0-9]){_TOKENS}", re.DOTALL)
_BYTES = re.compile(_TEXT.pattern.encode(), re.DOTALL)
_FLAG_ALONE = re.compile(rf"{_SECRET_FLAG}")
_FLAG_ITEM = re.compile(rf'"{_SECRET_FLAG}"'.encode())  # an argv item in serialised JSON


def _keep(groups: tuple[str | bytes | None, ...], redacted: str | bytes) -> str | bytes:
    userinfo, at, flag, bearer = groups
    if userinfo is not None:
        return userinfo + redacted + at  # type: ignore[operator]
    if flag is not None:
        return flag + redacted  # type: ignore[operator]
    if bearer is not None:
        return bearer + redacted  # type: ignore[operator]
    return redacted


def _replacer(redacted: str | bytes) -> Callable[[re.Match[str]], str]:
    return lambda m: _keep(m.groups(), redacted)  # type: ignore[return-value]


_TEXT_SUB = _replacer(REDACTED)
_BYTES_SUB = _replacer(REDACTED.encode())


def sub_text(text: str) -> str:
    """``text`` with every credential found by value replaced."""
    return _TEXT.sub(_TEXT_SUB, text)


def sub_bytes(data: bytes) -> bytes:
    return _BYTES.sub(_BYTES_SUB, data)  # type: ignore[arg-type]


def has_secret_bytes(data: bytes) -> bool:
    return _BYTES.search(data) is not None or _FLAG_ITEM.search(data) is not None


def flag_takes_secret(item: str) -> bool:
    """``--password`` or ``--api-key`` alone: the next argument is the secret."""
    return _FLAG_ALONE.fullmatch(item) is not None


def scrub_argv(items: list[str]) -> list[str]:
    """An argv list: ``["--token", "x"]`` -> ``["--token", "[REDACTED]"]``; values inside items too."""
    out = []
    for index, item in enumerate(items):
        if index and isinstance(items[index - 1], str) and flag_takes_secret(items[index - 1]) \
                and isinstance(item, str) and not item.startswith("-"):
            out.append(REDACTED)
        else:
            out.append(sub_text(item) if isinstance(item, str) else item)
    return out
