"""Continue a dispatch: rerun only what did not succeed (or whose inputs changed).

::

    dispatch-runner resume <dispatch_id | index file | latest> [FILE]
    dispatch-runner run FILE --resume <dispatch_id | index file | latest>

The earlier dispatch's journal says which tasks finished and how; a task that succeeded is reused
(its output, read back from its trace file, feeds ``$from`` as before) while its ``input_data``,
dependencies and the outputs of its dependencies are unchanged. Everything else runs: failed,
timed-out, skipped, cancelled and never-finished tasks, and tasks whose input (or whose dependencies'
outputs) changed. The result's ``resume`` section says which tasks were reused and why each other
one ran. A resume is a new dispatch (new id, ``resumed_from`` in its index), so nothing is
overwritten and a resume can itself be resumed.

Without FILE the input is the one stored with the earlier dispatch. Secrets were redacted from that
copy, so a dispatch whose input held secrets must be resumed with its original input file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.commands.cli import add_run_options, apply_overrides, execute, read_input
from parallel_execution.dispatcher import DispatchRun
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input
from parallel_execution.run.outcomes import PriorResult
from parallel_execution.traces.redact import REDACTED
from parallel_execution.traces.store import load_dispatch
from parallel_execution.traces.writer import INPUT_NAME
from parallel_execution.views import progress

__all__ = ["PriorDispatch", "configure_parser", "load_prior", "main", "resume_run"]


@dataclass(slots=True)
class PriorDispatch:
    dispatch_id: str
    task_dir: Path
    reuse: dict[str, PriorResult]
    rerun_reasons: dict[str, str]  # task id -> why it cannot be reused (no earlier success)


def load_prior(ref: str, trace_dir: str | Path) -> PriorDispatch:
    """What an earlier dispatch finished, from its journal; successes keep their output."""
    record = load_dispatch(ref, trace_dir)
    last: dict[str, dict[str, Any]] = {}
    try:
        for line in record.journal_path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line torn by a crash: that task did not finish durably
            last[entry["task_id"]] = entry
    except FileNotFoundError:
        pass
    reuse: dict[str, PriorResult] = {}
    reasons: dict[str, str] = {}
    for task_id, entry in last.items():
        trace = record.task_trace(task_id) if entry.get("status") == "success" else None
        if entry.get("status") != "success":
            reasons[task_id] = f"previously {entry.get('status')}"
        elif trace is None or "output" not in trace:
            reasons[task_id] = "earlier trace file unreadable"
        else:
            reuse[task_id] = PriorResult(entry["input_digest"], entry.get("deps_digest") or "", trace["output"])
    return PriorDispatch(record.dispatch_id, record.task_dir, reuse, reasons)


def resume_run(args: argparse.Namespace, ref: str, raw: bytes | None) -> int:
    """Build the plan (from ``raw`` or the stored input) and run it reusing the earlier successes.

    The earlier dispatch is looked up in ``--trace-dir``, else the given input's ``trace_dir``,
    else ``./traces``.
    """
    trace_dir = args.trace_dir or (parse_input(raw).config.trace_dir if raw is not None else "./traces")
    prior = load_prior(ref, trace_dir)
    if raw is None:
        try:
            raw = (prior.task_dir / INPUT_NAME).read_bytes()
        except OSError as exc:
            raise InvalidInput([InputIssue(f"the input of {prior.dispatch_id} is gone ({exc.strerror}); "
                                           "give the input file", None, "file")]) from None
        if REDACTED.encode() in raw:
            raise InvalidInput([InputIssue(
                f"the stored input of {prior.dispatch_id} had secrets redacted; resume with the original file: "
                f"dispatch-runner run FILE --resume {prior.dispatch_id}", None, "file")])
    plan = build_plan(apply_overrides(parse_input(raw), args), allow_commands=args.allow_commands)
    reasons = {t.task_id: prior.rerun_reasons.get(t.task_id, "never finished") for t in plan.tasks}
    run = DispatchRun(plan, observers=progress.observers_from_args(args, plan), reuse=prior.reuse,
                      resumed_from=prior.dispatch_id, rerun_reasons=reasons)
    return execute(run)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dispatch", help="dispatch id (or a unique prefix), index file, or 'latest'")
    parser.add_argument("file", nargs="?", help="input file (default: the input stored with the dispatch)")
    add_run_options(parser, with_file=False)
    progress.add_progress_options(parser)


def main(args: argparse.Namespace) -> int:
    return resume_run(args, args.dispatch, read_input(args.file) if args.file else None)
