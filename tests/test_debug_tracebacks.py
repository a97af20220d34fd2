"""Traceback parsing: Python (chained, SyntaxError, exception groups), pytest formats, plain lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from parallel_execution.agents.debug.tracebacks import RawFrame, parse_traces, quoted_names

CHAINED = '''\
Traceback (most recent call last):
  File "/app/a.py", line 4, in f
    return {}[x]
           ~~^^^
KeyError: 1

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/a.py", line 9, in g
    f(1)
  File "/app/a.py", line 6, in f
    raise ValueError("bad key") from e
ValueError: bad key

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/a.py", line 12, in <module>
    g()
  File "/app/a.py", line 11, in g
    logging.warning("x")
    ^^^^^^^
NameError: name 'logging' is not defined
'''

PYTEST_LONG = '''\
=================================== FAILURES ===================================
____________________________________ test_x ____________________________________

    def test_x():
>       assert b.h(1) == 2

t_x.py:3:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

a = 1

    def h(a):
>       return a + None
E       TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'

b.py:2: TypeError
____________________________________ test_y ____________________________________

    def test_y():
>       assert b.h2(1, 2) == 2
E       assert 1 == 2
E        +  where 1 = <function h2 at 0x7f461678a8e0>(1, 2)

t_x.py:5: AssertionError
=========================== short test summary info ============================
FAILED t_x.py::test_x - TypeError: unsupported operand type(s) for +: 'int' and...
FAILED t_x.py::test_y - assert 1 == 2
FAILED t_x.py::test_z - ZeroDivisionError: division by zero
2 failed in 0.73s
'''

PYTEST_SHORT = '''\
=================================== FAILURES ===================================
____________________________________ test_x ____________________________________
t_x.py:3: in test_x
    assert b.h(1) == 2
           ^^^^^^
E   TypeError: h() missing 1 required positional argument: 'b'
____________________________________ test_y ____________________________________
t_x.py:5: in test_y
    assert b.h(1, 2) == 2
E   assert 1 == 2
'''

PYTEST_LINE = '''\
=================================== FAILURES ===================================
E   TypeError: h() missing 1 required positional argument: 'b'
/tmp/tbx/t_x.py:3: TypeError: h() missing 1 required positional argument: 'b'
=========================== short test summary info ============================
FAILED t_x.py::test_x - TypeError: h() missing 1 required positional argument...
'''

GROUP = '''\
  + Exception Group Traceback (most recent call last):
  |   File "/app/g.py", line 5, in <module>
  |     raise ExceptionGroup("two", [ValueError("a"), TypeError("b")])
  | ExceptionGroup: two (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/app/g.py", line 2, in f
    |     raise ValueError("a")
    | ValueError: a
    +---------------- 2 ----------------
    | TypeError: b
    +------------------------------------
'''


def test_chained_python_traceback_keeps_order_relations_and_frames() -> None:
    errors = parse_traces([CHAINED])
    assert [(e.exc_type, e.chain, e.position, e.relation) for e in errors] == [
        ("KeyError", 0, 0, None), ("ValueError", 0, 1, "cause"), ("NameError", 0, 2, "context")]
    assert errors[0].frames == [RawFrame("/app/a.py", 4, "f", "return {}[x]")]  # caret line skipped
    assert [f.line for f in errors[2].frames] == [12, 11]
    assert errors[2].message == "name 'logging' is not defined"
    assert all(e.format == "python" for e in errors)


def test_real_chained_traceback_from_the_interpreter(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text(textwrap.dedent("""\
        class ConfigError(Exception):
            pass
        def read(cfg):
            try:
                return cfg["port"]
            except KeyError as exc:
                raise ConfigError("no port") from exc
        read({})
        """))
    proc = subprocess.run([sys.executable, "-B", str(script)], capture_output=True, text=True, timeout=30)
    errors = parse_traces([proc.stderr])
    assert [(e.exc_type, e.relation) for e in errors] == [("KeyError", None), ("ConfigError", "cause")]
    assert errors[0].frames[-1] == RawFrame(str(script), 5, "read", 'return cfg["port"]')
    assert errors[1].message == "no port"


def test_syntax_error_report_without_header_and_multiline_message() -> None:
    text = '  File "/app/s.py", line 3\n    return key.strip(), value.strip(\n' \
           '                                   ^\nSyntaxError: \'(\' was never closed\n'
    (error,) = parse_traces([text])
    assert (error.exc_type, error.message) == ("SyntaxError", "'(' was never closed")
    assert error.frames == [RawFrame("/app/s.py", 3, None, "return key.strip(), value.strip(")]
    (multi,) = parse_traces(['Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
                             'ValueError: first line\nsecond line\n'])
    assert multi.message == "first line\nsecond line"


def test_exception_groups_strip_prefixes_and_split_sub_exceptions() -> None:
    errors = parse_traces([GROUP])
    assert [(e.exc_type, e.message) for e in errors] == [
        ("ExceptionGroup", "two (2 sub-exceptions)"), ("ValueError", "a"), ("TypeError", "b")]
    assert errors[0].frames[0] == RawFrame("/app/g.py", 5, "<module>",
                                           'raise ExceptionGroup("two", [ValueError("a"), TypeError("b")])')
    assert errors[1].frames == [RawFrame("/app/g.py", 2, "f", 'raise ValueError("a")')]
    assert len({e.chain for e in errors}) == 3


def test_pytest_long_format_frames_functions_and_summary_dedup() -> None:
    errors = parse_traces([PYTEST_LONG])
    assert [(e.exc_type, e.test) for e in errors] == [
        ("TypeError", "test_x"), ("AssertionError", "test_y"), ("ZeroDivisionError", None)]
    first = errors[0]
    assert first.frames == [RawFrame("t_x.py", 3, "test_x", "assert b.h(1) == 2"),
                            RawFrame("b.py", 2, "h", "return a + None")]
    assert first.message == "unsupported operand type(s) for +: 'int' and 'NoneType'"
    assert errors[1].message.startswith("assert 1 == 2\n+  where 1")
    assert errors[2].frames == [RawFrame("t_x.py", None, "test_z", None)]  # summary only: no detail
    assert all(e.format == "pytest" for e in errors)


@pytest.mark.parametrize("text, expected", [
    (PYTEST_SHORT, [("TypeError", "h() missing 1 required positional argument: 'b'",
                     RawFrame("t_x.py", 3, "test_x", "assert b.h(1) == 2")),
                    ("AssertionError", "assert 1 == 2", RawFrame("t_x.py", 5, "test_y", "assert b.h(1, 2) == 2"))]),
    (PYTEST_LINE, [("TypeError", "h() missing 1 required positional argument: 'b'",
                    RawFrame("/tmp/tbx/t_x.py", 3, None, None))]),
])
def test_pytest_short_and_line_formats(text: str, expected: list[tuple[str, str, RawFrame]]) -> None:
    errors = parse_traces([text])
    assert [(e.exc_type, e.message, e.frames[0]) for e in errors] == expected


@pytest.mark.parametrize("line, exc_type, message, frame", [
    ("NameError: name 'sys' is not defined", "NameError", "name 'sys' is not defined", None),
    ("requests.exceptions.HTTPError: 500 Server Error", "requests.exceptions.HTTPError", "500 Server Error", None),
    ("app/views.py:12:5: F821 undefined name 'x'", None, "F821 undefined name 'x'", RawFrame("app/views.py", 12, None, None)),
    ("/srv/app.py:7: RuntimeWarning: coroutine 'get_user' was never awaited\n  get_user()",
     "RuntimeWarning", "coroutine 'get_user' was never awaited", RawFrame("/srv/app.py", 7, None, "get_user()")),
    ("sys:1: RuntimeWarning: coroutine 'f' was never awaited", "RuntimeWarning", "coroutine 'f' was never awaited",
     RawFrame("sys", 1, None, None)),
    ("login returns HTTP 500 for every user", None, "login returns HTTP 500 for every user", None),
])
def test_plain_error_lines(line: str, exc_type: str | None, message: str, frame: RawFrame | None) -> None:
    (error,) = parse_traces([line])
    assert (error.format, error.exc_type, error.message) == ("plain", exc_type, message)
    assert error.frames == ([frame] if frame else [])


def test_warning_after_traceback_is_its_own_error_not_message_text() -> None:
    text = ("Traceback (most recent call last):\n  File \"m.py\", line 11, in greeting\n    user[\"name\"]\n"
            "TypeError: 'coroutine' object is not subscriptable\n"
            "sys:1: RuntimeWarning: coroutine 'fetch_user' was never awaited\n")
    errors = parse_traces([text])
    assert [(e.exc_type, e.message) for e in errors] == [
        ("TypeError", "'coroutine' object is not subscriptable"),
        ("RuntimeWarning", "coroutine 'fetch_user' was never awaited")]


def test_several_texts_get_distinct_sources_and_chains_and_ansi_is_stripped() -> None:
    errors = parse_traces(["\x1b[31mKeyError: 'a'\x1b[0m", "", "    ValueError: indented text is dedented"])
    assert [(e.source, e.chain, e.exc_type) for e in errors] == [(0, 0, "KeyError"), (2, 1, "ValueError")]


@pytest.mark.parametrize("message, names", [
    ("name 'sys' is not defined", ["sys"]),
    ("hash_password() missing 1 required positional argument: 'salt'", ["salt", "hash_password"]),
    ("cannot import name 'User' from partially initialized module 'models'", ["User", "models"]),
    ("Mailer.send() got an unexpected keyword argument 'subjet'", ["subjet", "Mailer.send"]),
    ("division by zero", []),
])
def test_quoted_names(message: str, names: list[str]) -> None:
    assert quoted_names(message) == names
