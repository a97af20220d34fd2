"""List dispatches, query traces with jq.

::

    dispatch-runner traces list [--trace-dir DIR] [--limit N]
    dispatch-runner traces query [--trace-dir DIR] REF 'JQ FILTER'

Both print one JSON document on stdout - a list - for the dispatcher agent and for scripts.

``list``: the most recent dispatches first, each with status, start and end, task counts by status,
wall time, speedup, cost and the index file (``tracestore.list_dispatches``; only indexes are read).

``query``: runs a jq filter (the ``jq`` package) over one document, the dispatch's index with every
task entry merged with its full task trace (``output``, ``resolved_input``, ``attempts`` with their
``events``, ``error``, ...). REF is an index file, a dispatch id (or unique prefix) or ``latest``.
The result is the list of every value the filter yields, so::

    traces query latest '.tasks[] | select(.status=="error") | {task_id, error}'
    traces query latest '[.tasks[] | {task_id, execution_time_ms}] | sort_by(-.execution_time_ms) | .[:3]'
    traces query latest '.tasks[] | select(.agent=="coder") | .output.generated_file'

A filter that does not compile or fails on the data is an input error (exit 2) with jq's message.
"""

from __future__ import annotations

import argparse
from typing import Any

import jq

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.traces.store import DispatchRecord, list_dispatches, load_dispatch

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


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def query(record: DispatchRecord, jq_filter: str) -> list[Any]:
    """Every value ``jq_filter`` yields on the dispatch's merged document."""
    try:
        program = jq.compile(jq_filter)
    except ValueError as exc:
        raise InvalidInput([InputIssue(f"invalid jq filter {jq_filter!r}: {_first_line(exc)}", None, "filter")]) from None
    try:
        return list(program.input_value(record.full_document()).all())
    except ValueError as exc:
        raise InvalidInput([InputIssue(f"jq filter {jq_filter!r} failed on dispatch {record.dispatch_id!r}: "
                                       f"{_first_line(exc)}", None, "filter")]) from None


def main(args: argparse.Namespace) -> int:
    from parallel_execution.commands.cli import emit

    if args.traces_command == "list":
        emit(list_dispatches(args.trace_dir, limit=args.limit or None))
    else:
        emit(query(load_dispatch(args.ref, args.trace_dir), args.filter))
    return 0
