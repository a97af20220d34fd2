"""What every subcommand shares: exit codes, the one JSON document on stdout, reading the input,
the run options and their overrides, and running a dispatch under signal handling.

A subcommand module (``commands/<name>.py``) has ``configure_parser(parser)`` and
``main(args) -> int``; it imports this module, never ``cli`` (``cli`` imports only the chosen
subcommand's module, so start-up loads nothing another subcommand needs).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from parallel_execution.commands.signals import SIGNAL_EXIT, RunSignals
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.traces.fsio import dumps_json

if TYPE_CHECKING:
    from parallel_execution.dispatcher import DispatchRun
    from parallel_execution.inputs.plan import ValidatedPlan
    from parallel_execution.inputs.schema import DispatchInput

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_OK", "SIGNAL_EXIT", "add_run_options", "apply_overrides", "emit",
           "execute", "load_plan", "read_input"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
owns_process_tree = False  # set by cli.entrypoint: this process is the dispatch-runner program itself


def emit(document: Any) -> None:
    """Write the one JSON document to stdout, whole.

    Straight to the file descriptor where there is one: a signal handler running in the middle of
    a large ``BufferedWriter.write`` into a pipe made it drop the rest (the result cut at 128 KiB).
    """
    data = dumps_json(document, indent=True) + b"\n"
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured in tests, a notebook)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        # The reader left (``| head``): the run itself is done and its traces are on disk. No
        # traceback; stdout goes to /dev/null so the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def read_input(path: str) -> bytes:
    """The task JSON from ``path`` (``-``: stdin); an unreadable source is an input error."""
    if path == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InvalidInput([InputIssue("no input: pipe task JSON on stdin or give a file")])
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInput([InputIssue(f"cannot read {path!r}: {exc.strerror or exc}")]) from None


def add_run_options(parser: argparse.ArgumentParser, *, with_file: bool = True) -> None:
    """Flags shared by run, validate, resume and plan; each overrides the same-named config field."""
    if with_file:
        parser.add_argument("file", nargs="?", default="-", help="task JSON file (default: stdin)")
    parser.add_argument("--workspace", metavar="DIR", help="root for task paths (config.workspace)")
    parser.add_argument("--max-workers", type=int, metavar="N", help="tasks running at once (config.max_workers)")
    parser.add_argument("--trace-dir", metavar="DIR", help="where traces go (config.trace_dir)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="per-task timeout (config.timeout_seconds)")
    parser.add_argument("--retries", type=int, metavar="N", help="extra attempts on error/timeout (config.retries)")
    parser.add_argument("--fail-fast", action="store_true", default=None, help="stop everything at the first failure")
    parser.add_argument("--budget-usd", type=float, metavar="USD", help="cap on model spend (config.budget_usd)")
    parser.add_argument("--allow-commands", action="store_true", help="allow `command` tasks to run programs")
    parser.add_argument("--executor", choices=["local", "dask"], help="where tasks run (config.executor.kind)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786 (implies --executor dask)")
    from parallel_execution.inputs import project_guard  # its checks need the input schema: not for --help

    project_guard.add_flag(parser)


def apply_overrides(data: DispatchInput, args: argparse.Namespace) -> DispatchInput:
    """``data`` with the command-line flags that were given replacing their config fields."""
    from parallel_execution.executors import executor_override
    from parallel_execution.inputs.validate import parse_input

    pairs = {"workspace": args.workspace, "max_workers": args.max_workers, "trace_dir": args.trace_dir,
             "timeout_seconds": args.timeout, "retries": args.retries, "fail_fast": args.fail_fast,
             "budget_usd": args.budget_usd}
    pairs["executor"] = executor_override(getattr(args, "executor", None), getattr(args, "scheduler", None),
                                          data.config.model_dump(exclude_unset=True).get("executor"))
    updates = {k: v for k, v in pairs.items() if v is not None}
    if updates:
        merged = {**data.config.model_dump(exclude_unset=True), **updates}
        data = parse_input({"tasks": [t.model_dump() for t in data.tasks], "config": merged,
                            "user_prompt": data.user_prompt})
    from parallel_execution.inputs import project_guard

    project_guard.check_input(data, args)
    return data


def load_plan(args: argparse.Namespace, raw: bytes | None = None) -> ValidatedPlan:
    """Read, override and validate the input named by ``args.file`` (or ``raw``)."""
    from parallel_execution.inputs.validate import build_plan, parse_input

    data = apply_overrides(parse_input(read_input(args.file) if raw is None else raw), args)
    return build_plan(data, allow_commands=args.allow_commands)


_CARRIED_FLAGS = (("workspace", "--workspace"), ("trace_dir", "--trace-dir"), ("max_workers", "--max-workers"),
                  ("timeout", "--timeout"), ("retries", "--retries"), ("budget_usd", "--budget-usd"),
                  ("executor", "--executor"), ("scheduler", "--scheduler"))
_CARRIED_SWITCHES = (("fail_fast", "--fail-fast"), ("allow_commands", "--allow-commands"),
                     ("allow_outside_project", "--allow-outside-project"))


def resume_command(dispatch_id: str, args: argparse.Namespace, file: str | None) -> str:
    """The command that continues ``dispatch_id`` with the flags of the run that made it.

    A plan run (``args.plan_file``) is continued by running the plan again: its statuses were
    written back, so completed subtasks are skipped and ``--retry-failed`` reruns the failed ones.
    """
    import shlex

    if plan_file := getattr(args, "plan_file", None):
        words = ["dispatch-runner", "plan", plan_file, "--retry-failed"]
        words += [f"--phase={phase}" for phase in getattr(args, "phase", None) or ()]
    else:
        words = ["dispatch-runner", "resume", dispatch_id] + ([file] if file and file != "-" else [])
    for attribute, flag in _CARRIED_FLAGS:
        if (value := getattr(args, attribute, None)) is not None:
            words += [flag, str(value)]
    words += [flag for attribute, flag in _CARRIED_SWITCHES if getattr(args, attribute, None)]
    return shlex.join(words)


def execute(run: DispatchRun, args: argparse.Namespace | None = None, file: str | None = None) -> int:
    """Run with signal handling; print the result; return the exit code.

    With ``args`` (run, resume and plan), a run that did not fully succeed carries ``resume.command``:
    the ready command that continues it (``file``: the input file to pass, when there is one).
    """
    from parallel_execution.dispatcher import run_sync
    from parallel_execution.run import containment

    if owns_process_tree:  # the CLI (not a Python caller of main()): orphans of task programs come
        containment.become_subreaper()  # back to it; cli.entrypoint kills what is left at exit
        containment.claim_process()  # and nothing else in it chdirs or leaves fds inheritable
    with RunSignals(lambda signum: run.stop(f"interrupted by {signal.Signals(signum).name}")) as guard:
        result = run_sync(guard.running(run.run()))
        guard.printing()  # once printing starts it finishes: a signal now is only noted
        document = result.model_dump(mode="json")
        if args is not None and result.status != "success" and result.trace_index is not None:
            document["resume"] = {**(document["resume"] or {}),
                                  "command": resume_command(result.dispatch_id, args, file)}
        emit(document)
    for problem in result.trace_errors:
        print(f"dispatch-runner: warning: {problem}", file=sys.stderr)
    return guard.exit_code or result.exit_code
