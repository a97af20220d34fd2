"""Traces: the names of every trace file (layout), the per-task files, the index and the journal
(writer), reading them back (store), querying them (query), redaction of secrets, and the atomic
file I/O they rest on.

The writer's names are re-exported (``traces`` was one module in 0.1) but loaded on first use, so
importing ``traces.fsio`` does not load the writer.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["INPUT_NAME", "JOURNAL_NAME", "TraceWriter", "index_path"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("parallel_execution.traces.writer"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
