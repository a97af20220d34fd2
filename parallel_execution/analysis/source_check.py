"""Analyse source *texts* meant to live at paths: how the coder validates code before writing it.

Each text is written to a content-addressed scratch file under the analysis cache, then
:func:`engine.analyse` runs on it exactly as for a file on disk, with the search path (the
target's folder, the import roots) on mypy's ``MYPYPATH`` so imports resolve as they would beside
the target. Diagnostics are reported against the target's path, so a text checked by the coder
before writing and the file the debug agent analyses afterwards get the same findings from the
same tools and rules.

**Layout and caches.** ``sources/<space>/s<digest>/<name>.py``: one *space* per interpreter holds
one mypy incremental cache, so the standard library and third-party packages are type-checked
once, not per text; each text lies in its own package ``s<digest>`` (digest of the search path,
name and text; mypy runs with ``--explicit-package-bases``), so two texts of the same file name
are distinct modules. Because a scratch module's name is derived from its content, mypy's cache
can never answer for one text with another's results (mypy replays a cached module's errors under
the path it first saw, which is also why scratch copies never share a cache with the debug agent's
real files). The texts of a batch are independent: a name counts as a missing import by its own
file's imports only (``engine.analyse(independent=True)``).

**Per-text cache.** Each text's report is kept under a key of its content, depth, interpreter,
tool versions and the stamps of the search path's Python files, so a text checked before (the
same node validated again, a batch that warmed it) is answered without starting a process.

**Folders.** :func:`check_folder` checks a package folder (the coder's omnibase node: node,
handler, models importing each other by the package's name) staged content-addressed as that
package, in one mypy run with the package's base first on the search path. A module of an earlier
staged copy with the same content is "fresh" to mypy, which replays its errors under the earlier
path; the engine puts them back on the file checked now (``engine._replayed_to_current``).

**Batches.** :func:`check_sources` analyses many texts with one ruff and one mypy process;
:func:`check_source` calls that arrive within ``BATCH_WINDOW`` seconds of each other on one event
loop, with the same depth, interpreter and search path, are answered by one such batch (parallel
coder tasks pay one mypy start, not one each). A cancelled caller leaves the batch to the others;
when every caller of a batch is cancelled, its analyzers are killed.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from parallel_execution.analysis import astsafe, engine, tools
from parallel_execution.analysis.diagnostics import CheckRun, Diagnostic
from parallel_execution.analysis.interpreter import ProjectInterpreter, find_project_interpreter

__all__ = ["BATCH_WINDOW", "check_folder", "check_source", "check_sources", "relevant_search_path"]

BATCH_WINDOW = 0.03


def _scratch_name(filename: str) -> str:
    name = Path(filename).name
    return name if name.endswith(".py") and name.removesuffix(".py").isidentifier() else "generated.py"


def _space(python: ProjectInterpreter) -> Path:
    return tools.cache_base() / "sources" / hashlib.sha256(str(python.path).encode()).hexdigest()[:20]


def _write_scratch(space: Path, source: str, filename: str, search_path: Sequence[Path]) -> Path:
    name = _scratch_name(filename)
    digest = hashlib.sha256("\0".join([*map(str, search_path), name, source]).encode()).hexdigest()[:24]
    file = space / f"s{digest}" / name
    if not file.is_file() or file.read_text(encoding="utf-8") != source:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source, encoding="utf-8")
        os.replace(tmp, file)
    return file


def _text_cache(file: Path, depth: str, python: ProjectInterpreter, search_path: Sequence[Path]) -> Path:
    """Where one text's report is kept: keyed by the scratch file (its content), depth, interpreter,
    tool versions and the stamps of every Python file on the search path."""
    stamps = engine.file_stamps(set(search_path), [])
    key = hashlib.sha256(json.dumps([str(file), depth, str(python.path), python.version, tools.version("ruff"),
                                     tools.version("mypy"), stamps]).encode()).hexdigest()
    return tools.cache_base() / "texts" / key[:2] / f"{key}.json"


def _load(path: Path, target: str, source: str, python: ProjectInterpreter) -> engine.Report | None:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        found = [Diagnostic(**{**d, "file": target, "also": tuple(d["also"])}) for d in saved["diagnostics"]]
        checks = [CheckRun(**{**c, "rules": tuple(c["rules"]), "cached": True}) for c in saved["checks"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        trees = {target: astsafe.parse(source, filename=target)}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        trees = {}
    return engine.Report(found, checks, python, trees)


def _save(path: Path, report: engine.Report) -> None:
    if report.failures():
        return  # a missing or failed tool is not a verdict to keep
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"diagnostics": [asdict(d) for d in report.diagnostics],
                                   "checks": [asdict(c) for c in report.checks]}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def relevant_search_path(sources: Sequence[str], search_path: Sequence[Path], own: str | None = None) -> list[Path]:
    """``search_path``, or none of it when no text imports a top-level name found there (imports of the
    package ``own`` itself, staged first, do not count): then it cannot change a verdict (mypy resolves
    nothing from it), and texts checked for different workspaces share one batch and one cached report.
    Kept whole otherwise (modules found there import each other)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = astsafe.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return list(search_path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    return list(search_path)
                modules = [node.module or ""]
            else:
                continue
            names |= {m.split(".")[0] for m in modules if own is None or (m != own and not m.startswith(own + "."))}
    for folder in search_path:
        for name in names - {""}:
            if (folder / name).is_dir() or (folder / f"{name}.py").is_file() or (folder / f"{name}.pyi").is_file():
                return list(search_path)
    return []


async def check_sources(items: Sequence[tuple[str, str]], *, search_path: Sequence[Path] = (),
                        depth: engine.Depth = "standard", python: ProjectInterpreter | None = None,
                        timeout: float = 120.0) -> list[engine.Report]:
    """One report per ``(source, filename)``, as if each text were that file; never raises for bad code.
    A text already checked with the same search path contents is answered from the cache (``cached``)."""
    python = python or find_project_interpreter(Path(search_path[0]) if search_path else Path.cwd())
    paths = relevant_search_path([source for source, _ in items], [Path(p) for p in search_path])
    space = _space(python)
    scratch = [_write_scratch(space, source, filename, paths) for source, filename in items]
    targets = [filename if filename != "<generated>" else str(file)
               for file, (_, filename) in zip(scratch, items, strict=True)]
    keys = [_text_cache(file, depth, python, paths) for file in scratch]
    reports: list[engine.Report | None] = [_load(key, target, source, python)
                                           for key, target, (source, _) in zip(keys, targets, items, strict=True)]
    texts = {str(file): source for file, (source, _), report in zip(scratch, items, reports, strict=True)
             if report is None}
    if texts:
        report = await engine.analyse(sorted(texts), root=space, depth=depth, texts=texts, python=python,
                                      timeout=timeout, mypy_path=paths, mypy_cache_key=f"scratch\0{space}",
                                      mypy_bases=[space], independent=True)
        for i, (file, target) in enumerate(zip(scratch, targets, strict=True)):
            if reports[i] is None:
                tree = report.trees.get(str(file))
                own = engine.Report([d.with_(file=target) for d in report.for_file(str(file))], report.checks,
                                    python, {target: tree} if tree is not None else {})
                _save(keys[i], own)
                reports[i] = own
    return [r for r in reports if r is not None]


async def check_folder(files: Mapping[str, str], package: str, *, search_path: Sequence[Path] = (),
                       depth: engine.Depth = "standard", python: ProjectInterpreter | None = None,
                       timeout: float = 120.0) -> dict[str, engine.Report]:
    """Reports per relative path of a package folder's ``files``, checked together as the package
    ``package`` (its modules import each other by that name), ``search_path`` after it.

    The folder is staged at ``sources/<space>/f<digest>/<package path>/`` (digest of the files, package
    and search path), so checking the same folder again is answered from the result cache."""
    python = python or find_project_interpreter(Path(search_path[0]) if search_path else Path.cwd())
    py_texts = [text for rel, text in files.items() if rel.endswith(".py")]
    paths = relevant_search_path(py_texts, [Path(p) for p in search_path], own=package)
    space = _space(python)
    digest = hashlib.sha256(json.dumps([package, sorted(files.items()), list(map(str, paths))]).encode()).hexdigest()
    base = space / f"f{digest[:24]}"
    folder = base.joinpath(*package.split("."))
    texts: dict[str, str] = {}
    for rel, text in files.items():
        path = folder / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        if rel.endswith(".py"):
            texts[str(path)] = text
    report = await engine.analyse(sorted(texts), root=base, depth=depth, texts=texts, python=python,
                                  timeout=timeout, mypy_path=paths, mypy_cache_key=f"scratch\0{space}",
                                  mypy_bases=[base])
    return {rel: engine.Report(report.for_file(str(folder / rel)), report.checks, python,
                               {k: v for k, v in report.trees.items() if k == str(folder / rel)})
            for rel in files if rel.endswith(".py")}


@dataclass(slots=True)
class _Batch:
    loop: asyncio.AbstractEventLoop
    items: list[tuple[str, str, asyncio.Future[engine.Report]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


_open: dict[tuple[object, ...], _Batch] = {}


async def check_source(source: str, filename: str, *, search_path: Sequence[Path] = (),
                       depth: engine.Depth = "standard", python: ProjectInterpreter | None = None,
                       timeout: float = 120.0) -> engine.Report:
    """Every diagnostic of ``source`` as if it were the file ``filename`` (batched with concurrent calls)."""
    python = python or find_project_interpreter(Path(search_path[0]) if search_path else Path.cwd())
    search_path = relevant_search_path([source], [Path(p) for p in search_path])
    loop = asyncio.get_running_loop()
    key = (id(loop), depth, str(python.path), python.version, tuple(map(str, search_path)), timeout)
    batch = _open.get(key)
    if batch is None or batch.loop is not loop or batch.task is None or batch.task.done():
        batch = _open[key] = _Batch(loop)
        batch.task = loop.create_task(_flush(key, batch, list(map(Path, search_path)), depth, python, timeout))
    future: asyncio.Future[engine.Report] = loop.create_future()
    batch.items.append((source, filename, future))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.cancel()
        if batch.task is not None and all(f.done() for *_, f in batch.items):
            batch.task.cancel()  # nobody waits any more: kill the analyzers
        raise


async def _flush(key: tuple[object, ...], batch: _Batch, search_path: list[Path], depth: engine.Depth,
                 python: ProjectInterpreter, timeout: float) -> None:
    try:
        await asyncio.sleep(BATCH_WINDOW)
    finally:
        if _open.get(key) is batch:
            del _open[key]  # later calls start a new batch
    live = [(source, filename, future) for source, filename, future in batch.items if not future.done()]
    if not live:
        return
    try:
        reports = await check_sources([(s, f) for s, f, _ in live], search_path=search_path, depth=depth,
                                      python=python, timeout=timeout)
    except asyncio.CancelledError:
        for *_, future in live:
            future.cancel()
        raise
    except Exception as exc:  # delivered to every caller of the batch
        for *_, future in live:
            if not future.done():
                future.set_exception(exc)
        return
    for (*_, future), report in zip(live, reports, strict=True):
        if not future.done():
            future.set_result(report)
