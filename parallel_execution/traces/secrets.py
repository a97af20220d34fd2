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

Speed: Python's ``re`` has no fast path for this alternation (most branches start with a character
class or a look-behind), so a search costs ~100 ns per byte, and every trace document and output is
scanned. Each branch needs a literal to stand in the text (a token prefix, ``://``, ``-----BEGIN``,
a flag word, ``bearer``/``basic``); ``_may_hold`` looks for those with plain substring searches
(memchr-fast, a few µs per document) and the full pattern runs only where one is found. The
prefilter only ever says "maybe": every match of the full pattern contains one of its literals, so
the results are the same as the full pattern's on every input (``tests/test_secrets_prefilter.py``).
"""

from __future__ import annotations

import functools
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
# Every pattern is linear in the text it scans (40 KB of "xxxx" once took the runner minutes): a
# variable-length part either starts right after a fixed prefix, or is bounded and anchored by a
# look-behind so it is tried from the start of a run of word characters only, not from inside it.
# A PEM block's body is taken character by character, stopping at the next BEGIN; in serialised JSON
# a character is also an escape (``\n``) and never the closing quote, so a block never spans two
# strings: a BEGIN in one field and an END in another would replace the JSON between them.
_PEM = r"-----BEGIN [A-Z ]{{0,40}}PRIVATE KEY-----(?:(?!-----BEGIN ){char}){{0,16384}}?-----END [A-Z ]{{0,40}}PRIVATE KEY-----"
# scheme://user:password@host - the password part (no '/', '@' or whitespace inside).
_USERINFO = r"{start}([A-Za-z][A-Za-z0-9+.-]{{0,31}}://[^/\s:@\"']{{0,256}}:)[^/\s@\"']+(@)"
_FLAG = (r"(?i:{start}-{{1,2}}(?:[A-Za-z0-9_-]{{0,48}}[_-])?(?:password|passwd|pass|pwd|token|secret|api[_-]?key"
         r"|apikey|access[_-]?key|private[_-]?key|auth|credentials?)(?![A-Za-z0-9]))")
_SECRET_FLAG = _FLAG.format(start="(?<![A-Za-z0-9_-])")
# In serialised JSON a character before a credential may be an escape ("\n" of a new line, "\u0001"):
# its last character is a letter or digit, yet the credential starts a word in the text.
_AFTER_ESCAPE = r"|(?<=\\[nrtbf])|(?<=\\u00[0-9a-fA-F]{2})"


def _pattern(ws: str, escapes: str = "") -> str:
    """The whole alternation; ``ws`` matches one space or tab and ``escapes`` adds JSON escapes to the
    word boundaries (in serialised JSON a tab is ``\\t``, a new line ``\\n``)."""
    def start(chars: str) -> str:
        return f"(?:(?<![{chars}]){escapes})" if escapes else f"(?<![{chars}])"

    userinfo = _USERINFO.format(start=start("A-Za-z0-9+.-"))
    flag = _FLAG.format(start=start("A-Za-z0-9_-"))
    bearer = rf"((?:[Bb]earer|BEARER|Basic){ws}+)[A-Za-z0-9._~+/=-]{{16,}}"
    flag_value = rf"({flag}(?:=|{ws}+))(?!-)[^\s\"'\\]+"
    pem = _PEM.format(char=r'(?:[^"\\]|\\.)' if escapes else ".")
    return rf"{pem}|{userinfo}|{flag_value}|{bearer}|{start('A-Za-z0-9')}{_TOKENS}"


class _Patterns:
    """The full patterns, compiled on first use (~5 ms: a run whose text never passes the prefilter skips it)."""

    @functools.cached_property
    def text(self) -> re.Pattern[str]:
        return re.compile(_pattern(r"[ \t]"), re.DOTALL)

    @functools.cached_property
    def data(self) -> re.Pattern[bytes]:
        return re.compile(_pattern(r"(?:[ \t]|\\t)", _AFTER_ESCAPE).encode(), re.DOTALL)

    @functools.cached_property
    def flag_item(self) -> re.Pattern[bytes]:
        return re.compile(rf'"{_SECRET_FLAG}"'.encode())  # an argv item in serialised JSON

    @functools.cached_property
    def flag_alone(self) -> re.Pattern[str]:
        return re.compile(_SECRET_FLAG)


_FULL = _Patterns()


# The prefilter: every match of the full patterns (bytes, flag item) contains one of these. Searches that start with
# one literal byte are fast in ``re`` (a memchr to each occurrence); so are plain substring tests.
# A flag word follows "-" or "_" directly (``-{1,2}(?:[A-Za-z0-9_-]*[_-])?word``).
_FLAG_WORD = rb"(?i:pass|pwd|token|secret|api|access|private|auth|credential)"  # how every flag word begins
_AT_UNDERSCORE = re.compile(rb"_(?:" + _FLAG_WORD + rb"|(?<=gh[pousr]_)|(?<=github_pat_)|(?<=npm_)|(?<=hf_)|(?<=k_live_))")
_AT_DASH = re.compile(rb"-(?:" + _FLAG_WORD + rb"|----BEGIN|(?<=xox[abposre]-)|(?<=glpat-)|(?<=sk-)(?:(?<![A-Za-z0-9]sk-)"
                      rb"|(?<=\\[nrtbf]sk-)|(?<=\\u00[0-9a-fA-F]{2}sk-)))")  # sk- starts a word (escapes: _AFTER_ESCAPE)
_AT_A = re.compile(rb"A(?:KIA|SIA|Iza)")
_LITERALS = (b"://", b"eyJ", b"earer", b"EARER", b"Basic")


def _may_hold(data: bytes) -> bool:
    """False only when no full pattern (``_FULL``) can match ``data``: a literal every match needs is absent."""
    for literal in _LITERALS:
        if literal in data:
            return True
    return (_AT_DASH.search(data) is not None or _AT_UNDERSCORE.search(data) is not None
            or _AT_A.search(data) is not None)


def _may_hold_text(text: str) -> bool:
    # Unicode case folding can make non-ASCII letters match the flag words: no shortcut for those.
    return not text.isascii() or _may_hold(text.encode("ascii"))


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
    return _FULL.text.sub(_TEXT_SUB, text) if _may_hold_text(text) else text


def sub_bytes(data: bytes) -> bytes:
    return _FULL.data.sub(_BYTES_SUB, data) if _may_hold(data) else data  # type: ignore[arg-type]


def has_secret_bytes(data: bytes) -> bool:
    return _may_hold(data) and (_FULL.data.search(data) is not None or _FULL.flag_item.search(data) is not None)


def flag_takes_secret(item: str) -> bool:
    """``--password`` or ``--api-key`` alone: the next argument is the secret."""
    return _FULL.flag_alone.fullmatch(item) is not None


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
