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
The filter runs as a ``$from`` filter does (``inputs.jqrun``): in a worker process with a memory bound
and a time limit (``--timeout``, default 60 s), killed at once by Ctrl-C; filters that reach beyond
the document (``$ENV``, ``import``, ``input``, ...) are refused. Numbers beyond 64 bits come back as
floats, as jq holds them.
"""

from __future__ import annotations

import argparse
from typing import Any

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs import jqrun
from parallel_execution.inputs.refs import RefError, compile_filter
from parallel_execution.traces.store import DispatchRecord, list_dispatches, load_dispatch

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "configure_parser", "main", "query"]

DEFAULT_TIMEOUT_SECONDS = 60.0


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


def query(record: DispatchRecord, jq_filter: str, timeout: float | None = DEFAULT_TIMEOUT_SECONDS) -> list[Any]:
    """Every value ``jq_filter`` yields on the dispatch's merged document (bounded; see the module)."""
    try:
        compile_filter(jq_filter)
    except RefError as exc:
        raise InvalidInput([InputIssue(str(exc), None, "filter")]) from None
    try:
        return jqrun.run(jq_filter, record.full_document(), timeout)
    except jqrun.JqFailure as exc:
        raise InvalidInput([InputIssue(f"jq filter {jq_filter!r} failed on dispatch {record.dispatch_id!r}: "
                                       f"{exc}", None, "filter")]) from None


def main(args: argparse.Namespace) -> int:
    from parallel_execution.commands.cli import emit

    if args.traces_command == "list":
        emit(list_dispatches(args.trace_dir, limit=args.limit or None))
    else:
        emit(query(load_dispatch(args.ref, args.trace_dir), args.filter, args.timeout))
    return 0
