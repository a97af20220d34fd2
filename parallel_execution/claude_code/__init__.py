"""Headless Claude Code workers: the ``claude`` agent and the ``claude`` backend of ``coder``/``debug``.

Modules, one job each:

- ``binary``    find the program (``PARALLEL_DISPATCH_CLAUDE_BIN``, ``PATH``, the SDK's bundled copy)
- ``agentdefs`` read an agent definition (``agents/<name>.md``) as system prompt and defaults
- ``session``   run one ``claude -p --output-format stream-json`` process group: stall detection,
                transcript, kill the whole group at the end
- ``outcome``   classify a result from its fields (not the exit code): success, not logged in,
                rate limited (with the reset time), max turns, budget, error, crashed
- ``limiter``   the dispatch-wide adaptive (AIMD) limit on concurrent sessions
- ``changes``   which files a session created, modified or deleted
- ``runner``    one task's sessions: budget, limiter, rate-limit retries, cost and trace events
- ``backends``  ``generate_code`` (write, validate, repair by resuming) and ``diagnose``
- ``reports``   the JSON report a worker ends with; merging a diagnosis with static findings

The program is an optional extra: ``pip install -e '.[claude]'`` in a checkout (or any ``claude`` on PATH).
"""

from __future__ import annotations

from parallel_execution.claude_code.binary import INSTALL_HINT, ClaudeNotInstalled, find_claude_binary
from parallel_execution.claude_code.outcome import Outcome, classify
from parallel_execution.claude_code.runner import ClaudeRequest, ClaudeWorker, SessionResult

__all__ = [
    "INSTALL_HINT",
    "ClaudeNotInstalled",
    "ClaudeRequest",
    "ClaudeWorker",
    "Outcome",
    "SessionResult",
    "classify",
    "find_claude_binary",
]
