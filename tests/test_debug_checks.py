"""Static rules of the debug agent: each rule fires on its defect and stays quiet on correct code."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from parallel_execution.agents.debug import analyse
from parallel_execution.agents.debug.context import FileContext
from parallel_execution.agents.debug.model import Finding
from parallel_execution.agents.debug.scopes import analyse_scopes
from parallel_execution.agents.debug.source import parse_source
from parallel_execution.inputs.paths import WorkspacePolicy


def findings(tmp_path: Path, code: str, name: str = "mod.py", depth: str = "standard") -> list[Finding]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    result = analyse("review", [name], [], depth, None, WorkspacePolicy.create(tmp_path))  # type: ignore[arg-type]
    return list(result.findings)


def rules_at(items: list[Finding]) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in items}


POSITIVE = [
    ("syntax-error", 1, "def f(:\n    pass\n"),
    ("syntax-error", 2, "def f():\n    await g()\n"),
    ("syntax-error", 1, "return 1\n"),
    ("syntax-error", 2, "def f():\n    break\n"),
    ("syntax-error", 3, "def f():\n    x = 1\n    global x\n"),
    ("missing-import", 2, "def cwd():\n    return os.getcwd()\n"),
    ("missing-import", 2, "def p(text):\n    return Path(text)\n"),
    ("undefined-name", 2, "def f():\n    return vlaue\n\n\nvalue = 1\n"),
    ("undefined-name", 4, "class A:\n    limit = 3\n    def f(self):\n        return limit\n"),
    ("unused-import", 1, "import json\n"),
    ("unused-import", 1, "from os import path, sep\nprint(sep)\n"),
    ("blocking-call-in-async", 3, "import time\nasync def f():\n    time.sleep(1)\n"),
    ("blocking-call-in-async", 3, "from time import sleep\nasync def f():\n    sleep(1)\n"),
    ("blocking-call-in-async", 3, "import requests\nasync def f(u):\n    return requests.get(u)\n"),
    ("blocking-call-in-async", 3, "import subprocess as sp\nasync def f():\n    sp.run(['ls'])\n"),
    ("bare-except", 3, "try:\n    x = 1\nexcept:\n    x = 2\n"),
    ("swallowed-exception", 3, "try:\n    x = 1\nexcept Exception:\n    pass\n"),
    ("mutable-default", 1, "def f(a, items=[]):\n    return items\n"),
    ("mutable-default", 1, "def f(*, seen=set()):\n    return seen\n"),
    ("mutable-default", 2, "import collections\ndef f(c=collections.defaultdict(list)):\n    return c\n"),
    ("none-comparison", 2, "def f(x):\n    return x == None\n"),
    ("none-comparison", 2, "def f(x):\n    return None != x\n"),
    ("eval-exec", 2, "def f(expr):\n    return eval(expr)\n"),
    ("eval-exec", 2, "def f(code):\n    exec(code, {})\n"),
    ("shell-true", 3, "import subprocess\ndef f(name):\n    subprocess.run(f'ls {name}', shell=True)\n"),
    ("shell-true", 3, "import os\ndef f(cmd):\n    os.system(cmd)\n"),
    ("pickle-loads", 3, "import pickle\ndef f(blob):\n    return pickle.loads(blob)\n"),
    ("pickle-loads", 3, "from pickle import loads\ndef f(blob):\n    return loads(blob)\n"),
    ("unsafe-yaml-load", 3, "import yaml\ndef f(s):\n    return yaml.load(s)\n"),
    ("unsafe-yaml-load", 3, "import yaml\ndef f(s):\n    return yaml.load(s, Loader=yaml.Loader)\n"),
    ("unsafe-yaml-load", 3, "import yaml\ndef f(s):\n    return yaml.unsafe_load(s)\n"),
    ("hardcoded-secret", 1, "DB_PASSWORD = 'hunter2-prod'\n"),
    ("hardcoded-secret", 1, "def connect(host, password='letmein42'):\n    return host, password\n"),
    ("hardcoded-secret", 1, "CONFIG = {'api_key': 'a1b2c3d4e5'}\n"),
    ("hardcoded-secret", 3, "import x\ndef f():\n    return x.login(user='a', apiKey='k-123456')\n"),
    ("hardcoded-secret", 1, "KEY = 'AKIAIOSFODNN7EXAMPLE'\n"),
    ("hardcoded-secret", 2, "def ok(password):\n    return password == 'opensesame'\n"),
    ("sql-string-format", 2, "def q(c, n):\n    return c.execute(f\"SELECT * FROM users WHERE name = '{n}'\")\n"),
    ("sql-string-format", 2, "def q(c, n):\n    return c.execute(\"DELETE FROM t WHERE id = %s\" % n)\n"),
    ("sql-string-format", 2, "def q(c, n):\n    return c.execute(\"UPDATE t SET a = {} WHERE id = 1\".format(n))\n"),
    ("sql-string-format", 2, "def q(c, n):\n    return c.execute(\"INSERT INTO t VALUES ('\" + n + \"')\")\n"),
]


@pytest.mark.parametrize("rule, line, code", POSITIVE, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(POSITIVE)])
def test_rule_fires(tmp_path: Path, rule: str, line: int, code: str) -> None:
    found = findings(tmp_path, code)
    assert (rule, line) in rules_at(found), found


NEGATIVE = [
    ("syntax-error", "async def f():\n    await g()\n    return [await h() for h in []]\n"),
    ("undefined-name", "import os\nprint(os.sep, __file__, len([]))\n"),
    ("undefined-name", "def f():\n    return later()\n\n\ndef later():\n    return 1\n"),
    ("undefined-name", "def f(xs):\n    return [y for x in xs if (y := x)]\n"),
    ("undefined-name", "def outer():\n    n = 0\n    def inner():\n        nonlocal n\n        n += 1\n    return inner\n"),
    ("undefined-name", "def setup():\n    global STATE\n    STATE = 1\n\n\ndef use():\n    return STATE\n"),
    ("undefined-name", "try:\n    x = undefined_thing\nexcept NameError:\n    x = None\n"),
    ("undefined-name", "from os.path import *\nprint(join('a', 'b'))\n"),
    ("undefined-name", "class A:\n    size = 3\n    double = size * 2\n    def f(self):\n        return __class__\n"),
    ("undefined-name", "try:\n    pass\nexcept ValueError as exc:\n    print(exc)\n"),
    ("undefined-name", "def f(cmd):\n    match cmd:\n        case {'go': where, **rest}:\n            return where, rest\n"
                       "        case [first, *others]:\n            return first, others\n"),
    ("undefined-name", "lambda_ = lambda a, b=1: a + b\n"),
    ("unused-import", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from os import PathLike\n"
                      "def f(p: 'PathLike') -> None:\n    pass\n"),
    ("unused-import", "import json as json\n"),
    ("unused-import", "from os import sep\n__all__ = ['sep']\n"),
    ("unused-import", "try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"),
    ("unused-import", "from __future__ import annotations\n"),
    ("blocking-call-in-async", "import time\ndef f():\n    time.sleep(1)\n"),
    ("blocking-call-in-async", "import time\nasync def f():\n    def g():\n        time.sleep(1)\n    return g\n"),
    ("blocking-call-in-async", "import requests\nasync def f():\n    return requests.Session()\n"),
    ("bare-except", "try:\n    x = 1\nexcept ValueError:\n    pass\n"),
    ("swallowed-exception", "import logging\ntry:\n    x = 1\nexcept Exception as e:\n    logging.error(e)\n"),
    ("mutable-default", "def f(a=None, b=(), c=frozenset(), d=0):\n    return a, b, c, d\n"),
    ("none-comparison", "def f(x):\n    return x is None or x is not None\n"),
    ("eval-exec", "print(eval('1 + 1'))\n"),
    ("eval-exec", "def eval(x):\n    return x\nprint(eval(3))\n"),
    ("shell-true", "import subprocess\nsubprocess.run(['ls', '-l'])\nimport os\nos.system('ls')\n"),
    ("pickle-loads", "import pickle\ndef f(o):\n    return pickle.dumps(o)\n"),
    ("unsafe-yaml-load", "import yaml\ndef f(s):\n    return yaml.load(s, Loader=yaml.SafeLoader), yaml.safe_load(s)\n"),
    ("hardcoded-secret", "import os\nPASSWORD_ENV = 'APP_PASSWORD'\npassword = os.environ['X']\n"
                         "token_url = 'https://auth.example.com/token'\napi_key = ''\npassword_hash = 'ab12cd34ef'\n"
                         "secret = '${SECRET}'\ntoken = '<token>'\n"),
    ("sql-string-format", "def q(c, n):\n    greeting = f'hello {n}, select from the menu'\n"
                          "    return c.execute('SELECT * FROM users WHERE name = ?', (n,)), greeting\n"),
]


@pytest.mark.parametrize("rule, code", NEGATIVE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(NEGATIVE)])
def test_rule_stays_quiet(tmp_path: Path, rule: str, code: str) -> None:
    found = findings(tmp_path, code)
    assert rule not in {f.rule for f in found}, found


def test_init_modules_may_import_without_using(tmp_path: Path) -> None:
    assert findings(tmp_path, "from pkg.mod import thing\n", name="pkg/__init__.py") == []


def test_secret_evidence_is_masked(tmp_path: Path) -> None:
    (item,) = findings(tmp_path, "SESSION_SECRET = 'super-secret-value-42'\n")
    assert "super-secret-value-42" not in item.evidence and "***" in item.evidence
    assert item.fix is not None and item.fix.edit is not None
    assert item.fix.edit.new == "SESSION_SECRET = os.environ[\"SESSION_SECRET\"]"


@pytest.mark.parametrize("code, expected", [
    ("import subprocess as sp\nsp.run", "subprocess.run"),
    ("from time import sleep\nsleep", "time.sleep"),
    ("import os.path\nos.path.join", "os.path.join"),
    ("import xml.etree.ElementTree as ET\nET.parse", "xml.etree.ElementTree.parse"),
    ("eval", "eval"),
    ("def eval(x):\n    return x\neval", None),
    ("def f(requests):\n    return requests.get\n", None),
])
def test_qualified_names_follow_imports(code: str, expected: str | None) -> None:
    source = parse_source("m.py", code)
    assert source.tree is not None
    ctx = FileContext(source, analyse_scopes(source.tree))
    last = source.tree.body[-1]
    expr = last.body[-1].value if isinstance(last, ast.FunctionDef) else last.value  # type: ignore[attr-defined]
    assert ctx.qualified(expr) == expected


@pytest.mark.parametrize("code, rule, description, new_line", [
    ('"""Doc."""\nimport os\n\n\ndef f():\n    return sys.argv, os.sep\n', "missing-import", "add `import sys`",
     (3, "import sys")),
    ("def total(values):\n    count = len(values)\n    return sum(values) / cuont\n", "undefined-name",
     "did you mean `count`?", (3, "    return sum(values) / count")),
    ("def f(x):\n    if x == None:\n        return 0\n", "none-comparison", "use `is None`", (2, "    if x is None:")),
    ("import yaml\ndef f(s):\n    return yaml.load(s)\n", "unsafe-yaml-load",
     "use `yaml.safe_load(...)` (or `Loader=yaml.SafeLoader`)", (3, "    return yaml.safe_load(s)")),
    ("import time, asyncio\nasync def f():\n    time.sleep(1)\n", "blocking-call-in-async",
     "use `await asyncio.sleep(...)`, which yields to the event loop", (3, "    await asyncio.sleep(1)")),
    ("def f(a, items=[]):\n    return items\n", "mutable-default",
     "default `items` to None and create it inside: `if items is None: items = []`", (1, "def f(a, items=None):")),
    ("try:\n    x = 1\nexcept:\n    x = 2\n", "bare-except",
     "catch the specific exception the block expects (e.g. `except KeyError:`)", (3, "except Exception:")),
])
def test_mechanical_fixes(tmp_path: Path, code: str, rule: str, description: str, new_line: tuple[int, str]) -> None:
    (item,) = [f for f in findings(tmp_path, code) if f.rule == rule]
    assert item.fix is not None and item.fix.description == description
    assert item.fix.edit is not None and (item.fix.edit.line, item.fix.edit.new) == new_line


def test_findings_carry_scope_symbol_and_evidence(tmp_path: Path) -> None:
    code = "class Shop:\n    def total(self, prices):\n        return sum(prices) + taxes\n"
    (item,) = findings(tmp_path, code)
    assert (item.rule, item.line, item.column, item.symbol, item.scope) == ("undefined-name", 3, 30, "taxes", "Shop.total")  # 1-based column
    assert item.evidence == "return sum(prices) + taxes"
    assert item.file == str(tmp_path / "mod.py")
    assert item.message == "name 'taxes' is not defined"


def test_missing_import_prefers_the_project_own_import_statement(tmp_path: Path) -> None:
    (tmp_path / "other.py").write_text("import numpy as np\nprint(np)\n")
    (tmp_path / "mod.py").write_text("def f(x):\n    return np.asarray(x)\n")
    result = analyse("p", ["mod.py", "other.py"], [], "standard", None, WorkspacePolicy.create(tmp_path))
    (item,) = [f for f in result.findings if f.rule == "missing-import"]
    assert item.fix is not None and item.fix.description == "add `import numpy as np`"
