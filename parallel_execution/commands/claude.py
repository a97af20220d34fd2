"""``dispatch-runner claude``: which Claude Code program the runner uses, and run it.

The runner looks for the program as ``$PARALLEL_DISPATCH_CLAUDE_BIN``, then ``claude`` on ``PATH``,
then the copy bundled in ``claude-agent-sdk`` (``claude_code.binary``). The bundled copy is not on
``PATH``, so advice such as "log in" must name a command that reaches it: this one.

- ``dispatch-runner claude`` prints one JSON document (``program``, ``source``, ``version``) and
  exits 0, or 1 with ``status: "not_found"`` and the install command;
- ``dispatch-runner claude -- ARGS...`` runs that program with ``ARGS`` (``-- auth login``,
  ``-- auth status``, ``-- --version``), the terminal passed through, and exits with its code.
  Which program runs is said on stderr first. It runs whatever the user asks the Claude program
  to do, so the permission rules keep it behind an ``ask`` rule.

Example::

    dispatch-runner claude -- auth login
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from parallel_execution.claude_code.binary import INSTALL_HINT, LOGIN_HINT, ClaudeNotInstalled, locate_claude
from parallel_execution.traces.fsio import dumps_json

__all__ = ["configure_parser", "describe", "main"]

_SOURCES = {"env": "$PARALLEL_DISPATCH_CLAUDE_BIN", "path": "claude on PATH", "bundled": "bundled in claude-agent-sdk"}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="-- ARGS",
                        help="arguments for the Claude program after --, e.g. -- auth login")


def describe() -> dict[str, Any]:
    """The program the runner would use: path, where it was found, its version (None if it will not say)."""
    path, source = locate_claude()
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
        version = done.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        version = None
    return {"status": "found", "program": path, "source": source, "found_as": _SOURCES[source],
            "version": version, "login": LOGIN_HINT}


def main(args: argparse.Namespace) -> int:
    argv = list(args.args)
    if argv and argv[0] == "--":
        argv = argv[1:]
    try:
        if not argv:
            _emit(describe())
            return 0
        path, source = locate_claude()
    except ClaudeNotInstalled as exc:
        _emit({"status": "not_found", "error": str(exc), "install": INSTALL_HINT})
        print(f"dispatch-runner claude: {exc}", file=sys.stderr)
        return 1
    print(f"dispatch-runner claude: running {path} ({_SOURCES[source]})", file=sys.stderr)
    try:
        return subprocess.call([path, *argv])
    except KeyboardInterrupt:
        return 130


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.buffer.write(dumps_json(document, indent=True) + b"\n")
    sys.stdout.flush()
