"""Cross-definition checks: call arity (CPython's own messages), missing await, imports, cycles, index."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from parallel_execution.agents.debug import analyse
from parallel_execution.agents.debug.index import Index, module_name
from parallel_execution.agents.debug.model import Finding
from parallel_execution.agents.debug.source import parse_source
from parallel_execution.inputs.paths import WorkspacePolicy


def run(tmp_path: Path, files: dict[str, str], affected: list[str] | None = None,
        depth: str = "standard") -> list[Finding]:
    for name, code in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code))
    result = analyse("p", affected or list(files), [], depth, None, WorkspacePolicy.create(tmp_path))  # type: ignore[arg-type]
    return list(result.findings)


def of(rule: str, items: list[Finding]) -> list[Finding]:
    return [f for f in items if f.rule == rule]


DEFS = """\
import dataclasses

def f(a, b, c=3):
    return a
def g(a, /, b, *, key, flag=False):
    return a
def h(*args, **kwargs):
    return args
class Shop:
    def __init__(self, name, city="x"):
        self.name = name
    def add(self, item, qty):
        return item
    @staticmethod
    def make(kind):
        return kind
    @classmethod
    def open(cls, name):
        return cls(name)
    def bad(self):
        return self.add("apple")
class Plain:
    pass
@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)
"""

CALLS = [
    "f(1)", "f(1, 2, 3, 4)", "f(1, 2, d=4)", "f(1, 2, a=1)", "f()", "g(1, 2)", "g(a=1, b=2, key=3)",
    "g(1, b=2)", "Shop()", "Shop('a', 'b', 'c')", "Shop('a').add('x')", "Shop('a').bad()", "Shop.make()",
    "Shop.open()", "Shop.open('a', 'b')", "Plain(1)", "Point()", "Point(1, 2, [], 4)", "Point(1, z=2)",
]


@pytest.mark.parametrize("call", CALLS)
def test_arity_messages_are_cpython_messages(tmp_path: Path, call: str) -> None:
    namespace: dict[str, object] = {}
    exec(DEFS, namespace)
    with pytest.raises(TypeError) as info:
        eval(call, namespace)
    code = DEFS + f"\n\ndef caller():\n    return {call}\n"
    found = of("call-arity", run(tmp_path, {"mod.py": code}))
    caller_line = len(code.splitlines())
    messages = {f.message for f in found}
    if call == "Shop('a').bad()":  # the defect is inside bad(), where self.add is called
        assert "Shop.add() missing 1 required positional argument: 'qty'" in messages
        assert str(info.value) == "Shop.add() missing 1 required positional argument: 'qty'"
        return
    assert str(info.value) in messages, (str(info.value), found)
    assert any(f.line == caller_line and f.message == str(info.value) for f in found)


@pytest.mark.parametrize("call", ["f(1, 2)", "f(*xs)", "f(**kw)", "g(1, 2, key=3)", "h(1, 2, x=3)", "Shop('a')",
                                  "Shop.make('k')", "Point(1)", "Point(x=1, tags=[])", "Shop('a').add('x', 1)"])
def test_calls_that_bind_are_not_reported(tmp_path: Path, call: str) -> None:
    code = DEFS + f"\n\ndef caller(xs, kw):\n    return {call}\n"
    found = of("call-arity", run(tmp_path, {"mod.py": code}))
    assert [f for f in found if f.line == len(code.splitlines())] == []


def test_unknown_targets_and_signature_changing_decorators_are_not_judged(tmp_path: Path) -> None:
    code = """\
        import functools
        def deco(fn):
            return fn
        @deco
        def wrapped(a):
            return a
        @functools.lru_cache
        def cached(a):
            return a
        def caller(obj, fn):
            return wrapped(), obj.method(1, 2, 3), fn(), cached()
        """
    found = of("call-arity", run(tmp_path, {"mod.py": code}))
    assert [f.message for f in found] == ["cached() missing 1 required positional argument: 'a'"]


def test_arity_across_modules_standard_needs_both_files_deep_follows_imports(tmp_path: Path) -> None:
    files = {
        "shop/__init__.py": "from shop.pricing import discount\n",
        "shop/pricing.py": "def discount(price, percent):\n    return price\n",
        "app.py": "import shop.pricing as pricing\nfrom shop import discount\n"
                  "from . import nothing_here\n"
                  "def a():\n    return pricing.discount(1)\n"
                  "def b():\n    return discount(1, 2, 3)\n",
    }
    assert of("call-arity", run(tmp_path, files, affected=["app.py"])) == []
    deep = of("call-arity", run(tmp_path, files, affected=["app.py"], depth="deep"))
    assert [(f.line, f.message) for f in deep] == [
        (5, "discount() missing 1 required positional argument: 'percent'"),
        (7, "discount() takes 2 positional arguments but 3 were given"),
    ]
    both = of("call-arity", run(tmp_path, files, affected=["app.py", "shop"]))
    assert [f.line for f in both] == [5, 7]


def test_methods_of_local_instances_are_checked(tmp_path: Path) -> None:
    code = DEFS + "\n\ndef caller():\n    shop = Shop('a')\n    return shop.add('x'), Shop.make('k', 'extra')\n"
    found = of("call-arity", run(tmp_path, {"mod.py": code}))
    assert {f.message for f in found if f.line == len(code.splitlines())} == {
        "Shop.add() missing 1 required positional argument: 'qty'",
        "Shop.make() takes 1 positional argument but 2 were given"}


def test_arity_fix_passes_a_missing_argument_visible_in_scope(tmp_path: Path) -> None:
    code = "def area(width, height):\n    return width * height\n\n\ndef square(width, height):\n    return area(width)\n"
    (item,) = of("call-arity", run(tmp_path, {"mod.py": code}))
    assert item.fix is not None and item.fix.edit is not None
    assert item.fix.edit.new == "    return area(width, height=height)"
    assert item.fix.description.startswith("pass the missing argument `height` (`area(width, height)`")


MISSING_AWAIT = [
    ("statement", "async def main():\n    fetch(1)\n", 2),
    ("attribute", "async def main():\n    return fetch(1).name\n", 2),
    ("stored and read", "async def main():\n    user = fetch(1)\n    return user['name']\n", 2),
    ("stored, never used", "async def main():\n    user = fetch(1)\n", 2),
    ("sync caller", "def main():\n    fetch(1)\n", 2),
    ("asyncio.sleep", "import asyncio\nasync def main():\n    asyncio.sleep(1)\n", 3),
    ("method", "class Api:\n    async def get(self):\n        return 1\n    async def run(self):\n"
               "        if self.get():\n            return 2\n", 5),
]


@pytest.mark.parametrize("label, body, line", MISSING_AWAIT, ids=[m[0] for m in MISSING_AWAIT])
def test_missing_await(tmp_path: Path, label: str, body: str, line: int) -> None:
    code = "async def fetch(n):\n    return {'name': n}\n\n\n" + body
    found = of("missing-await", run(tmp_path, {"mod.py": code}))
    assert [f.line - 4 for f in found] == [line], found


@pytest.mark.parametrize("body", [
    "async def main():\n    return await fetch(1)\n",
    "import asyncio\nasync def main():\n    return await asyncio.gather(fetch(1), fetch(2))\n",
    "import asyncio\nasync def main():\n    task = asyncio.create_task(fetch(1))\n    return await task\n",
    "async def main():\n    pending = fetch(1)\n    return await pending\n",
    "def main():\n    return fetch(1)\n",
    "import asyncio\nasync def main():\n    await asyncio.sleep(0)\n",
    "import asyncio\nasyncio.run(fetch(1))\n",
])
def test_awaited_or_handed_on_coroutines_are_fine(tmp_path: Path, body: str) -> None:
    code = "async def fetch(n):\n    return {'name': n}\n\n\n" + body
    assert of("missing-await", run(tmp_path, {"mod.py": code})) == []


def test_missing_await_fix_wraps_the_call(tmp_path: Path) -> None:
    code = "async def fetch(n):\n    return n\n\n\nasync def main():\n    return fetch(1).real\n"
    (item,) = of("missing-await", run(tmp_path, {"mod.py": code}))
    assert item.fix is not None and item.fix.edit is not None
    assert item.fix.edit.new == "    return (await fetch(1)).real"


def test_unresolved_imports_inside_the_project(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/store.py": "def save_records(rows):\n    return rows\n",
        "main.py": "from pkg.store import save_record\nimport pkg.missing\nfrom pkg import store\n"
                   "import requests\nfrom os import sep\nprint(save_record, pkg, store, requests, sep)\n",
    }
    found = of("unresolved-import", run(tmp_path, files, affected=["main.py"], depth="deep"))
    assert [(f.line, f.message.split(" (")[0]) for f in found] == [
        (1, "cannot import name 'save_record' from 'pkg.store'"), (2, "No module named 'pkg.missing'")]
    assert found[0].message.endswith("did you mean 'save_records'?")


def test_import_cycles_are_reported_in_deep_mode_with_the_shortest_cycle(tmp_path: Path) -> None:
    files = {
        "a.py": "from b import g\n\ndef f():\n    return g\n",
        "b.py": "import typing\nif typing.TYPE_CHECKING:\n    import c\nfrom a import f\n\ndef g():\n    return f\n",
        "c.py": "import a\n",
        "d.py": "def lazy():\n    import a\n    return a\n",
    }
    assert of("import-cycle", run(tmp_path, files, affected=["a.py"])) == []
    found = of("import-cycle", run(tmp_path, files, affected=["a.py", "b.py", "d.py"], depth="deep"))
    assert [(Path(f.file).name, f.line, f.message.split(" (")[0]) for f in found] == [
        ("a.py", 1, "import cycle: a -> b -> a"), ("b.py", 4, "import cycle: b -> a -> b")]


@pytest.mark.parametrize("layout, file, expected", [
    (["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py"], "pkg/sub/mod.py", "pkg.sub.mod"),
    (["pkg/__init__.py"], "pkg/__init__.py", "pkg"),
    (["scripts/run.py"], "scripts/run.py", "run"),
    (["src/app/__init__.py", "src/app/cli.py"], "src/app/cli.py", "app.cli"),
])
def test_module_names_follow_packages(tmp_path: Path, layout: list[str], file: str, expected: str) -> None:
    for name in layout:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert module_name(tmp_path / file)[0] == expected


def test_index_resolves_relative_imports_and_reexports(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    files = {"pkg/__init__.py": "from .core import run as start\n", "pkg/core.py": "def run(a):\n    return a\n",
             "pkg/sub/__init__.py": "", "pkg/sub/leaf.py": "from ..core import run\n"}
    sources = []
    for name, code in files.items():
        (tmp_path / name).write_text(code)
        sources.append(parse_source(str(tmp_path / name), code))
    index = Index(sources)
    leaf = index.module_for(str(tmp_path / "pkg/sub/leaf.py"))
    assert leaf is not None and leaf.name == "pkg.sub.leaf"
    assert index.absolute("core", 2, leaf) == "pkg.core"
    found, module, exists = index.resolve_from("pkg", 0, "start", leaf)
    assert getattr(found, "qualname", None) == "run" and exists and module is not None and module.name == "pkg"
    assert index.resolve_from("pkg", 0, "nope", leaf)[2] is False
    assert index.resolve_from("os", 0, "sep", leaf) == (None, None, True)  # outside the index: unknown
