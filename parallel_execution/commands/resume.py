"""``dispatch-runner resume <dispatch_id | index file | latest> [FILE]`` (also ``run FILE --resume ...``).

Continue a dispatch, reusing the earlier one's successes (``run.resume.load_prior`` says which).
Without FILE the input is the one stored with the earlier dispatch; a stored input that had
secrets redacted is refused (exit 2): resume with the original file.
"""

from __future__ import annotations

import argparse

from parallel_execution.commands.common import add_run_options, apply_overrides, execute, read_input
from parallel_execution.dispatcher import DispatchRun
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.validate import build_plan, parse_input
from parallel_execution.run.resume import REDACTED_ONLY, PriorDispatch, load_prior
from parallel_execution.traces.layout import INPUT_NAME
from parallel_execution.traces.redact import REDACTED
from parallel_execution.views import progress

__all__ = ["PriorDispatch", "configure_parser", "load_prior", "main", "resume_run"]


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
    for planned in plan.tasks:  # a placeholder may be reported, never passed on to a dependent
        if planned.task_id in prior.redacted and planned.dependents:
            del prior.reuse[planned.task_id]
            prior.rerun_reasons[planned.task_id] = REDACTED_ONLY
    reasons = {t.task_id: prior.rerun_reasons.get(t.task_id, "never finished") for t in plan.tasks}
    run = DispatchRun(plan, observers=progress.observers_from_args(args, plan), reuse=prior.reuse,
                      resumed_from=prior.dispatch_id, rerun_reasons=reasons,
                      dispatch_id=getattr(args, "dispatch_id", None))
    return execute(run, args, getattr(args, "file", None))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dispatch", help="dispatch id (or a unique prefix), index file, or 'latest'")
    parser.add_argument("file", nargs="?", help="input file (default: the input stored with the dispatch)")
    add_run_options(parser, with_file=False)
    progress.add_progress_options(parser)


def main(args: argparse.Namespace) -> int:
    return resume_run(args, args.dispatch, read_input(args.file) if args.file else None)
