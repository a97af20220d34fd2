"""The Dask executor: each attempt runs on a worker of a Dask cluster, used as a remote process pool.

Policy
------
The DAG, the ready queue, retries, the budget ledger, the journal and the traces stay in the driver
(the scheduler); Dask only runs one attempt at a time per submission. Each attempt is one
``client.submit(run_attempt, spec, key=<unique>, pure=False, retries=0, resources=task.resources)``
whose argument is plain data (the resolved input, a picklable context): never another task's
future, so Dask builds no graph of its own and never substitutes a key for a string.

Guarantees, and what each rests on
----------------------------------
* No silent rerun: the scheduler's ``allowed_failures`` is set to 0 at start, so a worker that
  dies mid-attempt turns the attempt into ``KilledWorker``, which we report as a retryable task
  failure; our retry policy (``config.retries``) decides, as for any failure.
* Timeout and Ctrl-C: cancelling ``run`` (the scheduler's ``asyncio.timeout``, ``stop``) calls
  ``remote.cancel_attempt`` on every worker, then waits (``stop_timeout_seconds``) for the attempt's
  reply, which comes only once its process groups are dead. The worker side also has a deadline and
  a watch for a released key, and a ``ProcessReaper`` plugin kills leftovers on worker teardown.
* Same workspace everywhere: ``start`` writes a marker file (random token) into the workspace and
  the trace folder and runs a probe on every worker; a worker that cannot read it fails the start
  with an input error naming it (exit 2, nothing ran). Tasks whose ``resources`` no worker offers
  fail the start the same way instead of waiting forever.

Without ``address`` a ``LocalCluster`` of worker processes is started for the run and closed after.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
from pathlib import Path
from typing import Any

from parallel_execution.agents.base import TaskContext
from parallel_execution.errors import InputIssue, InvalidInput, TaskFailure
from parallel_execution.executors.config import DaskExecutorConfig
from parallel_execution.executors.remote import (
    ProcessReaper,
    RemoteAttempt,
    RemoteContext,
    RemoteReply,
    cancel_attempt,
    probe_workspace,
    run_attempt,
)
from parallel_execution.inputs.plan import PlannedTask, ValidatedPlan
from parallel_execution.run.budget import BUDGET_SERVICE

__all__ = ["DaskExecutor"]

_DEADLINE_MARGIN_SECONDS = 10.0  # the worker's own deadline: after the driver's timeout, as a backstop
_MARKER_NAME = ".parallel-dispatch-probe-{token}"


def _issue(message: str, task_id: str | None = None, field: str = "config.executor") -> InvalidInput:
    return InvalidInput([InputIssue(message, task_id=task_id, field=field)])


class DaskExecutor:
    """Run attempts on a Dask cluster (``config.executor = {"kind": "dask", "address": ...}``)."""

    kind = "dask"

    def __init__(self, config: DaskExecutorConfig) -> None:
        self.config = config
        self.client: Any = None
        self.cluster: Any = None
        self._stopping: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, plan: ValidatedPlan, artifacts_dir: Path) -> None:
        """Connect (or start a LocalCluster), forbid silent reruns, probe every worker."""
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise _issue("the dask executor needs Dask: pip install 'parallel-dispatch[dask]'") from None
        try:
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                if self.config.address is None:
                    n_workers, threads = self._local_shape(plan.config.max_workers)
                    self.cluster = await LocalCluster(
                        n_workers=n_workers, threads_per_worker=threads, processes=True,
                        asynchronous=True, dashboard_address=None, scheduler_port=0)
                self.client = await Client(self.cluster or self.config.address, asynchronous=True,
                                           timeout=self.config.connect_timeout_seconds)
            if await self.client.run_on_scheduler(_forbid_reruns) != 0:
                raise _issue("the Dask scheduler did not accept allowed-failures 0")
            await self.client.register_plugin(ProcessReaper(), name=ProcessReaper.name)
            await self.client.wait_for_workers(1, timeout=self.config.connect_timeout_seconds)
        except InvalidInput:
            raise
        except (OSError, TimeoutError, ValueError) as exc:
            await self.close()
            where = self.config.address or "a LocalCluster"
            raise _issue(f"cannot use the Dask cluster at {where}: {exc}") from None
        try:
            workers = (await self.client.scheduler.identity())["workers"]
            self._check_resources(plan, workers)
            await self._probe(plan, artifacts_dir, list(workers))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._stopping:  # kills in flight must be confirmed before the run reports
            await asyncio.gather(*self._stopping, return_exceptions=True)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                await self.cluster.close()
            self.cluster = None

    def _local_shape(self, max_workers: int) -> tuple[int, int]:
        n_workers = self.config.n_workers or max(1, min(os.cpu_count() or 1, max_workers))
        threads = self.config.threads_per_worker or max(1, math.ceil(max_workers / n_workers))
        return n_workers, threads

    def _check_resources(self, plan: ValidatedPlan, workers: dict[str, Any]) -> None:
        offered = [w.get("resources") or {} for w in workers.values()]
        issues = []
        for planned in plan.tasks:
            wanted = planned.task.resources
            if wanted and not any(all(r.get(k, 0) >= v for k, v in wanted.items()) for r in offered):
                have = sorted({f"{k}={v:g}" for r in offered for k, v in r.items()}) or ["none"]
                issues.append(InputIssue(f"no worker of the cluster offers {wanted} (workers offer: {', '.join(have)})",
                                         task_id=planned.task_id, field="resources"))
        if issues:
            raise InvalidInput(issues)

    async def _probe(self, plan: ValidatedPlan, artifacts_dir: Path, workers: list[str]) -> None:
        """Every worker must read the markers written here: the workspace and the trace folder are shared."""
        token = secrets.token_hex(16)
        places = [plan.policy.root, _existing_ancestor(artifacts_dir)]
        markers: list[Path] = []
        try:
            for place in dict.fromkeys(places):
                marker = place / _MARKER_NAME.format(token=token)
                try:
                    marker.write_text(token, encoding="utf-8")
                except OSError as exc:
                    raise _issue(f"cannot write the workspace probe {marker}: {exc.strerror or exc}") from None
                markers.append(marker)
            pairs = [(str(m), token) for m in markers]
            futures = [self.client.submit(probe_workspace, pairs, key=f"pe-probe-{token}-{i}", workers=[addr],
                                          allow_other_workers=False, pure=False)
                       for i, addr in enumerate(workers)]
            try:
                results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True),
                                                 self.config.connect_timeout_seconds)
            except TimeoutError:
                raise _issue("the workspace probe got no answer from every worker within "
                             f"{self.config.connect_timeout_seconds:g} s") from None
        finally:
            for marker in markers:
                with contextlib.suppress(OSError):
                    marker.unlink()
        problems = []
        for addr, found in zip(workers, results, strict=True):
            if isinstance(found, BaseException):
                problems.append(f"worker {addr} cannot run the probe ({type(found).__name__}: {found}); "
                                "is parallel-dispatch installed there?")
            elif found:
                problems.append(f"worker {addr} cannot see the workspace: {'; '.join(found)}")
        if problems:
            hint = ("every worker needs this project installed and the workspace and the trace folder at "
                    f"the same path ({plan.policy.root}, a shared filesystem)")
            raise InvalidInput([InputIssue(f"{p}; {hint}", field="config.executor") for p in problems])

    # -- one attempt ------------------------------------------------------------------------------

    async def run(self, planned: PlannedTask, data: Any, ctx: TaskContext) -> dict[str, Any]:
        key = f"pe-{ctx.dispatch_id}-{planned.task_id}-{ctx.attempt}-{secrets.token_hex(4)}"
        budget = ctx.services.get(BUDGET_SERVICE)
        deadline = None if planned.timeout_seconds is None else planned.timeout_seconds + _DEADLINE_MARGIN_SECONDS
        spec = RemoteAttempt(
            key=key, agent_cls=planned.agent_cls, input_data=data.model_dump(mode="json"), deadline_seconds=deadline,
            context=RemoteContext(
                task_id=ctx.task_id, dispatch_id=ctx.dispatch_id, description=ctx.description, attempt=ctx.attempt,
                workspace=ctx.workspace, artifacts_dir=ctx.artifacts_dir, timeout_seconds=ctx.timeout_seconds,
                user_prompt=ctx.user_prompt, redactor=ctx.services.get("redactor"),
                max_workers=ctx.services.get("max_workers") or 1,
                budget_remaining_usd=None if budget is None else budget.remaining_usd),
        )
        future = self.client.submit(run_attempt, spec, key=key, pure=False, retries=0,
                                    resources=dict(planned.task.resources) or None)
        try:
            reply: RemoteReply = await future
        except asyncio.CancelledError:
            stopping = asyncio.create_task(self._stop_remote(future, key))
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)
            with contextlib.suppress(asyncio.CancelledError):  # a second cancel: close() still waits for it
                await asyncio.shield(stopping)
            raise
        except Exception as exc:
            future.release()
            raise TaskFailure(_lost_message(exc), retryable=True) from None
        future.release()
        return _unpack(reply, ctx)

    async def _stop_remote(self, future: Any, key: str) -> None:
        """Cancel the attempt on whichever worker has it and wait until it confirms (processes dead)."""
        with contextlib.suppress(Exception):
            await self.client.run(cancel_attempt, key, on_error="ignore")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(future.result()), self.config.stop_timeout_seconds)
        with contextlib.suppress(Exception):
            await self.client.cancel([future])
        future.release()


def _unpack(reply: RemoteReply, ctx: TaskContext) -> dict[str, Any]:
    """The worker's reply as the agent's own return or exception, with its events and cost recorded here."""
    for record in reply.events:
        ctx.events.append(record)
        if ctx.on_event is not None:
            ctx.on_event(record.get("event", ""), record)
    ctx.event("ran_on_worker", hostname=reply.hostname, pid=reply.worker_pid)
    ctx.record_cost(reply.cost_usd)  # the budget ledger is the driver's
    if reply.status == "success":
        return reply.output
    message = reply.message or reply.status
    if reply.status == "error" and reply.exception is not None:
        if reply.traceback and isinstance(reply.exception, Exception):
            reply.exception.add_note(f"raised on worker {reply.hostname} (pid {reply.worker_pid}):\n{reply.traceback}")
        raise reply.exception
    if reply.status == "cancelled":
        message = "cancelled on the worker (its driver or the cluster stopped it)"
    raise TaskFailure(message, output=reply.output, retryable=reply.retryable)


def _lost_message(exc: Exception) -> str:
    if type(exc).__name__ == "KilledWorker":
        return ("the worker running this attempt died; Dask does not run it again (allowed-failures 0), "
                f"the task's retries decide: {exc}")
    return f"the Dask cluster lost this attempt: {type(exc).__name__}: {exc}"


def _existing_ancestor(path: Path) -> Path:
    path = path.resolve()
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def _make_forbid_reruns() -> Any:
    # Defined in a function so it travels by value: the scheduler need not have this package.
    def forbid_reruns(dask_scheduler: Any) -> int:
        """Run on the scheduler: a task whose worker dies is failed, not silently run again."""
        dask_scheduler.allowed_failures = 0
        return int(dask_scheduler.allowed_failures)

    return forbid_reruns


_forbid_reruns = _make_forbid_reruns()
