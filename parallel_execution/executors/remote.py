"""The worker side of the Dask executor: one attempt of an agent, killable, as a plain function.

Dask runs ``run_attempt(spec)`` in a worker thread. It builds the agent's ``TaskContext`` from the
picklable ``RemoteContext``, validates the resolved input against the worker's own filesystem, and
runs the agent on a fresh event loop of its own (``_TrackingLoop``), which records the pid of every
process the attempt starts. Our agents start their programs with ``start_new_session=True``, so each
pid is also a process group: the tree of the attempt is those groups.

Dask cannot interrupt a running task, so stopping is ours, through three paths:

* ``cancel_attempt(key)``, which the driver calls on every worker (``client.run``) after a timeout,
  fail_fast or Ctrl-C: the attempt's main task is cancelled on its loop, the agent's own cleanup runs
  (SIGTERM, grace, SIGKILL of its group), then every recorded group is SIGKILLed. A cancel that
  arrives before the attempt starts leaves a tombstone, so it returns at once when it does.
* a deadline (the task's timeout plus a margin) and a watch on the worker's own state: when the
  driver goes away (SIGKILL), the scheduler releases its keys and the attempt stops itself.
* ``ProcessReaper``, a worker plugin: on worker teardown it kills what is still running.

Whatever happens, the reply is data (``RemoteReply``): output, failure message, events and cost.
Nothing here raises into Dask, so Dask never sees an erred task it could retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from parallel_execution.agents.base import Agent, Services, TaskContext
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.paths import WorkspacePolicy
from parallel_execution.run.budget import BUDGET_SERVICE, Budget

__all__ = [
    "ProcessReaper",
    "RemoteAttempt",
    "RemoteContext",
    "RemoteReply",
    "cancel_attempt",
    "probe_workspace",
    "run_attempt",
]

ReplyStatus = Literal["success", "failure", "error", "timeout", "cancelled"]
_WATCH_SECONDS = 0.25  # how often an attempt looks at the worker's state for a released key
_TOMBSTONE_SECONDS = 3600.0


@dataclass(slots=True)
class RemoteContext:
    """The picklable part of a ``TaskContext``: what the worker needs to rebuild it."""

    task_id: str
    dispatch_id: str
    description: str
    attempt: int
    workspace: WorkspacePolicy
    artifacts_dir: Path
    timeout_seconds: float | None
    user_prompt: str | None
    redactor: Any
    max_workers: int
    budget_remaining_usd: float | None


@dataclass(slots=True)
class RemoteAttempt:
    key: str
    agent_cls: type[Agent[Any]]  # built-ins travel by reference (module:name), others by value
    input_data: dict[str, Any]  # resolved, plain JSON data: never a Dask future or key
    context: RemoteContext
    deadline_seconds: float | None
    kill_grace_seconds: float = 2.0


@dataclass(slots=True)
class RemoteReply:
    status: ReplyStatus
    output: Any = None
    message: str | None = None
    retryable: bool = True
    exception: BaseException | None = None  # the agent's own exception, if it pickles
    traceback: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    cost_usd: float = 0.0
    worker_pid: int = 0
    hostname: str = ""


@dataclass(slots=True)
class _Running:
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[Any] | None
    pids: list[int]


_LOCK = threading.Lock()
_RUNNING: dict[str, _Running] = {}
_CANCELLED: dict[str, float] = {}


class _TrackingLoop(asyncio.SelectorEventLoop):
    """An event loop that remembers the pid of every subprocess started on it."""

    def __init__(self) -> None:
        super().__init__()
        self.pids: list[int] = []

    async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super().subprocess_exec(*args, **kwargs)
        self._remember(transport)
        return transport, protocol

    async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super().subprocess_shell(*args, **kwargs)
        self._remember(transport)
        return transport, protocol

    def _remember(self, transport: Any) -> None:
        pid = transport.get_pid()
        if pid:
            self.pids.append(pid)


def run_attempt(spec: RemoteAttempt) -> RemoteReply:
    """Run one attempt on this worker; always returns a reply, with every process it started dead."""
    with _LOCK:
        if _CANCELLED.pop(spec.key, None) is not None:
            return _stamp(RemoteReply("cancelled", message="cancelled before it started"))
    loop = _TrackingLoop()
    running = _Running(loop, None, loop.pids)
    with _LOCK:
        _RUNNING[spec.key] = running
    try:
        with asyncio.Runner(loop_factory=lambda: loop) as runner:
            reply = runner.run(_attempt(spec, running, _worker_state()))
    finally:
        with _LOCK:
            _RUNNING.pop(spec.key, None)
        _kill_groups(loop.pids)
    return _stamp(reply)


def cancel_attempt(key: str) -> bool:
    """Stop the attempt ``key`` if it runs here (True), else make it return at once if it starts."""
    with _LOCK:
        running = _RUNNING.get(key)
        if running is None or running.task is None:
            now = time.monotonic()
            for old in [k for k, t in _CANCELLED.items() if now - t > _TOMBSTONE_SECONDS]:
                del _CANCELLED[old]
            _CANCELLED[key] = now
            return False
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it has finished
        running.loop.call_soon_threadsafe(running.task.cancel)
    return True


def probe_workspace(markers: list[tuple[str, str]]) -> list[str]:
    """Problems reading the driver's marker files (path, expected token) on this worker; [] if none."""
    problems = []
    for path, token in markers:
        try:
            found = _read_marker(path)
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror or exc}")
            continue
        if found != token:
            problems.append(f"{path} holds another run's marker (a different filesystem at the same path)")
    return problems


