"""The console script's first code: Ctrl-C while the runner is still starting exits 130, quietly.

``dispatch-runner`` and ``python -m parallel_execution`` enter here. Importing the CLI (pydantic,
networkx, jq, the agents) takes a noticeable moment; a Ctrl-C then used to print a
``KeyboardInterrupt`` traceback. This module imports nothing heavy (the package's ``__init__`` is
lazy too), so the handling is in place before the imports start. Once a dispatch runs, the CLI's
own handling takes over (``commands.signals``). A signal that arrives while the interpreter itself
is still initialising (before any of our code runs) is beyond any program's reach.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from parallel_execution.run.gcpause import paused_gc

__all__ = ["entrypoint"]


def entrypoint() -> None:
    # While the imports run, a Ctrl-C leaves at once: raised as KeyboardInterrupt it could land
    # inside an extension module's initialisation (pydantic_core then panics with a traceback).
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted())
    try:
        with paused_gc(promote=True):  # imports: long-lived objects and no garbage (see cli.main)
            from parallel_execution.commands.cli import entrypoint as cli_entrypoint
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        cli_entrypoint()
    except KeyboardInterrupt:
        interrupted()


def interrupted() -> None:
    """Leave with 130 and one line on stderr; hold further signals so shutdown cannot print."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    os.write(2, b"dispatch-runner: interrupted\n")
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stdout.flush()
    os._exit(130)
