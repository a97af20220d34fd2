"""Parse error traces: Python tracebacks (chained, exception groups), pytest output, plain lines.

One pass over the lines with a small state machine. Each text becomes a list of
:class:`ParsedError`, oldest exception of a chain first, frames outermost first, exactly as the
interpreter prints them:

* **Python**: ``Traceback (most recent call last):``, ``File "p", line N, in f`` plus its code line
  (caret lines ``~~^^`` skipped), the exception line ``Type: message`` (continuation lines join
  the message), and the chain markers "The above exception was the direct cause ..." (``cause``)
  and "During handling of the above exception ..." (``context``). A ``File`` line without a header
  (how ``SyntaxError`` is printed) opens a traceback too. Exception-group ``|`` prefixes are
  stripped and each sub-exception is its own chain.
* **pytest**: ``--tb=long`` (code with ``>``, ``E`` lines, ``path:N: Type``), ``--tb=short``
  (``path:N: in func``), ``--tb=line`` and the ``FAILED path::test - Type: msg`` summary (used only
  when no detailed report of that test was parsed).
* **plain**: ``path:N[:col]: message`` (linters, warnings) and bare ``Type: message`` lines; a text
  with nothing recognisable becomes one message-only error so its words still count as evidence.

Frames keep the path as printed; mapping paths to workspace files is the caller's job.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ParsedError", "RawFrame", "parse_traces", "quoted_names"]

Format = Literal["python", "pytest", "plain"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_GROUP_PREFIX = re.compile(r"^(\s*\| ?)+")
_GROUP_BOUNDARY = re.compile(r"^\s*\+[-+ 0-9.]*[-+]$|^\s*\+-+ (\d+|\.\.\.) -+$")
_HEADER = re.compile(r"^\s*(?:\+ )?(?:Exception Group )?Traceback \(most recent call last\):\s*$")
_FILE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?\s*$')
_CARET = re.compile(r"^\s*[\^~\-+ ]*[\^~][\^~\-+ ]*$")
_REPEATED = re.compile(r"^\s*\[Previous line repeated \d+ more times?\]$|^\s*\.\.\.<\d+ lines>\.\.\.$")
_EXC = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::(?: (?P<msg>.*))?)?$")
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"
_LOCATION = re.compile(
    r"^(?P<file>(?:[A-Za-z]:)?[^\s:\"'>][^:\"]*?\.pyw?):(?P<line>\d+)(?::(?P<col>\d+))?:(?:\s(?P<rest>.*))?$"
)
_TYPED = re.compile(r"^(?P<type>(?:[A-Za-z_]\w*\.)*[A-Z]\w*)(?::\s?(?P<msg>.*))?$")
_PLAIN_EXC = re.compile(
    r"^(?P<type>(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt|Iteration|Group))"
    r"(?::\s?(?P<msg>.*))?$"
)
_WARNING = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+): (?P<type>(?:\w+\.)*\w*Warning): (?P<msg>.*)$")
_SECTION = re.compile(r"^_{3,} (?P<name>.+?) _{3,}$")
_SUBSEP = re.compile(r"^(_ )+_?$")
_BANNER = re.compile(r"^={3,}.*={3,}$")
_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (?P<file>[^\s:]+?)(?:::(?P<test>\S+))?(?: - (?P<rest>.*))?$")
_E_LINE = re.compile(r"^E {1,}(?P<text>.*)$")
_DEF = re.compile(r"^\s*>?\s*(?:async\s+)?def (?P<name>\w+)\s*\(")
_QUOTED = re.compile(r"'([A-Za-z_][\w.]*)'")


@dataclass(frozen=True, slots=True)
class RawFrame:
    file: str
    line: int | None
    function: str | None
    code: str | None


@dataclass(slots=True)
class ParsedError:
    source: int
    format: Format
    exc_type: str | None
    message: str
    frames: list[RawFrame]
    chain: int
    position: int
    relation: Literal["cause", "context"] | None = None
    test: str | None = None

    def headline(self) -> str:
        return f"{self.exc_type}: {self.message}" if self.exc_type else self.message


def quoted_names(message: str) -> list[str]:
    """Identifiers quoted in an exception message (``name 'sys' is not defined`` -> ``sys``)."""
    names = _QUOTED.findall(message)
    names += re.findall(r"\b([A-Za-z_][\w.]*)\(\)", message)  # f() missing 1 required ...
    return list(dict.fromkeys(names))


@dataclass(slots=True)
class _Pending:
    fmt: Format
    frames: list[RawFrame] = field(default_factory=list)
    e_lines: list[str] = field(default_factory=list)
    chunk: list[str] = field(default_factory=list)  # pytest long format: code since last location


class _Parser:
    def __init__(self, source: int, chain_base: int) -> None:
        self.source = source
        self.errors: list[ParsedError] = []
        self.chain = chain_base
        self.position = -1
        self.relation: Literal["cause", "context"] | None = None
        self.pending: _Pending | None = None
        self.test: str | None = None
        self.in_summary = False
        self.tests_seen: set[str] = set()

    # -- error bookkeeping -------------------------------------------------------------------
    def _open(self, fmt: Format) -> _Pending:
        if self.pending is not None:
            self._close(None, "")
        self.pending = _Pending(fmt)
        return self.pending

    def _close(self, exc_type: str | None, message: str) -> ParsedError | None:
        pending, self.pending = self.pending, None
        if pending is None:
            return None
        if pending.e_lines:  # pytest "E" lines carry the real exception text
            first = _TYPED.match(pending.e_lines[0])
            if first and first.group("msg") is not None:
                exc_type = first.group("type")
                message = "\n".join([first.group("msg") or "", *pending.e_lines[1:]]).strip()
            else:
                message = "\n".join(pending.e_lines).strip()
        if exc_type is None and not message and not pending.frames:
            return None
        if exc_type is None and pending.fmt == "pytest" and message.startswith("assert "):
            exc_type = "AssertionError"  # pytest's assertion rewriting prints no type
        if self.relation is None:  # a new report; otherwise the next link of the same chain
            self.chain += 1
            self.position = 0
        else:
            self.position += 1
        error = ParsedError(self.source, pending.fmt, exc_type, message, pending.frames,
                            self.chain, self.position, self.relation, self.test)
        self.errors.append(error)
        if self.test:
            self.tests_seen.add(self.test)
        self.relation = None
        return error

    def _chain_marker(self, relation: Literal["cause", "context"]) -> None:
        if self.pending is not None:
            self._close(None, "")
        if self.errors and self.errors[-1].chain == self.chain:
            self.relation = relation

    # -- main loop -------------------------------------------------------------------------------
    def parse(self, text: str) -> list[ParsedError]:
        lines = [_ANSI.sub("", raw).rstrip() for raw in textwrap.dedent(text).splitlines()]
        i = 0
        while i < len(lines):
            i = self._step(lines, i)
        if self.pending is not None:
            self._close(None, "")
        return self.errors

    def _step(self, lines: list[str], i: int) -> int:
        raw = lines[i]
        if _GROUP_BOUNDARY.match(raw):
            if self.pending is not None:
                self._close(None, "")
            self.relation = None
            return i + 1
        line = _GROUP_PREFIX.sub("", raw) if raw.lstrip().startswith("|") else raw
        stripped = line.strip()
        if not stripped or _REPEATED.match(line) or _SUBSEP.match(stripped):
            return i + 1
        if _HEADER.match(line):
            self._open("python")
            return i + 1
        if stripped == _CAUSE:
            self._chain_marker("cause")
            return i + 1
        if stripped == _CONTEXT:
            self._chain_marker("context")
            return i + 1
        if (section := _SECTION.match(stripped)) is not None:
            if self.pending is not None:
                self._close(None, "")
            self.relation = None
            self.test = section.group("name")
            return i + 1
        if _BANNER.match(stripped):
            if self.pending is not None:
                self._close(None, "")
            self.relation = None
            self.in_summary = "short test summary" in stripped
            self.test = None
            return i + 1
        if self.in_summary and (summary := _SUMMARY.match(stripped)) is not None:
            self._summary(summary)
            return i + 1
        if (frame := _FILE.match(line)) is not None:
            return self._python_frame(lines, i, frame)
        if (e_line := _E_LINE.match(line)) is not None:
            pending = self.pending or self._open("pytest")
            pending.e_lines.append(e_line.group("text").strip())
            return i + 1
        if (location := _LOCATION.match(stripped)) is not None:
            return self._location(lines, i, location)
        if self.pending is not None and self.pending.fmt == "python" and not line[:1].isspace():
            return self._python_exception(lines, i, stripped)
        if self.pending is not None and self.pending.fmt == "pytest":
            self.pending.chunk.append(line)
            return i + 1
        if self.pending is None and self.test is not None and (line[:1].isspace() or stripped.startswith(">")):
            # pytest long format: source lines before the first location line of a section
            self._open("pytest").chunk.append(line)
            return i + 1
        if (warning := _WARNING.match(stripped)) is not None:  # "sys:1: RuntimeWarning: ..."
            self._open("plain").frames.append(RawFrame(warning.group("file"), int(warning.group("line")), None, None))
            self._close(warning.group("type"), warning.group("msg").strip())
            return i + 1
        if (plain := _PLAIN_EXC.match(stripped)) is not None:
            self._open("plain")
            self._close(plain.group("type"), (plain.group("msg") or "").strip())
        return i + 1

    def _python_frame(self, lines: list[str], i: int, match: re.Match[str]) -> int:
        pending = self.pending if self.pending is not None and self.pending.fmt == "python" else None
        if pending is None:
            pending = self._open("python")  # SyntaxError reports have no header
        code = None
        j = i + 1
        if j < len(lines):
            nxt = _GROUP_PREFIX.sub("", lines[j]) if lines[j].lstrip().startswith("|") else lines[j]
            if nxt[:1].isspace() and not _FILE.match(nxt) and not _CARET.match(nxt) and nxt.strip():
                code = nxt.strip()
                j += 1
        while j < len(lines) and _CARET.match(lines[j]) and lines[j].strip():
            j += 1
        pending.frames.append(RawFrame(match.group("file"), int(match.group("line")),
                                       match.group("func"), code))
        return j

    def _python_exception(self, lines: list[str], i: int, stripped: str) -> int:
        match = _EXC.match(stripped) or _PLAIN_EXC.match(stripped)
        if match is None:
            exc_type, message = None, stripped
        else:
            exc_type, message = match.group("type"), (match.group("msg") or "").strip()
        j = i + 1
        extra: list[str] = []
        while j < len(lines):
            nxt = lines[j].strip()
            if (not nxt or _HEADER.match(lines[j]) or nxt in (_CAUSE, _CONTEXT) or _FILE.match(lines[j])
                    or _WARNING.match(nxt) or _LOCATION.match(nxt) or _SUMMARY.match(nxt)
                    or _BANNER.match(nxt) or _SECTION.match(nxt) or _GROUP_BOUNDARY.match(lines[j])
                    or lines[j].lstrip().startswith(("|", "+-"))):
                break
            extra.append(nxt)
            j += 1
        self._close(exc_type, "\n".join([message, *extra]).strip())
        return j

    def _location(self, lines: list[str], i: int, match: re.Match[str]) -> int:
        rest = (match.group("rest") or "").strip()
        file, lineno = match.group("file"), int(match.group("line"))
        if rest.startswith("in ") and re.fullmatch(r"in [\w<>.\[\]-]+", rest):  # --tb=short
            pending = self.pending if self.pending is not None and self.pending.fmt == "pytest" else None
            pending = pending or self._open("pytest")
            code, j = None, i + 1
            while j < len(lines) and lines[j][:1].isspace() and lines[j].strip():
                if code is None and not _CARET.match(lines[j]):
                    code = lines[j].strip()
                j += 1
            pending.frames.append(RawFrame(file, lineno, rest[3:], code))
            return j
        pending = self.pending if self.pending is not None and self.pending.fmt in ("pytest", "plain") else None
        fmt: Format = "pytest" if (pending is not None or self.test is not None) else "plain"
        pending = pending or self._open(fmt)
        function, code = None, None
        for chunk_line in reversed(pending.chunk):
            if code is None and chunk_line.lstrip().startswith(">"):
                code = chunk_line.lstrip()[1:].strip()
            if function is None and (d := _DEF.match(chunk_line)) is not None:
                function = d.group("name")
        pending.chunk = []
        if not rest:  # long format, intermediate frame
            pending.frames.append(RawFrame(file, lineno, function, code))
            return i + 1
        j = i + 1
        if code is None and j < len(lines) and lines[j][:1].isspace() and lines[j].strip():
            code = lines[j].strip()  # warnings print the source line after the location
            j += 1
        pending.frames.append(RawFrame(file, lineno, function, code))
        typed = _TYPED.match(rest)
        if typed is not None and (typed.group("msg") is not None or typed.group("type") == rest):
            self._close(typed.group("type"), (typed.group("msg") or "").strip())
        else:
            self._close(None, rest)
        return j

    def _summary(self, match: re.Match[str]) -> None:
        test = match.group("test")
        rest = (match.group("rest") or "").strip()
        if test is not None and test.split("[")[0].split("::")[-1] in {t.split("[")[0] for t in self.tests_seen}:
            return  # the detailed report of this test was parsed already
        prefix = rest.removesuffix("...")
        if prefix and any(e.headline().startswith(prefix) or e.message.startswith(prefix) for e in self.errors):
            return  # --tb=line printed it already
        pending = self._open("pytest")
        pending.frames.append(RawFrame(match.group("file"), None, test, None))
        typed = _TYPED.match(rest)
        if typed is not None and typed.group("msg") is not None:
            self._close(typed.group("type"), typed.group("msg").strip())
        else:
            self._close(None, rest)


def parse_traces(traces: list[str]) -> list[ParsedError]:
    """Parse every text in ``traces``; the result is ordered by text, then as printed."""
    errors: list[ParsedError] = []
    chain = -1
    for source, text in enumerate(traces):
        parser = _Parser(source, chain)
        found = parser.parse(text)
        if not found and text.strip():
            first = text.strip()
            found = [ParsedError(source, "plain", None, first[:2000], [], parser.chain + 1, 0)]
        errors.extend(found)
        chain = max([chain, *(error.chain for error in found)])
    return errors
