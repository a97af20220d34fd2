"""The one static-analysis pass: which analyzers run at each depth, on which files, and the merge.

=========  ================================================================================
depth      runs
=========  ================================================================================
quick      ruff (``catalogue.RUFF_SELECT``: undefined names, missing imports, syntax errors,
           bugbear, the bandit-derived ``S`` rules, async misuse), the core AST checks
standard   + mypy on the files, the workspace modules they import (``--follow-imports
           silent``: types of everything else are used, errors reported only for these)
deep       + mypy on every workspace module (``--follow-imports normal``), bandit, import cycles
=========  ================================================================================

Tools run concurrently as subprocesses (:mod:`.procs`), each under the remaining time budget;
files that do not parse are left out of mypy (one syntax error would stop its whole run; ruff
reports it). mypy runs once per group of import roots with distinct module names
(``files.mypy_groups``). A missing or failing tool is a :class:`CheckRun` with ``status``
``missing``/``failed`` and the others' findings still come back.

**Caches.** mypy keeps its incremental cache per import root and interpreter (``tools.cache_dir``);
ruff runs with ``--no-cache``. On top, each tool run's output is kept under a key of its command
line, the tool version, the interpreter and the size and mtime of every Python file under the roots
it can see, so repeating an analysis of unchanged files starts no process at all (``cached: true``).

Undefined names are ruff's (pyflakes follows Python's own scoping: names bound by ``global`` in a
function, ``__class__``), mypy's ``name-defined`` only counts in modules with a star import, where
pyflakes cannot tell. Diagnostics are classified (``catalogue.classify``), a forgotten ``await`` is moved to its call
(``core.relocate_missing_await``), duplicates (two tools, one defect, one line) are merged into one
with ``also`` naming the others, and only files inside ``root`` are kept.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import io
import json
import os
import time
import tokenize
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from parallel_execution.analysis import astsafe, core, tools
from parallel_execution.analysis.catalogue import RUFF_SELECT, classify
from parallel_execution.analysis.diagnostics import CheckRun, Diagnostic, parse_bandit, parse_mypy, parse_ruff
from parallel_execution.analysis.files import SKIP_DIRS, import_root, is_regular, mypy_groups, read_regular
from parallel_execution.analysis.interpreter import ProjectInterpreter, find_project_interpreter
from parallel_execution.analysis.procs import ToolRun, run_tool

__all__ = ["DEFAULT_TIMEOUT", "Depth", "Report", "analyse", "decode_source", "file_stamps", "import_hints"]

Depth = Literal["quick", "standard", "deep"]
DEFAULT_TIMEOUT = 300.0
MAX_STAMPED = 5000
_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(slots=True)
class Report:
    diagnostics: list[Diagnostic]
    checks: list[CheckRun]
    interpreter: ProjectInterpreter
    trees: dict[str, ast.Module] = field(default_factory=dict)

    def for_file(self, file: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.file == file]

    def failures(self) -> list[CheckRun]:
        return [c for c in self.checks if c.status in ("missing", "failed")]


def decode_source(data: bytes) -> str:
    """Decode like the interpreter (BOM, ``coding:`` cookie). Raises ``ValueError``."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding).removeprefix("\ufeff")
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot decode: {exc}") from None


