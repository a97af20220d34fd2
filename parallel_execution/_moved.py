"""Old import paths, kept for one release as aliases of the modules' new homes.

Version 0.1 had every module flat in ``parallel_execution/``; 0.2 groups them by stage (inputs,
graph, run, traces, views, commands, plans, analysis, claude_code). A script that imported an old
path gets the very same module object (not a copy), so monkeypatching and private names keep
working. New code imports the new paths; these aliases go away in the next release.

The aliases are served by one meta-path finder (installed by the package's ``__init__``) rather
than a stub file per old name, so the package's folder shows only its real layout.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["MOVED", "install_aliases", "new_name"]

MOVED: dict[str, str] = {
    "astsafe": "analysis.astsafe",
    "budget": "run.budget",
    "builder": "inputs.builder",
    "cli": "commands.cli",
    "digests": "run.digests",
    "fsio": "traces.fsio",
    "install": "commands.install",
    "outcomes": "run.outcomes",
    "paths": "inputs.paths",
    "plan_file": "plans.file",
    "plan_store": "plans.store",
    "planner": "inputs.validate",
    "progress": "views.progress",
    "redact": "traces.redact",
    "refs": "inputs.refs",
    "report": "views.report",
    "resume": "commands.resume",
    "schema": "inputs.schema",
    "scheduler": "run.scheduler",
    "trace_query": "commands.traces",
    "tracestore": "traces.store",
}

_PACKAGE = "parallel_execution."
_RENAMED_PACKAGES = {"claude": "claude_code"}  # old package -> new package; submodules follow
# ``graph`` and ``traces`` were modules and are now packages of the same name: their packages
# re-export what the old modules exported, so they need no alias here.


def new_name(old_name: str) -> str | None:
    """The new dotted path for an old one, or ``None`` when the name did not move."""
    if not old_name.startswith(_PACKAGE):
        return None
    short = old_name.removeprefix(_PACKAGE)
    if short in MOVED:
        return _PACKAGE + MOVED[short]
    head, dot, tail = short.partition(".")
    if head in _RENAMED_PACKAGES:
        return _PACKAGE + _RENAMED_PACKAGES[head] + dot + tail
    return None


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an old path by importing the new one and handing back that same module."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        target = new_name(spec.name)
        assert target is not None
        return importlib.import_module(target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its new name."""


def install_aliases() -> None:
    """Put the alias finder first on ``sys.meta_path`` (first, so old names never load twice)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
