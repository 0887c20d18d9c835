"""Where a reserved job's attempt runs: in this process, or on a Dask cluster.

    with make_executor(None, settings) as executor:            # this process (the default)
        Worker(settings, executor=executor, batch_id=batch).run()
    with make_executor("tcp://10.0.0.5:8786", settings) as executor:   # Dask workers
        ...

An executor only runs an attempt's work (`fenta.engine.work.Work`) and answers with an `Outcome`;
the attempt (`fenta.engine.attempt.run_attempt`) starts it, keeps the lease, stops it and ends it in
the job's lifecycle (Hamilton's `TaskExecutor` split: the executor decides where a task runs, not
what becomes of it). `LocalExecutor` and `DaskExecutor` differ only in where the work runs.
Whatever the executor, only this process writes the job store.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ...config import Settings
from ...errors import ClusterError
from ..work import Outcome, Work
from .local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "make_executor", "parse_cluster"]

#: The most workers `--cluster local:N` starts on this machine (as `fenta batch --concurrency`).
MAX_LOCAL_WORKERS = 256


@runtime_checkable
class Executor(Protocol):
    """Runs one attempt's work, wherever it runs it.

    Attributes:
        name: What it is, for a log line: "local", "dask tcp://10.0.0.5:8786 (3 workers)".
        slots: How many jobs it runs at once at most (None: as many as the worker hands it).
    """

    name: str
    slots: int | None

    async def run(self, work: Work) -> Outcome:
        """Run the work and say what came of it; never raise for the job's failure. Cancelled (the
        attempt stops the work), stop the work where it runs and answer `Outcome(stopped=True)`
        with what it recorded until then."""
        ...

    def close(self) -> None:
        """Let go of what it holds (a Dask client, a LocalCluster)."""
        ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> None: ...


def parse_cluster(cluster: str | None, settings: Settings) -> tuple[str, Any]:
    """("local", None) | ("dask-local", N or None) | ("dask", "tcp://host:port") for a `--cluster` value.

    None falls back to `settings.dask_address` (FENTA_DASK_ADDRESS, then DASK_SCHEDULER_ADDRESS).

    Raises:
        ClusterError: the value is neither `local[:N]` nor a scheduler address.
    """
    value = (cluster if cluster is not None else settings.dask_address or "").strip()
    if not value:
        return "local", None
    if value == "local" or value.startswith("local:"):
        n = value.partition(":")[2]
        if n and not (n.isdigit() and 0 < int(n) <= MAX_LOCAL_WORKERS):
            raise ClusterError(
                f"--cluster {value}: the number of local Dask workers must be a whole number "
                f"from 1 to {MAX_LOCAL_WORKERS} (local:2)"
            )
        return "dask-local", int(n) if n else None
    if "://" in value or ":" in value:
        return "dask", value if "://" in value else f"tcp://{value}"
    raise ClusterError(
        f"--cluster {value}: expected local, local:N or a Dask scheduler address like tcp://host:8786"
    )


def make_executor(cluster: str | None = None, settings: Settings | None = None, **options: Any) -> Executor:
    """The executor for a `--cluster` value (see `parse_cluster`); a context manager.

    Args:
        cluster: None (this process, unless FENTA_DASK_ADDRESS / DASK_SCHEDULER_ADDRESS is set),
            "local" / "local:N" (a Dask LocalCluster of N single-thread worker processes) or a
            scheduler address ("tcp://host:8786").
        options: Passed to the Dask executor (`connect_timeout`, `on_warning`).

    Raises:
        ClusterError: dask is not installed, the scheduler cannot be reached, or no worker can run jobs.
    """
    settings = settings or Settings.from_env()
    kind, where = parse_cluster(cluster, settings)
    if kind == "local":
        return LocalExecutor()
    try:
        from .dask import DaskExecutor  # lazy: dask is an optional extra, imported only for a cluster
    except ImportError as e:
        if getattr(e, "name", "") and str(e.name).split(".")[0] in ("dask", "distributed"):
            raise ClusterError("--cluster needs Dask: pip install 'fenta[dask]'") from None
        raise
    if kind == "dask-local":
        return DaskExecutor.local(where, settings, **options)
    return DaskExecutor.connect(where, settings, **options)
