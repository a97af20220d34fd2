"""``config.executor``: where tasks run. ``{"kind": "local"}`` (default) or ``{"kind": "dask", ...}``.

Only pydantic here, so the input schema can name the executors without importing Dask.
"""

# No ``from __future__ import annotations``: pydantic would compile every field's annotation from
# its string (~50 µs a field, ~3 ms of each CLI start over the input and output models).

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DaskExecutorConfig", "ExecutorConfig", "LocalExecutorConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalExecutorConfig(_Strict):
    """Every task runs in this process, on the dispatch's event loop (today's behaviour)."""

    kind: Literal["local"] = "local"


class DaskExecutorConfig(_Strict):
    """Tasks run on the workers of a Dask cluster; the DAG, budget, journal and traces stay here."""

    kind: Literal["dask"]
    address: str | None = Field(
        default=None, min_length=1,
        description="Scheduler address, e.g. tcp://host:8786; absent: start a LocalCluster of processes.")
    n_workers: int | None = Field(default=None, ge=1, le=1024,
                                  description="LocalCluster only: worker processes (default: CPU count, at most max_workers).")
    threads_per_worker: int | None = Field(default=None, ge=1, le=1024,
                                           description="LocalCluster only: tasks per worker at once (default: enough for max_workers).")
    connect_timeout_seconds: float = Field(default=30.0, gt=0, description="Wait this long for the scheduler and a worker.")
    stop_timeout_seconds: float = Field(
        default=15.0, gt=0, description="After a timeout or Ctrl-C, wait this long for the worker to confirm the kill.")


ExecutorConfig = Annotated[LocalExecutorConfig | DaskExecutorConfig, Field(discriminator="kind")]
