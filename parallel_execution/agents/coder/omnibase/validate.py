"""Validate a node folder at a level: stage a private copy, static checks, then the framework's own.

The files are written to a temporary folder outside the workspace (``<tmp>/nodes/<folder>/``: the
framework's purity validator only looks under a ``nodes`` folder), so nothing reaches the
workspace before the verdict. Static checks (:mod:`.checks`: the analysis layer, over its own
copy laid out as the package) run first; at ``strict`` the framework's checks (:mod:`.runtime`) run in the project's interpreter. The report's
``timings`` say how long each part took.

Example::

    report, timings = await validate_folder(files, names, "Effect", "strict", interpreter=py,
                                            import_root=workspace)
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from parallel_execution.agents.coder.omnibase.checks import folder_static_checks
from parallel_execution.agents.coder.omnibase.names import OmnibaseNames
from parallel_execution.agents.coder.omnibase.runtime import DEFAULT_FRAMEWORK_TIMEOUT, framework_checks
from parallel_execution.agents.coder.project import project_search_path
from parallel_execution.agents.coder.report import Level, ValidationReport
from parallel_execution.analysis.interpreter import ProjectInterpreter

__all__ = ["validate_folder"]


async def validate_folder(
    files: Mapping[str, str],
    names: OmnibaseNames,
    node_type: str,
    level: Level,
    *,
    interpreter: ProjectInterpreter,
    import_root: Path,
    timeout: float = DEFAULT_FRAMEWORK_TIMEOUT,
) -> tuple[ValidationReport, dict[str, float]]:
    """Every check of ``level`` on the folder ``files`` (relative path -> text); never raises for bad code."""
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="coder-onex-") as scratch:
        staged = Path(scratch) / "nodes" / names.folder
        for rel, text in files.items():
            path = staged / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        search_path = await asyncio.to_thread(project_search_path, interpreter)
        checks = await folder_static_checks(files, names, node_type, level, staged=staged,
                                            import_root=import_root, search_path=search_path,
                                            interpreter=interpreter)
        timings["static"] = round(time.perf_counter() - started, 3)
        if level == "strict" and all(c.passed for c in checks if c.name in ("syntax", "compiles")):
            started = time.perf_counter()
            framework, runs = await framework_checks(staged, names, node_type, interpreter=interpreter,
                                                     import_root=import_root, timeout=timeout)
            checks += framework
            timings["framework"] = round(time.perf_counter() - started, 3)
            timings.update({f"framework.{k}": v for k, v in runs.items()})
    report = ValidationReport(level=level, node_type=node_type, class_name=names.class_name, checks=checks)
    return report, timings
