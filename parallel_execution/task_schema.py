"""The quick start's ``task_schema`` module: ``from task_schema import TaskBuilder, ...``.

Works as ``parallel_execution.task_schema`` and, like the original, as a top-level module when the
package folder is the current directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parallel_execution.graph.checks import detect_circular_dependencies, validate_task_dependencies
from parallel_execution.inputs.builder import TaskBuilder
from parallel_execution.inputs.schema import DispatchConfig, DispatchInput, Task

__all__ = ["DispatchConfig", "DispatchInput", "Task", "TaskBuilder", "detect_circular_dependencies",
           "validate_task_dependencies"]