def _parse(file: str, text: str) -> ast.Module | None:
    try:
        return astsafe.parse(text, filename=file)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def import_hints(trees: Mapping[str, ast.Module]) -> dict[str, str]:
    """Bound name -> the import statement the analysed files use for it (the first one seen)."""
    hints: dict[str, str] = {}
    for _, tree in sorted(trees.items()):
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    hints.setdefault(bound, f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    if alias.name != "*":
                        hints.setdefault(alias.asname or alias.name, f"from {node.module} import {alias.name}"
                                         + (f" as {alias.asname}" if alias.asname else ""))
    return hints


def _imported_files(file: str, tree: ast.Module, root: Path) -> list[str]:
    """Workspace modules ``file`` imports directly (standard depth type-checks them as well)."""
    bases = {import_root(Path(file)), root}
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    found = []
    for name in names:
        rel = Path(*name.split("."))
        for base in bases:
            for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
                if candidate.is_relative_to(root) and is_regular(candidate):
                    found.append(str(candidate))
    return sorted(set(found) - {file})


def file_stamps(roots: set[Path], extra: Sequence[str]) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every Python file under ``roots`` and of ``extra``: what a cached result depends on."""
    out: list[tuple[str, int, int]] = []
    paths = set(extra)
    for folder in sorted(roots):
        for current, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            paths.update(os.path.join(current, n) for n in files if n.endswith((".py", ".pyi")))
            if len(paths) > MAX_STAMPED:
                break
    for path in sorted(paths):
        try:
            info = os.stat(path)
        except OSError:
            continue
        out.append((path, info.st_size, info.st_mtime_ns))
    return out


async def _cached(argv: list[str], cwd: Path, stamps: list[tuple[str, int, int]], timeout: float,
                  ok: Callable[[ToolRun], bool], key_extra: Sequence[str] = (),
                  env: Mapping[str, str] | None = None, lock: Path | None = None) -> tuple[ToolRun, bool]:
    """The tool's output from the result cache, else a run (under ``lock``'s cache lock when given)."""
    key = hashlib.sha256(json.dumps([argv, str(cwd), stamps, list(key_extra)]).encode()).hexdigest()
    path = tools.cache_base() / "results" / key[:2] / f"{key}.json"

    def saved_run() -> ToolRun | None:
        try:
            saved = json.loads(read_regular(path, 64 * 1024 * 1024))
            return ToolRun(tuple(argv), saved["returncode"], saved["stdout"], saved["stderr"])
        except (OSError, ValueError, KeyError):
            return None

    if (hit := saved_run()) is not None:
        return hit, True
    deadline = time.monotonic() + timeout
    async with contextlib.AsyncExitStack() as stack:
        if lock is not None:
            await stack.enter_async_context(tools.cache_lock(lock, deadline))
            if (hit := saved_run()) is not None:  # another process ran the same while we waited
                return hit, True
        run = await run_tool(argv, cwd=cwd, timeout=deadline - time.monotonic(), env=env)
    if run.ok and ok(run):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"returncode": run.returncode, "stdout": run.stdout, "stderr": run.stderr}))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return run, False


def _failed(tool: str, rules: tuple[str, ...], files: int, detail: str, started: float,
            config: Path | None = None) -> CheckRun:
    return CheckRun(tool, tools.version(tool), rules, files, "failed", detail[-2000:],
                    str(config) if config else None, time.monotonic() - started)


async def _single_run(tool: str, rules: tuple[str, ...], files: list[str], root: Path, deadline: float,
                      argv_of: Callable[[Path | None], list[str]], stamped: list[str], ok_codes: tuple[int, ...],
                      parse: Callable[[str, Path], list[Diagnostic]]) -> tuple[list[Diagnostic], CheckRun]:
    """One run of ``tool`` over ``files`` (cached by their stamps), parsed into diagnostics and a CheckRun."""
    if not tools.available(tool):
        return [], CheckRun(tool, None, rules, len(files), "missing", f"{tool} is not installed")
    started = time.monotonic()
    config = tools.project_config(tool, root)
    run, cached = await _cached(argv_of(config), root, file_stamps(set(), [*stamped, *([str(config)] if config else [])]),
                                deadline - time.monotonic(), lambda r: r.returncode in ok_codes,
                                (tools.version(tool) or "",))
    if not run.ok or run.returncode not in ok_codes:
        return [], _failed(tool, rules, len(files), run.error or run.stderr or f"exit {run.returncode}", started,
                           config)
    try:
        found = parse(run.stdout, root)
    except (ValueError, KeyError, TypeError) as exc:
        return [], _failed(tool, rules, len(files), f"unreadable output: {exc}", started, config)
    return found, CheckRun(tool, tools.version(tool), rules, len(files), "ok", None,
                           str(config) if config else None, time.monotonic() - started, cached)


async def _ruff(files: list[str], root: Path, deadline: float) -> tuple[list[Diagnostic], CheckRun]:
    rules = (*RUFF_SELECT, *(f"-{r}" for r in tools.RUFF_IGNORE))
    return await _single_run("ruff", rules, files, root, deadline,
                             lambda config: tools.ruff_argv(files, config=config),
                             files, (0,), parse_ruff)


async def _mypy(files: list[str], root: Path, python: ProjectInterpreter, follow: str,
                deadline: float, mypy_path: Sequence[Path] = (), cache_key: str | None = None,
                bases: Sequence[Path] = ()) -> tuple[list[Diagnostic], list[CheckRun]]:
    rules = ("all error codes", "--check-untyped-defs", f"--follow-imports={follow}")
    if not files:
        return [], []
    if not tools.available("mypy"):
        return [], [CheckRun("mypy", None, rules, len(files), "missing", "mypy is not installed")]
    config = tools.project_config("mypy", root)
    search_path = [*bases, *mypy_path]
    # With explicit bases every file is its own package under a base: names never clash, one run.
    groups = [sorted(Path(f) for f in files)] if bases else mypy_groups(Path(f) for f in files)
    # Groups (files whose module names clash: many scripts called main.py) have caches of their own,
    # so they run side by side, one per core; results keep the groups' order.
    slots = asyncio.Semaphore(max(1, os.cpu_count() or 1))

    async def check(group: list[Path]) -> tuple[list[Diagnostic], CheckRun]:
        async with slots:
            started = time.monotonic()
            roots = {import_root(f) for f in group}
            search = [cache_key] if cache_key else sorted(map(str, mypy_path or roots))
            cache = tools.cache_dir("mypy", *search, str(python.path))
            argv = tools.mypy_argv([str(f) for f in group], python=python.path, config=config, cache=cache,
                                   follow=follow, explicit_bases=bool(bases))
            stamps = file_stamps(roots | {Path(p) for p in mypy_path}, [str(config)] if config else [])
            env = {"MYPYPATH": os.pathsep.join(map(str, search_path))} if search_path else None
            run, cached = await _cached(argv, root, stamps, deadline - time.monotonic(),
                                        lambda r: r.returncode in (0, 1), (python.version, tools.version("mypy") or "",
                                                                           *(f"MYPYPATH={p}" for p in search_path)),
                                        env, lock=cache)
        if run.ok and run.returncode in (0, 1):
            try:
                found = _replayed_to_current(parse_mypy(run.stdout, root), group, bases, follow == "silent")
                return found, CheckRun("mypy", tools.version("mypy"), rules, len(group), "ok", None,
                                       str(config) if config else None, time.monotonic() - started, cached,
                                       {"python": python.describe()})
            except (ValueError, KeyError, TypeError) as exc:
                detail = f"unreadable output: {exc}"
        else:
            detail = run.error or (run.stderr or run.stdout).strip() or f"exit {run.returncode}"
        return [], _failed("mypy", rules, len(group), detail, started, config)

    results = await asyncio.gather(*(check(group) for group in groups))
    return [d for found, _ in results for d in found], [run for _, run in results]


def _replayed_to_current(found: list[Diagnostic], group: Sequence[Path], bases: Sequence[Path],
                         silent: bool) -> list[Diagnostic]:
    """mypy replays a fresh cached module's errors under the path it was first checked at (an earlier
    copy of the same module with the same content): put them back on the file checked now, matched by
    the path below its import root (or base). Under ``--follow-imports silent`` every error outside the
    checked files is such a replay; otherwise only errors on files that no longer exist are."""
    current = {str(f) for f in group}
    by_tail: dict[str, list[str]] = {}
    for file in group:
        base = next((b for b in bases if file.is_relative_to(b)), None) or import_root(file)
        by_tail.setdefault(file.relative_to(base).as_posix(), []).append(str(file))
    moved: dict[str, str | None] = {}
    out = []
    for diag in found:
        if diag.file not in current and (silent or not os.path.exists(diag.file)):
            if diag.file not in moved:
                matches = [f for tail, files in by_tail.items() for f in files
                           if Path(diag.file).as_posix().endswith("/" + tail)]
                moved[diag.file] = matches[0] if len(matches) == 1 else None
            if (target := moved[diag.file]) is not None:
                diag = diag.with_(file=target)
        out.append(diag)
    return out


async def _bandit(files: list[str], root: Path, deadline: float) -> tuple[list[Diagnostic], CheckRun]:
    return await _single_run("bandit", ("all bandit tests",), files, root, deadline,
                             lambda config: tools.bandit_argv(files, config=config), files, (0, 1), parse_bandit)


def _read_trees(files: Sequence[str], texts: Mapping[str, str]) -> tuple[dict[str, str], dict[str, ast.Module]]:
    sources: dict[str, str] = {}
    trees: dict[str, ast.Module] = {}
    for file in files:
        text = texts.get(file)
        if text is None:
            try:
                text = decode_source(read_regular(file))
            except (OSError, ValueError):
                continue
        sources[file] = text
        if (tree := _parse(file, text)) is not None:
            trees[file] = tree
    return sources, trees


def _merge(found: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per (file, line, rule); the others that agree are named in ``also``."""
    best: dict[tuple[str, int, str], Diagnostic] = {}
    preference = {"ruff": 0, "mypy": 1, "core": 2, "bandit": 3}
    for diag in sorted(found, key=lambda d: (preference.get(d.tool, 9), _ORDER[d.severity], d.code)):
        key = (diag.file, diag.line, diag.rule)
        if key not in best or diag.rule in ("lint", "type-error", "security"):
            if key in best and best[key].code == diag.code and best[key].message == diag.message:
                continue
            best[key if key not in best else (*key[:2], f"{diag.rule}:{diag.tool}:{diag.code}:{diag.column}")] = diag
        elif diag.tool_rule != best[key].tool_rule and diag.tool_rule not in best[key].also:
            best[key] = best[key].with_(also=(*best[key].also, diag.tool_rule))
    return sorted(best.values(), key=lambda d: (d.file, d.line, d.column, d.rule, d.tool, d.code))


