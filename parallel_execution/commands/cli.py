"""``dispatch-runner``: task JSON in, one JSON document out, progress on stderr, meaningful exit code.

::

    dispatch-runner [run] [FILE]        run (stdin when FILE is absent or "-")
    dispatch-runner validate [FILE]     check only; print the plan
    dispatch-runner schema              JSON Schema of the input, with every agent's input_data

Exit codes: 0 every task succeeded; 1 some task failed, timed out, was skipped or cancelled;
2 invalid input or usage (nothing ran, nothing written); 130 / 143 interrupted by SIGINT / SIGTERM
(partial results and traces are still written). ``main(argv) -> int`` does the work; the console
script and ``python -m parallel_execution`` call it. Further subcommands live in their own modules
(``SUBCOMMAND_MODULES``), each with ``configure_parser(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
from typing import Any, NoReturn

from parallel_execution import __version__
from parallel_execution.commands.signals import SIGNAL_EXIT, RunSignals
from parallel_execution.dispatcher import DispatchRun, run_sync
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.executors import executor_override
from parallel_execution.inputs.schema import DispatchInput
from parallel_execution.inputs.validate import ValidatedPlan, build_plan, parse_input
from parallel_execution.run import containment
from parallel_execution.traces.fsio import dumps_json
from parallel_execution.views import progress

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_OK", "entrypoint", "input_schema", "main"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

# name -> module with configure_parser(parser) and main(args) -> int; listed only if present.
SUBCOMMAND_MODULES = {
    "report": ("parallel_execution.views.report", "print a report of a dispatch (markdown, html, chrome-trace)"),
    "traces": ("parallel_execution.traces.query", "list dispatches, query traces with jq"),
    "resume": ("parallel_execution.run.resume", "continue an interrupted or failed dispatch"),
    "plan": ("parallel_execution.plans.file", "run an implementation_plan.json"),
    "install-agents": ("parallel_execution.commands.install", "copy the Claude Code agents into a project or ~/.claude"),
    "worktrees": ("parallel_execution.commands.worktrees", "list or prune the git worktrees of isolated tasks"),
}


def emit(document: Any) -> None:
    """Write the one JSON document to stdout, whole.

    Straight to the file descriptor where there is one: a signal handler running in the middle of
    a large ``BufferedWriter.write`` into a pipe made it drop the rest (the result cut at 128 KiB).
    """
    data = dumps_json(document, indent=True) + b"\n"
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured in tests, a notebook)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_input(path: str) -> bytes:
    if path == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InvalidInput([InputIssue("no input: pipe task JSON on stdin or give a file")])
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInput([InputIssue(f"cannot read {path!r}: {exc.strerror or exc}")]) from None


def add_run_options(parser: argparse.ArgumentParser, *, with_file: bool = True) -> None:
    """Flags shared by run, validate and resume; each overrides the same-named config field."""
    if with_file:
        parser.add_argument("file", nargs="?", default="-", help="task JSON file (default: stdin)")
    parser.add_argument("--workspace", metavar="DIR", help="root for task paths (config.workspace)")
    parser.add_argument("--max-workers", type=int, metavar="N", help="tasks running at once (config.max_workers)")
    parser.add_argument("--trace-dir", metavar="DIR", help="where traces go (config.trace_dir)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="per-task timeout (config.timeout_seconds)")
    parser.add_argument("--retries", type=int, metavar="N", help="extra attempts on error/timeout (config.retries)")
    parser.add_argument("--fail-fast", action="store_true", default=None, help="stop everything at the first failure")
    parser.add_argument("--budget-usd", type=float, metavar="USD", help="cap on model spend (config.budget_usd)")
    parser.add_argument("--allow-commands", action="store_true", help="allow `command` tasks to run programs")
    parser.add_argument("--executor", choices=["local", "dask"], help="where tasks run (config.executor.kind)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786 (implies --executor dask)")


def apply_overrides(data: DispatchInput, args: argparse.Namespace) -> DispatchInput:
    pairs = {"workspace": args.workspace, "max_workers": args.max_workers, "trace_dir": args.trace_dir,
             "timeout_seconds": args.timeout, "retries": args.retries, "fail_fast": args.fail_fast,
             "budget_usd": args.budget_usd}
    pairs["executor"] = executor_override(getattr(args, "executor", None), getattr(args, "scheduler", None),
                                          data.config.model_dump(exclude_unset=True).get("executor"))
    updates = {k: v for k, v in pairs.items() if v is not None}
    if not updates:
        return data
    merged = {**data.config.model_dump(exclude_unset=True), **updates}
    return parse_input({"tasks": [t.model_dump() for t in data.tasks], "config": merged,
                        "user_prompt": data.user_prompt})


def load_plan(args: argparse.Namespace, raw: bytes | None = None) -> ValidatedPlan:
    data = apply_overrides(parse_input(read_input(args.file) if raw is None else raw), args)
    return build_plan(data, allow_commands=args.allow_commands)


def execute(run: DispatchRun) -> int:
    """Run with signal handling (``commands.signals``); print the result; return the exit code."""
    with RunSignals(lambda signum: run.stop(f"interrupted by {signal.Signals(signum).name}")) as guard:
        result = run_sync(guard.running(run.run()))
        guard.printing()  # once printing starts it finishes: a signal now is only noted
        emit(result.model_dump(mode="json"))
    for problem in result.trace_errors:
        print(f"dispatch-runner: warning: {problem}", file=sys.stderr)
    return guard.exit_code or result.exit_code


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume:
        from parallel_execution.run.resume import resume_run

        return resume_run(args, args.resume, read_input(args.file))
    plan = load_plan(args)
    return execute(DispatchRun(plan, observers=progress.observers_from_args(args, plan)))


def cmd_validate(args: argparse.Namespace) -> int:
    description = load_plan(args).describe()
    print(progress.describe_plan_text(description), file=sys.stderr)
    emit({"status": "valid", "plan": description})
    return EXIT_OK


def input_schema() -> dict[str, Any]:
    """The input's JSON Schema, with each agent's ``input_data`` schema selected by ``agent``."""
    from parallel_execution.agents.registry import available_agents, load_agent
    from parallel_execution.inputs.refschema import REF_DEFS, allow_refs

    schema = DispatchInput.model_json_schema()
    defs = schema.setdefault("$defs", {})
    rules = []
    for name in sorted(available_agents()):
        try:
            model = load_agent(name).Input
        except Exception:  # a broken third-party agent must not hide the others
            continue
        agent_schema = allow_refs(model.model_json_schema(ref_template="#/$defs/{model}"))  # $from too
        defs.update(agent_schema.pop("$defs", {}), **REF_DEFS)
        defs[f"agent:{name}"] = agent_schema
        rules.append({"if": {"properties": {"agent": {"const": name}}},
                      "then": {"properties": {"input_data": {"$ref": f"#/$defs/agent:{name}"}}}})
    defs["Task"]["allOf"] = rules
    defs["Task"]["properties"]["agent"]["enum"] = sorted(available_agents())
    return schema


def cmd_schema(args: argparse.Namespace) -> int:
    emit(input_schema())
    return EXIT_OK


class UsageError(Exception):
    """A command-line mistake (unknown flag, bad value): reported like invalid input."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises instead of exiting, so stdout still gets its JSON document."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dispatch-runner",
        description="Run a graph of agent tasks in parallel: task JSON in (stdin or FILE), one JSON result out.",
        epilog="Without a COMMAND, run is assumed: dispatch-runner [run options] [FILE] (see dispatch-runner run "
               "--help). Exit codes: 0 all succeeded, 1 some task failed/skipped, 2 invalid input or usage, "
               "130/143 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run tasks (the default command)")
    add_run_options(run)
    run.add_argument("--resume", metavar="DISPATCH",
                     help="reuse the successes of an earlier dispatch (id, index file or 'latest')")
    progress.add_progress_options(run)
    run.set_defaults(func=cmd_run)
    validate = sub.add_parser("validate", help="check tasks without running them; print the plan")
    add_run_options(validate)
    validate.set_defaults(func=cmd_validate)
    schema = sub.add_parser("schema", help="print the input's JSON Schema")
    schema.set_defaults(func=cmd_schema)
    for name, (module_name, help_text) in SUBCOMMAND_MODULES.items():
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or "").split("\n\n")[0].replace("``", "")  # docstring markup is not for terminals
        extra = sub.add_parser(name, help=help_text, description=summary)
        module.configure_parser(extra)
        extra.set_defaults(func=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = {"run", "validate", "schema", *SUBCOMMAND_MODULES}
    if not args_list or (args_list[0] not in commands and args_list[0] not in ("-h", "--help", "--version")):
        args_list.insert(0, "run")
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except UsageError as exc:
        emit(InvalidInput([InputIssue(f"usage: {exc}")]).to_json())
        print(f"{exc} (see dispatch-runner --help)", file=sys.stderr)
        return EXIT_INVALID
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # before any task started (a run installs its own handlers)
        print("dispatch-runner: interrupted", file=sys.stderr)
        return SIGNAL_EXIT[signal.SIGINT]
    except InvalidInput as exc:
        emit(exc.to_json())
        for issue in exc.issues[:20]:
            where = " ".join(p for p in (issue.task_id and f"[{issue.task_id}]", issue.field) if p)
            print(f"dispatch-runner: invalid input: {where + ': ' if where else ''}{issue.message}", file=sys.stderr)
        return EXIT_INVALID


def entrypoint() -> None:
    # The CLI owns its process tree: orphans of task programs come back to it, and whatever of the
    # dispatch is still alive when it leaves is killed (run.containment).
    containment.become_subreaper()
    code = main()
    containment.kill_everything()
    # The result is out. Interpreter shutdown resets signal handlers to the defaults, so a late
    # Ctrl-C would turn our exit code into "killed by SIGINT": hold signals until we are gone.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNAL_EXIT)
    sys.exit(code)
