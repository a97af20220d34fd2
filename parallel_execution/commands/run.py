"""``dispatch-runner [run] [FILE]``: run the tasks (stdin when FILE is absent or ``-``).

With ``--resume DISPATCH`` the successes of an earlier dispatch are reused (see ``commands.resume``).
"""

from __future__ import annotations

import argparse

from parallel_execution.commands.common import add_run_options, execute, load_plan, read_input
from parallel_execution.views import progress

__all__ = ["configure_parser", "main"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument("--resume", metavar="DISPATCH",
                        help="reuse the successes of an earlier dispatch (id, index file or 'latest')")
    progress.add_progress_options(parser)


def main(args: argparse.Namespace) -> int:
    if args.resume:
        from parallel_execution.commands.resume import resume_run

        return resume_run(args, args.resume, read_input(args.file))
    from parallel_execution.dispatcher import DispatchRun

    plan = load_plan(args)
    return execute(DispatchRun(plan, observers=progress.observers_from_args(args, plan)))
