"""Analyse a source *text* meant to live at a path: how the coder validates code before writing it.

The text is written to a content-addressed scratch file under the analysis cache
(``sources/<digest>/<name>.py``), then :func:`engine.analyse` runs on it exactly as for a file on
disk, with the target's folder and the import roots on mypy's search path (``MYPYPATH``) so
imports resolve as they would beside the target. Diagnostics are reported against the target's
path, so a file checked by the coder before writing and by the debug agent afterwards yields the
same findings from the same tools and rules.

Each scratch copy has its own mypy cache (a cache shared between copies holding a same-named
module let mypy reuse another copy's results), so a new text costs a cold mypy run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from parallel_execution.analysis import engine, tools
from parallel_execution.analysis.interpreter import ProjectInterpreter, find_project_interpreter

__all__ = ["check_source"]


async def check_source(source: str, filename: str, *, search_path: Sequence[Path] = (),
                       depth: engine.Depth = "standard", python: ProjectInterpreter | None = None,
                       timeout: float = 120.0) -> engine.Report:
    """Every diagnostic of ``source`` as if it were the file ``filename``; never raises for bad code."""
    name = Path(filename).name if filename.endswith(".py") else "generated.py"
    if not name.removesuffix(".py").isidentifier():
        name = "generated.py"
    key = hashlib.sha256("\0".join([source, filename, *map(str, search_path)]).encode()).hexdigest()[:24]
    scratch = tools.cache_base() / "sources" / key
    scratch.mkdir(parents=True, exist_ok=True)
    file = scratch / name
    if not file.is_file() or file.read_text(encoding="utf-8") != source:
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source, encoding="utf-8")
        os.replace(tmp, file)
    python = python or find_project_interpreter(Path(search_path[0]) if search_path else Path.cwd())
    report = await engine.analyse([str(file)], root=scratch, depth=depth, texts={str(file): source}, python=python,
                                  timeout=timeout, mypy_path=[Path(p) for p in search_path])
    target = filename if filename != "<generated>" else str(file)
    report.diagnostics = [d.with_(file=target) if d.file == str(file) else d for d in report.diagnostics]
    if str(file) in report.trees:
        report.trees[target] = report.trees.pop(str(file))
    return report
