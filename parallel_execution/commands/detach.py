"""``dispatch-runner run FILE --detach``: a run that outlives the command that started it.

Claude Code's Bash tool stops a command after 2 minutes by default (10 at most); a dispatch of model
tasks often takes longer. ``--detach`` validates in the foreground (bad input: exit 2, nothing
started), then starts the same run as a background process in its own session (so the tool's kill
of its process group does not reach it), prints one JSON document (``dispatch_id``, ``pid``, where
it logs, and the ``wait`` command) and exits 0 at once. ``dispatch-runner wait`` (``commands/wait.py``) then
reports progress or the final result, as often as needed, within each Bash call's limit.

State lives in ``<trace_dir>/detached/<dispatch_id>/``:

- ``run.json``: pid, argv, input file, start time (written before the process starts);
- ``stderr.log``: the run's progress lines; ``events.jsonl``: its event log (``--events``);
- ``result.json``: the run's stdout (the usual result document);
- ``exit_code.json``: written by the background process after the run returned; its presence is
  what "finished" means, so a half-written result is never read.

Nothing is run twice: a second ``--detach`` of the same task file while the first is alive is
refused (exit 2, naming the running dispatch), and ``wait`` only reads. A background run killed
outright (no ``exit_code.json``, pid gone) is reported as ``lost`` with its resume command; the
traces it wrote let ``resume`` reuse every finished task.

Example::

    dispatch-runner run .dispatch/gen.json --detach      # {"status": "started", "dispatch_id": ...}
    dispatch-runner wait 20261201_101500-3f9a2c1b --timeout 100
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from parallel_execution.dispatcher import new_dispatch_id
from parallel_execution.errors import InputIssue, InvalidInput
from parallel_execution.inputs.validate import ValidatedPlan
from parallel_execution.run.containment import proc_stat
from parallel_execution.traces.fsio import atomic_write_bytes, atomic_write_json, dumps_json

__all__ = ["DETACHED_DIR", "Detached", "find_detached", "pid_alive", "start_detached"]

DETACHED_DIR = "detached"
_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Detached:
    """One background run, as recorded in its folder."""

    folder: Path
    record: dict[str, Any]

    @property
    def dispatch_id(self) -> str:
        return str(self.record["dispatch_id"])

    @property
    def finished(self) -> bool:
        return (self.folder / "exit_code.json").is_file()

    @property
    def alive(self) -> bool:
        return pid_alive(int(self.record["pid"])) if self.record.get("pid") else False

    def exit_code(self) -> int:
        return int(orjson.loads((self.folder / "exit_code.json").read_bytes())["exit_code"])


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (killed, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = proc_stat(pid)
    return fields is None or fields[0] != b"Z"  # None: no /proc here, kill(pid, 0) is all we know


def _records(root: Path) -> list[Detached]:
    found = []
    for record_file in sorted(root.glob(f"{DETACHED_DIR}/*/run.json")):
        try:
            found.append(Detached(record_file.parent, orjson.loads(record_file.read_bytes())))
        except (OSError, orjson.JSONDecodeError):
            continue
    return found


def find_detached(ref: str, trace_dir: str | os.PathLike[str]) -> Detached:
    """The background run ``ref`` names (a dispatch id, a unique prefix of one, or ``latest``)."""
    records = _records(Path(trace_dir))
    if not records:
        raise InvalidInput([InputIssue(f"no background runs in {str(Path(trace_dir) / DETACHED_DIR)!r} "
                                       "(start one with: dispatch-runner run FILE --detach)", None, "dispatch")])
    if ref == "latest":
        return max(records, key=lambda d: (str(d.record.get("started_at", "")), d.dispatch_id))
    matches = [d for d in records if d.dispatch_id == ref] or [d for d in records if d.dispatch_id.startswith(ref)]
    if len(matches) != 1:
        known = ", ".join(d.dispatch_id for d in records[-5:])
        what = "is ambiguous" if matches else "is not a background run"
        raise InvalidInput([InputIssue(f"{ref!r} {what} (recent: {known})", None, "dispatch")])
    return matches[0]


def _child_argv(args: argparse.Namespace, file: str, dispatch_id: str, events: str) -> list[str]:
    from parallel_execution.commands.common import _CARRIED_FLAGS, _CARRIED_SWITCHES

    argv = ["run", file, "--dispatch-id", dispatch_id, "--events", events]
    for attribute, flag in _CARRIED_FLAGS:
        if (value := getattr(args, attribute, None)) is not None:
            argv += [flag, str(value)]
    argv += [flag for attribute, flag in _CARRIED_SWITCHES if getattr(args, attribute, None)]
    if getattr(args, "resume", None):
        argv += ["--resume", args.resume]
    return argv


def start_detached(args: argparse.Namespace, plan: ValidatedPlan, raw: bytes) -> int:
    """Start the validated run in the background; print where it is; return 0."""
    root = Path(plan.config.trace_dir)
    source = None if args.file == "-" else str(Path(args.file).resolve())
    for other in _records(root):
        if source is not None and other.record.get("input_file") == source and not other.finished and other.alive:
            raise InvalidInput([InputIssue(
                f"{args.file!r} is already running in the background as {other.dispatch_id} (pid "
                f"{other.record['pid']}); follow it with: dispatch-runner wait {other.dispatch_id}", None, "file")])
    dispatch_id = args.dispatch_id or new_dispatch_id()
    folder = (root / DETACHED_DIR / dispatch_id).resolve()
    folder.mkdir(parents=True, exist_ok=False)
    if source is None:  # stdin cannot be handed over: keep a copy
        atomic_write_bytes(folder / "input.json", raw)
    input_file = source or str(folder / "input.json")
    events = str(getattr(args, "events", None) or folder / "events.jsonl")
    argv = _child_argv(args, input_file, dispatch_id, events)
    record: dict[str, Any] = {
        "schema_version": _SCHEMA_VERSION, "dispatch_id": dispatch_id, "pid": None, "argv": argv,
        "input_file": input_file, "cwd": os.getcwd(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "log": str(folder / "stderr.log"), "events": events, "result": str(folder / "result.json"),
    }
    atomic_write_json(folder / "run.json", record)
    with open(folder / "result.json", "wb") as out, open(folder / "stderr.log", "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "parallel_execution", *argv, "--record-exit", str(folder)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=log, start_new_session=True, close_fds=True)
    record["pid"], record["started_epoch"] = child.pid, time.time()
    atomic_write_json(folder / "run.json", record)
    document = {"status": "started", "dispatch_id": dispatch_id, "pid": child.pid, "log": record["log"],
                "events": events, "result": record["result"], "folder": str(folder),
                "wait": f"dispatch-runner wait {dispatch_id} --timeout 100"
                        + (f" --trace-dir {plan.config.trace_dir}" if plan.config.trace_dir != "./traces" else "")}
    sys.stdout.buffer.write(dumps_json(document, indent=True) + b"\n")
    sys.stdout.flush()
    print(f"dispatch-runner: {dispatch_id} runs in the background (pid {child.pid}); log: {record['log']}",
          file=sys.stderr)
    return 0
