"""``dispatch-runner [run] [FILE]``: run the tasks (stdin when FILE is absent or ``-``).

With ``--resume DISPATCH`` the successes of an earlier dispatch are reused (see ``commands.resume``).
"""

from __future__ import annotations

import argparse
import re

from parallel_execution.commands.common import add_run_options, execute, load_plan, read_input
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.views import progress

__all__ = ["configure_parser", "main"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument("--resume", metavar="DISPATCH",
                        help="reuse the successes of an earlier dispatch (id, index file or 'latest')")
    parser.add_argument("--detach", action="store_true",
                        help="validate, start the run in the background, print its id and log; then use wait")
    parser.add_argument("--dispatch-id", help=argparse.SUPPRESS)  # set by --detach for the background run
    parser.add_argument("--record-exit", metavar="FOLDER", help=argparse.SUPPRESS)  # ditto: where exit_code.json goes
    progress.add_progress_options(parser)


def main(args: argparse.Namespace) -> int:
    if args.record_exit is None:
        return _run(args)
    # The background process of --detach: its exit code is recorded, the sign that result.json is
    # complete; a crash is recorded as such, never left looking like a run still going.
    import sys
    import time
    from pathlib import Path

    from parallel_execution.traces.fsio import atomic_write_json

    code = 1
    try:
        code = _run(args)
    except InvalidInput:
        code = 2
        raise  # the CLI prints it as for any run
    except BaseException as exc:
        print(f"dispatch-runner: background run crashed: {exc!r}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        atomic_write_json(Path(args.record_exit) / "exit_code.json",
                          {"exit_code": code, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return code


def _run(args: argparse.Namespace) -> int:
    if args.dispatch_id is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,127}", args.dispatch_id):
        raise InvalidInput([InputIssue("--dispatch-id: letters, digits, '.', '_', '-' only", None, "--dispatch-id")])
    if args.detach:
        from parallel_execution.commands.detach import start_detached

        raw = read_input(args.file)
        return start_detached(args, load_plan(args, raw), raw)
    if args.resume:
        from parallel_execution.commands.resume import resume_run

        return resume_run(args, args.resume, read_input(args.file))
    from parallel_execution.dispatcher import DispatchRun

    plan = load_plan(args)
    run = DispatchRun(plan, observers=progress.observers_from_args(args, plan), dispatch_id=args.dispatch_id)
    return execute(run, args, args.file)
