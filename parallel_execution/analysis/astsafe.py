"""``ast.parse`` that is safe to call from several threads at once.

CPython 3.11 keeps the AST-to-Python conversion's recursion counter per interpreter, not per
thread; two threads converting at the same time (the GIL can switch mid-conversion, e.g. when a
garbage collection runs) fail with ``SystemError: AST constructor recursion depth mismatch``. The
coder and debug agents parse in worker threads so parallel tasks overlap; they parse through here.
"""

from __future__ import annotations

import ast
import threading
from typing import Any

__all__ = ["parse"]

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>", mode: str = "exec", **kwargs: Any) -> Any:
    with _LOCK:
        return ast.parse(source, filename=filename, mode=mode, **kwargs)
