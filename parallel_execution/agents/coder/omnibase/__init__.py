"""Omnibase mode of the coder: real omnibase_core ONEX node folders, validated where they will run.

Modules::

    names.py           folder, package path, class/model/protocol names, the node_type enum member
    layout.py          the folder's files (node.py, contract.yaml, models/, protocols/)
    handlers.py        handler.py per node type (what the contract determines; declared steps for the rest)
    checks.py          static checks over the folder (lenient, moderate, strict)
    runtime.py         the framework's own checks in the project's interpreter (strict)
    harness_script.py  run by that interpreter: import, container, initialize, contract, one process call
    validate.py        stage a private copy, run the checks of a level, time them
    prompt.py          mode-specific instructions for the claude backend
    flow.py            one task: render or have Claude write the handler, validate, install atomically
"""

from parallel_execution.agents.coder.omnibase.flow import run_omnibase

__all__ = ["run_omnibase"]
