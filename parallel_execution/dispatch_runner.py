"""The stdin/stdout entry point, runnable as a plain script.

    python parallel_execution/dispatch_runner.py < tasks.json

also importable under the quick start's names (``from dispatch_runner import DispatchInput,
ParallelDispatcher``) when the package folder is the current directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script, or imported from inside the package folder: make the package importable.
    _here = Path(__file__).resolve().parent
    if __name__ == "__main__":  # the script's folder need not stay on sys.path: nothing shadows then
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

if __name__ == "__main__":  # Ctrl-C during the imports below exits 130 quietly (launch)
    from parallel_execution.launch import entrypoint as _launch

    _launch()

from parallel_execution.commands.cli import main
from parallel_execution.dispatcher import ParallelDispatcher, adispatch, dispatch
from parallel_execution.inputs.schema import DispatchConfig, DispatchInput, DispatchResult, Task

__all__ = ["DispatchConfig", "DispatchInput", "DispatchResult", "ParallelDispatcher", "Task", "adispatch",
           "dispatch", "main"]
