"""``dispatch-runner report [latest | DISPATCH_ID | INDEX_FILE] [--format markdown|html|chrome-trace]``.

Prints (or writes with ``-o``, atomically) a report of a dispatch read back from its traces; the
formats are built by ``views.report``.
"""

from __future__ import annotations

import argparse
import sys

from parallel_execution.traces.fsio import atomic_write_text, dumps_json
from parallel_execution.traces.store import load_dispatch
from parallel_execution.views.report import chrome_trace, html_report, markdown_report

__all__ = ["configure_parser", "main"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", nargs="?", default="latest", help="index file, dispatch id, or 'latest' (default)")
    parser.add_argument("--format", choices=("markdown", "html", "chrome-trace"), default="markdown")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically) instead of stdout")
    parser.add_argument("--trace-dir", default="./traces", metavar="DIR", help="where the traces are (default ./traces)")
    parser.add_argument("--max-rows", type=int, default=40, metavar="N", help="markdown: tasks listed at most")


def main(args: argparse.Namespace) -> int:
    record = load_dispatch(args.ref, args.trace_dir)
    if args.format == "markdown":
        text = markdown_report(record, max_rows=args.max_rows)
    elif args.format == "html":
        text = html_report(record)
    else:
        text = dumps_json(chrome_trace(record)).decode() + "\n"
    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
