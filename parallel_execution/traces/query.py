"""List dispatches, query traces with jq.

::

    dispatch-runner traces list [--trace-dir DIR] [--limit N]
    dispatch-runner traces query [--trace-dir DIR] REF 'JQ FILTER'      (the command: ``commands.traces``)

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

from typing import Any

from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs import jqrun
from parallel_execution.inputs.refs import RefError, compile_filter
from parallel_execution.traces.store import DispatchRecord

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "query"]

DEFAULT_TIMEOUT_SECONDS = 60.0


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
