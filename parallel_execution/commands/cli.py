"""``dispatch-runner``: task JSON in, one JSON document out, progress on stderr, meaningful exit code.

::

    dispatch-runner [run] [FILE]        run (stdin when FILE is absent or "-")
    dispatch-runner validate [FILE]     check only; print the plan
    dispatch-runner schema              JSON Schema of the input, with every agent's input_data
    dispatch-runner resume | report | traces | plan | install-agents | wait | claude | worktrees
                                        (see each one's --help)

Exit codes: 0 every task succeeded; 1 some task failed, timed out, was skipped or cancelled;
2 invalid input or usage (nothing ran, nothing written); 130 / 143 interrupted by SIGINT / SIGTERM
(partial results and traces are still written). ``main(argv) -> int`` does the work; the console
script and ``python -m parallel_execution`` call it.

Each subcommand is its own module (``SUBCOMMANDS``) with ``configure_parser(parser)`` and
``main(args) -> int``; the helpers they share are ``commands.common``. ``main`` imports only the
chosen subcommand's module, so ``dispatch-runner schema`` never loads the scheduler.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import signal
import sys
from typing import Any, NoReturn

from parallel_execution import __version__
from parallel_execution.commands import common
from parallel_execution.commands.common import (  # the shared helpers, re-exported for 0.1 callers
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    SIGNAL_EXIT,
    add_run_options,
    apply_overrides,
    emit,
    execute,
    load_plan,
    read_input,
)
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.run.gcpause import paused_gc

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_OK", "SUBCOMMANDS", "add_run_options", "apply_overrides",
           "build_parser", "emit", "entrypoint", "execute", "input_schema", "load_plan", "main", "read_input"]

# name -> (module with configure_parser(parser) and main(args) -> int, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("parallel_execution.commands.run", "run tasks (the default command)"),
    "validate": ("parallel_execution.commands.validate", "check tasks without running them; print the plan"),
    "schema": ("parallel_execution.commands.schema", "print the input's JSON Schema"),
    "resume": ("parallel_execution.commands.resume", "continue an interrupted or failed dispatch"),
    "report": ("parallel_execution.commands.report", "print a report of a dispatch (markdown, html, chrome-trace)"),
    "traces": ("parallel_execution.commands.traces", "list dispatches, query traces with jq"),
    "plan": ("parallel_execution.commands.plan", "run an implementation_plan.json"),
    "install-agents": ("parallel_execution.commands.install",
                       "copy the Claude Code agents and permission rules into a project"),
    "wait": ("parallel_execution.commands.wait", "wait for a run started with --detach: progress, or its result"),
    "claude": ("parallel_execution.commands.claude", "show which Claude Code program is used; run it (-- auth login)"),
    "worktrees": ("parallel_execution.commands.worktrees", "list or prune the git worktrees of isolated tasks"),
}


def input_schema() -> dict[str, Any]:
    """The input's JSON Schema (kept here for callers of 0.1; the command is ``commands.schema``)."""
    from parallel_execution.commands.schema import input_schema as build

    return build()


class UsageError(InvalidInput):
    """A command-line mistake (unknown flag, bad value): reported like invalid input."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__([InputIssue(f"usage: {message}")])


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of exiting, so stdout still gets its JSON document."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--allow-com` must not slip past the `ask` permission rules
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported and its options configured. Given a
    ``command`` (``main`` always names one, but for the top-level ``--help`` and ``--version``) the
    other commands are left out: nothing would parse them, and their parsers are ~2 ms of a start."""
    parser = _Parser(
        prog="dispatch-runner",
        description="Run a graph of agent tasks in parallel: task JSON in (stdin or FILE), one JSON result out.",
        epilog="Without a COMMAND, run is assumed: dispatch-runner [run options] [FILE] (see dispatch-runner run "
               "--help). Exit codes: 0 all succeeded, 1 some task failed/skipped, 2 invalid input or usage, "
               "130/143 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if name != command:
            if command is None:
                sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or "").split("\n\n")[0].replace("``", "")  # docstring markup is not for terminals
        chosen = sub.add_parser(name, help=help_text, description=summary)
        module.configure_parser(chosen)
        if name == "report":  # it writes a file with -o
            from parallel_execution.inputs import project_guard

            project_guard.add_flag(chosen)
        chosen.set_defaults(func=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in SUBCOMMANDS and args_list[0] not in ("-h", "--help", "--version")):
        args_list.insert(0, "run")
    # Importing the subcommand's modules (pydantic and its models among them) allocates long-lived
    # objects and no cyclic garbage; the collector's ~70 passes over them were ~8% of a CLI start.
    with paused_gc(promote=True):
        parser = build_parser(args_list[0] if args_list[0] in SUBCOMMANDS else None)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except UsageError as exc:
        emit(exc.to_json())
        print(f"{exc.message} (see dispatch-runner --help)", file=sys.stderr)
        return EXIT_INVALID
    try:
        from parallel_execution.inputs import project_guard  # imported here: it loads the input schema

        project_guard.check_args(args)
        return int(args.func(args))
    except KeyboardInterrupt:  # before any task started (a run installs its own handlers)
        print("dispatch-runner: interrupted", file=sys.stderr)
        return SIGNAL_EXIT[signal.SIGINT]
    except InvalidInput as exc:
        emit(exc.to_json())
        for issue in exc.issues[:20]:
            where = " ".join(p for p in (issue.task_id and f"[{issue.task_id}]", issue.field) if p)
            print(f"dispatch-runner: invalid input: {where + ': ' if where else ''}{issue.message}", file=sys.stderr)
        return EXIT_INVALID


def entrypoint() -> None:
    common.owns_process_tree = True
    code = main()
    # Whatever of a dispatch is still alive dies with the CLI. A command that never imported
    # containment (validate, --help) started nothing it could kill: not imported for nothing.
    containment = sys.modules.get("parallel_execution.run.containment")
    if containment is not None:
        containment.kill_everything()
    # The result is out. Interpreter shutdown resets signal handlers to the defaults, so a late
    # Ctrl-C would turn our exit code into "killed by SIGINT": hold signals until we are gone.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNAL_EXIT)
    # Interpreter shutdown drops the modules and then frees everything they held as cyclic garbage:
    # ~60 ms of CPU here, a fifth of a short run. Frozen objects are left to the OS instead. Nothing
    # of ours waits for a finalizer: traces are closed and the journal fsynced by now, and atexit
    # handlers, thread joins and the flush of stdout / stderr still run.
    gc.freeze()
    sys.exit(code)
