"""Analyse source *texts* meant to live at paths: how the coder validates code before writing it.

Each text is written to a content-addressed scratch file under the analysis cache, then
:func:`engine.analyse` runs on it exactly as for a file on disk, with the search path (the
target's folder, the import roots) on mypy's ``MYPYPATH`` so imports resolve as they would beside
the target. Diagnostics are reported against the target's path, so a text checked by the coder
before writing and the file the debug agent analyses afterwards get the same findings from the
same tools and rules.

**Layout and caches.** ``sources/<space>/s<digest>/<name>.py``: a *space* per (search path,
interpreter) holds one mypy incremental cache, so the standard library and third-party packages
are type-checked once, not per text; each text lies in its own package ``s<digest>`` (mypy runs
with ``--explicit-package-bases``), so two texts of the same file name are distinct modules. A
scratch module's name is derived from its content: mypy's cache can never answer for one text
with another's results (mypy replays a cached module's errors under the path it first saw, which
is why scratch copies never share a cache with the debug agent's real files either).

**Batches.** :func:`check_sources` analyses many texts with one ruff and one mypy process;
:func:`check_source` calls that arrive within ``BATCH_WINDOW`` seconds of each other on one event
loop, with the same depth, interpreter and search path, are answered by one such batch (parallel
coder tasks pay one mypy start, not one each). A cancelled caller leaves the batch to the others;
when every caller of a batch is cancelled, its analyzers are killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parallel_execution.analysis import engine, tools
from parallel_execution.analysis.interpreter import ProjectInterpreter, find_project_interpreter

__all__ = ["BATCH_WINDOW", "check_source", "check_sources"]

BATCH_WINDOW = 0.03


def _scratch_name(filename: str) -> str:
    name = Path(filename).name
    return name if name.endswith(".py") and name.removesuffix(".py").isidentifier() else "generated.py"


def _space(search_path: Sequence[Path], python: ProjectInterpreter) -> Path:
    key = hashlib.sha256("\0".join([str(python.path), *map(str, search_path)]).encode()).hexdigest()[:20]
    return tools.cache_base() / "sources" / key


def _write_scratch(space: Path, source: str, filename: str) -> Path:
    name = _scratch_name(filename)
    digest = hashlib.sha256(f"{name}\0{source}".encode()).hexdigest()[:24]
    file = space / f"s{digest}" / name
    if not file.is_file() or file.read_text(encoding="utf-8") != source:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source, encoding="utf-8")
        os.replace(tmp, file)
    return file


async def check_sources(items: Sequence[tuple[str, str]], *, search_path: Sequence[Path] = (),
                        depth: engine.Depth = "standard", python: ProjectInterpreter | None = None,
                        timeout: float = 120.0) -> list[engine.Report]:
    """One report per ``(source, filename)``, as if each text were that file; never raises for bad code."""
    python = python or find_project_interpreter(Path(search_path[0]) if search_path else Path.cwd())
    paths = [Path(p) for p in search_path]
    space = _space(paths, python)
    scratch = [_write_scratch(space, source, filename) for source, filename in items]
    texts = {str(file): source for file, (source, _) in zip(scratch, items, strict=True)}
    report = await engine.analyse(sorted(texts), root=space, depth=depth, texts=texts, python=python,
                                  timeout=timeout, mypy_path=paths, mypy_cache_key=f"scratch\0{space}",
                                  mypy_bases=[space])
    reports = []
    for file, (_, filename) in zip(scratch, items, strict=True):
        target = filename if filename != "<generated>" else str(file)
        own = [d.with_(file=target) for d in report.diagnostics if d.file == str(file)]
        tree = report.trees.get(str(file))
        reports.append(engine.Report(own, report.checks, python, {target: tree} if tree is not None else {}))
    return reports


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