def _read_marker(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


async def _attempt(spec: RemoteAttempt, running: _Running, worker_state: Any) -> RemoteReply:
    running.task = asyncio.current_task()
    c = spec.context
    services = Services(max_workers=c.max_workers, redactor=c.redactor)
    if c.budget_remaining_usd is not None:  # what is left of the dispatch's cap when this was sent
        services.get_or_create(BUDGET_SERVICE, lambda: Budget(c.budget_remaining_usd))
    ctx = TaskContext(task_id=c.task_id, dispatch_id=c.dispatch_id, description=c.description, attempt=c.attempt,
                      workspace=c.workspace, artifacts_dir=c.artifacts_dir, timeout_seconds=c.timeout_seconds,
                      user_prompt=c.user_prompt, services=services)
    watch = asyncio.create_task(_watch_release(spec.key, worker_state, running))
    try:
        reply = await _run_agent(spec, ctx)
    finally:
        watch.cancel()
        services.close()
    reply.events, reply.cost_usd = ctx.events, ctx.cost_usd
    return reply


async def _run_agent(spec: RemoteAttempt, ctx: TaskContext) -> RemoteReply:
    try:
        data = spec.agent_cls.Input.model_validate(spec.input_data, context=ctx.workspace.as_context())
    except ValidationError as exc:
        return RemoteReply("failure", message=f"input is invalid on this worker: {exc}", retryable=False)
    try:
        async with asyncio.timeout(spec.deadline_seconds) as scope:
            output = await spec.agent_cls().run(data, ctx)
        return RemoteReply("success", output=output)
    except TimeoutError as exc:
        if scope.expired():
            return RemoteReply("timeout", message=f"timeout: the worker's deadline of {spec.deadline_seconds:g} s passed")
        return _error(exc)
    except asyncio.CancelledError:
        return RemoteReply("cancelled", message="cancelled")
    except TaskFailure as failure:
        return RemoteReply("failure", output=failure.output, message=failure.message, retryable=failure.retryable)
    except Exception as exc:
        return _error(exc)


def _error(exc: Exception) -> RemoteReply:
    reply = RemoteReply("error", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    with contextlib.suppress(Exception):  # only an exception that survives the trip is sent as itself
        pickle.loads(pickle.dumps(exc))
        reply.exception = exc
    return reply


async def _watch_release(key: str, worker_state: Any, running: _Running) -> None:
    """Cancel the attempt when the scheduler no longer wants its key (its driver went away)."""
    if worker_state is None:
        return
    while True:
        await asyncio.sleep(_WATCH_SECONDS)
        task_state = worker_state.tasks.get(key)
        if task_state is None or task_state.state in ("cancelled", "released", "forgotten"):
            if running.task is not None:
                running.task.cancel()
            return


def _worker_state() -> Any:
    try:
        from distributed import get_worker

        return get_worker().state
    except (ImportError, ValueError, AttributeError):  # not inside a Dask worker (direct call, tests)
        return None


def _kill_groups(pids: list[int]) -> None:
    """SIGKILL the process group of every recorded pid (a no-op for groups already gone)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _stamp(reply: RemoteReply) -> RemoteReply:
    reply.worker_pid, reply.hostname = os.getpid(), os.uname().nodename
    return reply


def _reap_all() -> int:
    """Cancel and kill every attempt still running on this worker; return how many there were."""
    with _LOCK:
        running = list(_RUNNING.values())
    for item in running:
        if item.task is not None:
            with contextlib.suppress(RuntimeError):
                item.loop.call_soon_threadsafe(item.task.cancel)
        _kill_groups(list(item.pids))
    return len(running)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the worker side imports without Dask (e.g. for its unit tests)
    WorkerPlugin = object  # type: ignore[assignment,misc]


class ProcessReaper(WorkerPlugin):
    """On worker teardown, kill the processes of every attempt still running there."""

    name = "parallel-execution-reaper"

    def teardown(self, worker: Any) -> None:
        _reap_all()
