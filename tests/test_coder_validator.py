"""The coder's validator: known-bad code is rejected by the right check, good code passes.

Each bad sample is a valid Compute node with one defect injected, and the test asserts the exact
set of failing error checks, so a check that fires for the wrong reason fails the test too.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from parallel_execution.agents.coder.naming import NodeType
from parallel_execution.agents.coder.report import Level, ValidationReport
from parallel_execution.agents.coder.validator import validate_source

VALID = '''"""A small, valid Compute node."""

from typing import Any

from pydantic import BaseModel

EXTRA


class ModelDemoInput(BaseModel):
    """Input."""

    value: int = 0


class ModelDemoOutput(BaseModel):
    """Output."""

    result: dict[str, Any] = {}


class NodeDemoCompute:
    """Doubles the value."""

    METHODS
    def execute_compute(self, input_data: ModelDemoInput) -> ModelDemoOutput:
        """Compute the result."""
        BODY
        return ModelDemoOutput(result={"value": input_data.value * 2})
'''


def node(extra: str = "", body: str = "pass", methods: str = "") -> str:
    indented = "\n    ".join(methods.splitlines())
    return VALID.replace("EXTRA", extra).replace("BODY", body).replace("METHODS", indented)


def validate(source: str, level: Level = "moderate", node_type: NodeType = "Compute", tmp: Path | None = None,
             import_timeout: float = 20.0) -> ValidationReport:
    path = (tmp / "node_demo_compute.py") if tmp else None
    return asyncio.run(validate_source(source, node_type, level, node_name="demo", path=path,
                                       import_timeout=import_timeout))


@pytest.fixture(scope="module", autouse=True)
def _one_batch(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every text the tests below validate, validated once up front, concurrently: the analysis layer
    answers concurrent validations with one ruff and one mypy run and keeps each text's report, so the
    tests read their verdicts from that cache (each test still runs the whole validation itself)."""
    texts = [node(), *(c[1] for c in BAD_MODERATE), *(c[1] for c in BAD_STRICT), *(c[0] for c in VALID_MODERATE),
             node(extra="from json import *", body="nonexistent_function({})")]
    empty = tmp_path_factory.mktemp("empty") / "node_demo_compute.py"  # an empty target folder: what tmp_path is

    async def validate_all() -> None:
        await asyncio.gather(*(validate_source(text, "Compute", "moderate", node_name="demo", path=path)
                               for text in texts for path in (None, empty)))

    asyncio.run(validate_all())


@pytest.mark.parametrize("level", ["lenient", "moderate", "strict"])
def test_valid_node_passes_every_level(level: Level, tmp_path: Path) -> None:
    report = validate(node(), level, tmp=tmp_path)
    assert report.passed, report.summary()
    expected = {"lenient": 2, "moderate": 10, "strict": 14}[level]
    assert len(report.checks) == expected