async def analyse(files: Sequence[str], *, root: Path, depth: Depth, texts: Mapping[str, str] | None = None,
                  python: ProjectInterpreter | None = None, package_files: Sequence[str] = (),
                  timeout: float = DEFAULT_TIMEOUT, mypy_path: Sequence[Path] = (),
                  mypy_cache_key: str | None = None, mypy_bases: Sequence[Path] = (),
                  independent: bool = False) -> Report:
    """Analyse ``files`` (absolute paths inside ``root``) at ``depth``; never raises for bad code.

    ``mypy_path``: folders mypy searches for imports besides the files' own roots (``MYPYPATH``);
    ``mypy_cache_key``: share one incremental cache between runs whose roots differ (scratch copies);
    ``mypy_bases``: folders each file lies in a distinct package of (``base/<pkg>/<name>.py``): module
    names are taken relative to them (``--explicit-package-bases``), so same-named files check in one run;
    ``independent``: the files are unrelated texts (a batch), so a name is a missing import only by its own
    file's imports, never by another's."""
    root = root.resolve()
    deadline = time.monotonic() + timeout
    python = python or find_project_interpreter(root)
    sources, trees = _read_trees(list(files), texts or {})
    wanted = [f for f in files if f in sources]
    jobs: list[Awaitable[Any]] = [_ruff(wanted, root, deadline)]
    mypy_files: list[str] = []
    if depth == "standard":
        mypy_files = sorted({*trees, *(i for f, t in trees.items() for i in _imported_files(f, t, root))})
    elif depth == "deep":
        _, package_trees = _read_trees([f for f in package_files if f not in sources], {})
        trees_all = {**package_trees, **trees}
        mypy_files = sorted(trees_all)
        jobs.append(_bandit(wanted, root, deadline))
    jobs.insert(1, _mypy(mypy_files, root, python, "normal" if depth == "deep" else "silent", deadline, mypy_path,
                         mypy_cache_key, mypy_bases))
    results = await asyncio.gather(*jobs)
    found: list[Diagnostic] = []
    checks: list[CheckRun] = []
    for diags, check in results:
        found += diags
        checks += check if isinstance(check, list) else [check]
    started = time.monotonic()
    for file, tree in trees.items():
        found += core.insecure_compares(file, tree) + core.dict_key_typos(file, tree) + \
            core.attribute_typos(file, tree) + core.unawaited_calls(file, tree)
    core_rules = ["insecure-compare", "dict-key-typo", "attribute-typo", "unawaited-future"]
    if depth == "deep":
        found += core.import_cycles(trees_all, set(trees))
        core_rules.append("import-cycle")
    checks.append(CheckRun("core", None, tuple(core_rules), len(trees), "ok", None, None,
                           time.monotonic() - started))
    shared = import_hints(trees)
    own = {f: import_hints({f: t}) for f, t in trees.items()} if independent else {}
    starred = {f for f, t in trees.items() if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
                                                  for n in t.body)}
    classified = []
    for diag in found:
        if not Path(diag.file).is_relative_to(root):
            continue
        if diag.tool == "mypy" and diag.code == "name-defined" and diag.file not in starred:
            continue  # pyflakes (ruff F821) follows Python's scoping; mypy misses `global` and `__class__`
        lines = sources.get(diag.file, "").splitlines()
        line_text = lines[diag.line - 1] if 0 < diag.line <= len(lines) else ""
        hints = own.get(diag.file, {}) if independent else shared
        diag = diag if diag.tool == "core" else diag.with_(rule=classify(diag, hints, line_text))
        classified.append(core.relocate_missing_await(diag, trees.get(diag.file)))
    return Report(_merge(classified), checks, python, trees)
