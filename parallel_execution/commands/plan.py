"""``dispatch-runner plan PLAN``: run an implementation_plan.json, writing statuses back to it.

The plan is read and turned into tasks by ``plans.file``; claims and write-back are ``plans.store``.
Output and exit code as for ``run``; a plan left with ``failed`` subtasks exits 1 even if this run
ran nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from parallel_execution.commands.common import EXIT_FAILED, EXIT_OK, add_run_options, apply_overrides, emit, execute
from parallel_execution.dispatcher import DispatchRun, new_dispatch_id
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input
from parallel_execution.plans.file import PlanSelection, SubtaskDecision, parse_plan, select_tasks
from parallel_execution.plans.store import LOCK_TIMEOUT_SECONDS, PlanStore, StatusWriter
from parallel_execution.views import progress

__all__ = ["configure_parser", "main", "parse_plan", "select_tasks"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_file", metavar="PLAN", help="implementation_plan.json; statuses are written back to it")
    parser.add_argument("--retry-failed", action="store_true", help="run failed subtasks again")
    parser.add_argument("--reclaim", action="store_true",
                        help="also run in_progress subtasks no live runner here holds (after a crash)")
    parser.add_argument("--phase", action="append", metavar="ID",
                        help="run only this phase (id or number; repeatable); others are left alone")
    parser.add_argument("--dry-run", action="store_true", help="print what would run and why; change nothing")
    add_run_options(parser, with_file=False)
    progress.add_progress_options(parser)


def _prepare(store: PlanStore, args: argparse.Namespace) -> tuple[PlanSelection, Any]:
    parsed = parse_plan(store.read_text(), args.plan_file)
    selection = select_tasks(parsed, retry_failed=args.retry_failed, reclaim=args.reclaim,
                             claims=store.claims(), phases=args.phase)
    data = apply_overrides(parse_input({"tasks": selection.tasks, "user_prompt": parsed.user_prompt}), args)
    return selection, build_plan(data, allow_commands=args.allow_commands)


def main(args: argparse.Namespace) -> int:
    store = PlanStore(args.plan_file)
    _prepare(store, args)  # invalid input is reported before the lock file is created (nothing written)
    try:
        with store.locked():
            selection, plan = _prepare(store, args)  # again, under the lock: the file may have changed
            if args.dry_run:
                emit({"status": "valid", "plan": plan.describe(), "subtasks": [asdict(d) for d in selection.decisions]})
                return EXIT_OK
            dispatch_id, subtask_of = new_dispatch_id(), selection.subtask_of()
            store.claim(subtask_of.values(), dispatch_id)
    except TimeoutError:
        raise InvalidInput([InputIssue(f"{args.plan_file} stayed locked for {LOCK_TIMEOUT_SECONDS:g} s "
                                       f"({store.lock.lock_file})")]) from None
    if not args.quiet:
        _print_selection(selection, args.plan_file)
    reclaimed = {d.subtask_id for d in selection.decisions if d.action == "run" and d.status == "in_progress"}
    writer = StatusWriter(store, subtask_of, reclaimed)
    try:
        code = execute(DispatchRun(plan, dispatch_id=dispatch_id,
                                   observers=[writer, *progress.observers_from_args(args, plan)]), args)
    finally:
        writer.close()
    failed = [str(s.id) for p in parse_plan(store.read_text(), args.plan_file).model.phases
              for s in p.subtasks if s.status == "failed"]
    if failed:
        print(f"dispatch-runner: plan has failed subtasks: {', '.join(failed[:20])} "
              "(fix the cause, then rerun with --retry-failed)", file=sys.stderr)
        return max(code, EXIT_FAILED)
    if stuck := _stuck(selection):
        print(f"dispatch-runner: plan is stuck: {len(stuck)} subtasks cannot run: "
              + "; ".join(f"{d.subtask_id} ({d.reason})" for d in stuck[:20]), file=sys.stderr)
        return max(code, EXIT_FAILED)
    return code


def _stuck(selection: PlanSelection) -> list[SubtaskDecision]:
    """Waiting subtasks that no run will take on its own: ``blocked`` ones, ``in_progress`` ones no live
    runner holds, and those queued behind them. Not stuck: another live run's, and unselected phases'."""
    roots = [d for d in selection.decisions if d.action == "wait" and d.status in ("blocked", "in_progress")
             and not (d.reason or "").startswith("claimed by another run")]
    if not roots:
        return []
    return [d for d in selection.decisions if d.action == "wait" and d.status != "failed"
            and not (d.reason or "").startswith(("claimed by another run", "its phase is not selected"))]


def _print_selection(selection: PlanSelection, source: str) -> None:
    print(f"plan {source}: {selection.count('run')} subtasks to run, {selection.count('done')} completed, "
          f"{selection.count('wait')} waiting", file=sys.stderr)
    waiting = [d for d in selection.decisions if d.action == "wait"]
    for d in waiting[:20]:
        print(f"  waits: {d.subtask_id} ({d.phase}): {d.reason}", file=sys.stderr)
    if len(waiting) > 20:
        print(f"  ... and {len(waiting) - 20} more", file=sys.stderr)