BAD_MODERATE = [
    # id, source, failing checks, message fragment of the first
    ("missing-import-module", node(body="sys.exit(0)"), {"missing_imports"},
     "line 28: 'sys' is used but never imported: add 'import sys'"),
    ("missing-import-name", node(extra="def _first(items: Optional[list]) -> int:\n    return 0"),
     {"missing_imports"}, "'Optional' is used but never imported: add 'from typing import Optional'"),
    ("undefined-name", node(body="total = undefined_helper(input_data.value)"), {"undefined_names"},
     "line 28: name 'undefined_helper' is not defined"),
    ("undefined-in-string-annotation", node(extra="def _f(x: 'Missing') -> int:\n    return 1"),
     {"undefined_names"}, "name 'Missing' is not defined"),
    ("class-body-name-in-method", node(methods="factor = 2\ndef _scale(self, v: int) -> int:\n    return v * factor"),
     {"undefined_names"}, "name 'factor' is not defined"),
    ("arity-missing", node(extra="def _scale(value: int, factor: int) -> int:\n    return value * factor",
                           body="_scale(input_data.value)"),
     {"call_arity"}, "_scale() missing 1 required positional argument(s): 'factor'"),
    ("arity-too-many", node(extra="def _scale(value: int, factor: int) -> int:\n    return value * factor",
                            body="_scale(1, 2, 3)"),
     {"call_arity"}, "_scale() takes 2 positional argument(s) but 3 were given"),
    ("arity-unknown-keyword", node(extra="def _scale(value: int, factor: int = 2) -> int:\n    return value",
                                   body="_scale(1, factr=3)"),
     {"call_arity"}, "_scale() got an unexpected keyword argument 'factr'"),
    ("arity-keyword-only", node(extra="def _scale(value: int, *, factor: int) -> int:\n    return value",
                                body="_scale(1)"),
     {"call_arity"}, "_scale() missing 1 required keyword-only argument(s): 'factor'"),
    ("arity-method", node(methods="def _twice(self, v: int) -> int:\n    return v * 2\n",
                          body="self._twice()"),
     {"call_arity"}, "self._twice() missing 1 required positional argument(s): 'v'"),
    ("arity-constructor", node(extra="class _Pair:\n    def __init__(self, a: int, b: int) -> None:\n        self.a = a",
                               body="_Pair(1)"),
     {"call_arity"}, "_Pair() missing 1 required positional argument(s): 'b'"),
    ("arity-imported-function", node(extra="from json import dumps", body="dumps()"),
     {"call_arity"}, "dumps() missing 1 required positional argument(s): 'obj'"),
    ("arity-module-function", node(extra="import json", body="json.loads()"),
     {"call_arity"}, "json.loads() missing 1 required positional argument(s): 's'"),
    ("unresolvable-module", node(extra="import asyncpg_driver_not_installed"), {"imports_resolvable"},
     "No module named 'asyncpg_driver_not_installed'"),
    ("unresolvable-name", node(extra="from json import dumpz"), {"imports_resolvable"},
     "cannot import name 'dumpz' from 'json'"),
    ("unresolvable-name-lazy-package", node(extra="from pydantic import BaseModell"), {"imports_resolvable"},
     "cannot import name 'BaseModell' from 'pydantic'"),
    ("relative-import", node(extra="from .models import User"), {"imports_resolvable"}, "relative import"),
    ("no-node-class", node().replace("NodeDemoCompute", "DemoCompute"), {"node_class", "io_models", "entry_point"},
     "no class NodeDemoCompute (classes defined: ModelDemoInput, ModelDemoOutput, DemoCompute)"),
    ("entry-point-async", node().replace("def execute_compute", "async def execute_compute"), {"entry_point"},
     "NodeDemoCompute.execute_compute must be a plain (not async) method"),
    ("entry-point-arity", node().replace("input_data: ModelDemoInput)", "input_data: ModelDemoInput, extra: int)"),
     {"entry_point"}, "must take exactly 1 required argument(s) after self (input_data), takes input_data, extra"),
    ("entry-point-missing", node().replace("def execute_compute", "def compute"), {"entry_point"},
     "NodeDemoCompute has no def execute_compute(self, input_data)"),
    ("io-model-not-a-model", node().replace("class ModelDemoInput(BaseModel):", "class ModelDemoInput:"),
     {"io_models"}, "ModelDemoInput must subclass pydantic BaseModel"),
]


@pytest.mark.parametrize(("source", "failing", "message"), [c[1:] for c in BAD_MODERATE],
                         ids=[c[0] for c in BAD_MODERATE])
def test_bad_code_is_rejected_by_the_right_check(source: str, failing: set[str], message: str) -> None:
    report = validate(source, "moderate")
    assert {c.name for c in report.failed} == failing
    first = report.failed[0]
    assert message in first.message
    assert not report.passed


@pytest.mark.parametrize(
    ("source", "check", "message"),
    [(node(body="return ("), "syntax", "line 28"),
     (node(extra="return 1"), "compiles", "'return' outside function (line 7)"),
     (node(extra="def _f() -> None:\n    await g()"), "compiles", "'await' outside async function")],
    ids=["syntax", "return-outside-function", "await-outside-async"],
)
@pytest.mark.parametrize("level", ["lenient", "strict"])
def test_code_that_does_not_parse_or_compile_stops_there(source: str, check: str, message: str, level: Level) -> None:
    report = validate(source, level)
    assert [c.name for c in report.checks][-1] == check
    assert [c.name for c in report.failed] == [check]
    assert message in report.failed[0].message


