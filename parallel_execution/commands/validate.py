"""``dispatch-runner validate [FILE]``: check the tasks without running them; print the plan."""

from __future__ import annotations

import argparse
import sys

from parallel_execution.commands.common import EXIT_OK, add_run_options, emit, load_plan
from parallel_execution.views.plan_text import describe_plan_text

__all__ = ["configure_parser", "main"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)


def main(args: argparse.Namespace) -> int:
    description = load_plan(args).describe()
    print(describe_plan_text(description), file=sys.stderr)
    emit({"status": "valid", "plan": description})
    return EXIT_OK
