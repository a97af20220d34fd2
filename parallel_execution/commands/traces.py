"""``dispatch-runner traces list | query REF FILTER``: list dispatches, query traces with jq (``traces.query``)."""

from __future__ import annotations

import argparse

from parallel_execution.commands.common import emit
from parallel_execution.traces.query import DEFAULT_TIMEOUT_SECONDS, query
from parallel_execution.traces.store import list_dispatches, load_dispatch

__all__ = ["configure_parser", "main", "query"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="traces_command", metavar="{list,query}", required=True)
    listing = sub.add_parser("list", help="recent dispatches with status, counts and time (JSON list)")
    listing.add_argument("--trace-dir", default="./traces", metavar="DIR", help="where the traces are (default ./traces)")
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="at most N dispatches (default 20; 0 = all)")
    query_parser = sub.add_parser("query", help="run a jq filter over a dispatch's index and task traces")
    query_parser.add_argument("ref", help="index file, dispatch id, or 'latest'")
    query_parser.add_argument("filter", help="jq filter, e.g. '.tasks[] | select(.status==\"error\")'")
    query_parser.add_argument("--trace-dir", default="./traces", metavar="DIR", help="where the traces are (default ./traces)")
    query_parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="S",
                              help=f"stop the filter after S seconds (default {DEFAULT_TIMEOUT_SECONDS:g})")


def main(args: argparse.Namespace) -> int:
    if args.traces_command == "list":
        emit(list_dispatches(args.trace_dir, limit=args.limit or None))
    else:
        emit(query(load_dispatch(args.ref, args.trace_dir), args.filter, args.timeout))
    return 0