BAD_STRICT = [
    ("impure-os", node(extra="import os", body="os.getcwd()"), {"purity"}, "imports 'os' (I/O is not allowed here)"),
    ("impure-subprocess", node(extra="import subprocess", body="subprocess.run(['ls'])"), {"purity"},
     "imports 'subprocess'"),
    ("impure-socket", node(extra="from socket import socket", body="socket()"), {"purity"}, "imports from 'socket'"),
    ("impure-http", node(extra="import http.client", body="http.client.HTTPConnection('x')"), {"purity"},
     "imports 'http.client'"),
    ("impure-open", node(body="open('data.txt')"), {"purity"}, "calls open() (I/O or dynamic code)"),
    ("impure-print", node(body="print(input_data)"), {"purity"}, "calls print()"),
    ("impure-file-method", node(body="input_data.path.write_text('x')"), {"purity"}, "calls .write_text() (file I/O)"),
    ("impure-asyncio-subprocess",
     node(extra="import asyncio\n\n\ndef _spawn() -> object:\n    return asyncio.create_subprocess_exec('ls')"),
     {"purity"}, "calls .create_subprocess_exec() (subprocess/network I/O)"),
    ("impure-global", node(extra="_COUNT = 0\n\n\ndef _bump() -> None:\n    global _COUNT\n    _COUNT += 1"),
     {"purity"}, "declares global _COUNT (mutates module state)"),
    ("impure-async", node(extra="async def _later() -> None:\n    pass"), {"purity"}, "async def _later"),
    ("type-hints", node(extra='def helper(x):\n    """Help."""\n    return x'), {"type_hints"},
     "helper(): parameter(s) x not annotated; line 7: helper(): return type not annotated"),
    ("docstrings", node(extra="def helper(x: int) -> int:\n    return x"), {"docstrings"},
     "line 7: helper() has no docstring"),
    ("import-raises", node(extra="raise RuntimeError('boom at import')"), {"import_and_instantiate"},
     "importing the module failed: RuntimeError: boom at import"),
    ("init-needs-arguments", node(methods='def __init__(self, dsn: str) -> None:\n    """Keep dsn."""\n    self.dsn = dsn\n'),
     {"import_and_instantiate"}, "instantiating NodeDemoCompute failed: TypeError"),
    ("models-not-pydantic", node().replace("class ModelDemoInput(BaseModel):", "class ModelDemoInput(dict):"),
     {"import_and_instantiate"}, "not pydantic models: ModelDemoInput"),
]


@pytest.mark.parametrize(("source", "failing", "message"), [c[1:] for c in BAD_STRICT],
                         ids=[c[0] for c in BAD_STRICT])
def test_strict_rejects(source: str, failing: set[str], message: str, tmp_path: Path) -> None:
    report = validate(source, "strict", tmp=tmp_path)
    assert {c.name for c in report.failed} == failing
    assert message in report.failed[0].message
    if failing != {"import_and_instantiate"}:  # these defects never reach the moderate level
        assert validate(source, "moderate").passed


def test_reducer_purity_and_effect_entry_point() -> None:
    from parallel_execution.agents.coder.scaffold import render_source
    from parallel_execution.agents.coder.spec import build_spec

    reducer = render_source(build_spec("counts page views", "Reducer", node_name="demo"))
    impure = reducer.replace("from functools import reduce", "from functools import reduce\nimport os") \
        .replace("entries = dict(state.entries)", "entries = dict(state.entries, cwd=os.getcwd())")
    report = asyncio.run(validate_source(impure, "Reducer", "strict", node_name="demo"))
    assert {c.name for c in report.failed} == {"purity"}

    effect = render_source(build_spec("writes users", "Effect", node_name="demo"))
    no_retry = effect.replace("        retry_policy: ModelRetryPolicy | None = None,\n", "").replace(
        "retry_policy if retry_policy is not None else ModelRetryPolicy()", "ModelRetryPolicy()")
    report = asyncio.run(validate_source(no_retry, "Effect", "moderate", node_name="demo"))
    assert {c.name for c in report.failed} == {"entry_point"}
    assert "must take an optional retry parameter" in report.failed[0].message
    sync = effect.replace("async def execute_effect", "def execute_effect")
    report = asyncio.run(validate_source(sync, "Effect", "moderate", node_name="demo"))
    assert [c.name for c in report.failed] == ["compiles"]  # its 'async with' cannot compile in a plain def
    assert "'async with' outside async function" in report.failed[0].message


VALID_MODERATE = [
    (node(extra="import json"), "unused_imports: line 7: 'json' is imported but unused"),
     (node(extra="from json import *", body="dumps({})"), None),
     (node(extra="try:\n    import ujson_not_installed\nexcept ImportError:\n    ujson_not_installed = None"), None),
     (node(extra="def _f(x: 'ModelDemoInput') -> int:\n    return 1"), None),
     (node(extra="def _g() -> None:\n    global _SEEN\n    _SEEN = 1\n\n\ndef _h() -> int:\n    return _SEEN"), None),
     (node(extra="def _scale(v: int) -> int:\n    return v\n\n\ndef _user(_scale: object) -> object:\n"
                 "    return _scale(1, 2, 3)"), None),
     (node(methods="def _twice(self, v: int) -> int:\n    return v\n", body="print(__name__, self._twice(v=2))"), None),
     (node(extra="class _Base:\n    def __init__(self) -> None:\n        super().__init__()\n        self.cls = __class__"),
      None)]


@pytest.mark.parametrize(
    ("source", "warning"), VALID_MODERATE,
    ids=["unused-import-is-a-warning", "star-import-resolved", "optional-import", "string-annotation",
         "global-defined-in-function", "shadowed-function", "keyword-call-and-dunder", "super-and-class-cell"],
)
def test_valid_code_passes_moderate(source: str, warning: str | None) -> None:
    report = validate(source, "moderate")
    assert report.passed, report.summary()
    assert report.warnings == ([warning] if warning else [])


def test_star_import_still_finds_undefined_names() -> None:
    report = validate(node(extra="from json import *", body="nonexistent_function({})"))
    assert [c.name for c in report.failed] == ["undefined_names"]


def test_lenient_only_parses_and_compiles() -> None:
    report = validate(node(body="undefined_helper()"), "lenient")
    assert [c.name for c in report.checks] == ["syntax", "compiles"]
    assert report.passed


def test_import_timeout_kills_the_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    source = node(extra=f"import os as _os, time as _t\nopen({str(pid_file)!r}, 'w').write(str(_os.getpid()))\n"
                        "_t.sleep(60)")
    started = time.monotonic()
    report = validate(source, "strict", tmp=tmp_path, import_timeout=1.5)
    assert time.monotonic() - started < 15
    check = report.check("import_and_instantiate")
    assert check is not None and not check.passed
    assert check.message == "importing the module did not finish within 1.5 s"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_cancellation_kills_the_import_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    source = node(extra=f"import os as _os, time as _t\nopen({str(pid_file)!r}, 'w').write(str(_os.getpid()))\n"
                        "_t.sleep(60)")

    async def cancel_midway() -> None:
        task = asyncio.create_task(validate_source(source, "Compute", "strict", node_name="demo",
                                                   path=tmp_path / "n.py"))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if pid_file.exists() and pid_file.read_text():
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_import_check_resolves_from_the_target_folder_and_roots(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helpers.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sibling.py").write_text("FACTOR = 3\n")
    source = node(extra="from lib.helpers import double\nfrom sibling import FACTOR",
                  body="double(FACTOR)")
    report = asyncio.run(validate_source(source, "Compute", "strict", node_name="demo",
                                         path=tmp_path / "out" / "node.py", import_roots=[tmp_path]))
    assert report.passed, report.summary()
    assert not list(tmp_path.rglob("__pycache__"))  # the import check writes no bytecode
    wrong_arity = source.replace("double(FACTOR)", "double()")
    report = asyncio.run(validate_source(wrong_arity, "Compute", "moderate", node_name="demo",
                                         path=tmp_path / "out" / "node.py", import_roots=[tmp_path]))
    assert [c.message for c in report.failed] == ["line 29: double() missing 1 required positional argument(s): 'x'"]
