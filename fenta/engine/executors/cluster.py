"""Getting a Dask client for the `DaskExecutor`: the optional import, a LocalCluster started here, or a
scheduler already running (`dask scheduler` elsewhere), waited on until a worker is connected."""

from __future__ import annotations

import asyncio
import logging
import os
from types import ModuleType
from typing import Any

from ...errors import ClusterError
from .. import remote

__all__ = ["load_distributed", "start_local_cluster", "connect_to_scheduler"]


def load_distributed() -> ModuleType:
    """`distributed`, or a `ClusterError` saying how to install it."""
    try:
        import dask  # noqa: F401  # lazy: dask is an optional extra (`pip install 'fenta[dask]'`)
        import distributed  # lazy: as dask
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'fenta[dask]'") from None
    return distributed


def start_local_cluster(workers: int | None) -> tuple[Any, Any]:
    """(client, cluster): a LocalCluster of `workers` single-thread worker processes (default: one per
    core) with one render slot each."""
    distributed = load_distributed()
    import dask  # lazy: optional, present once `load_distributed()` succeeded

    n = workers or max(1, os.cpu_count() or 1)
    # A worker that dies fails the attempt at once (fenta retries it), instead of the scheduler
    # quietly running the same task again.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        try:
            cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                resources={"render": 1},
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
        except Exception as e:
            raise ClusterError(f"cannot start a local Dask cluster: {type(e).__name__}: {e}") from None
    try:
        client = distributed.Client(cluster)
        client.run(remote.quiet_notices)  # their stderr is this terminal, which has the notices already
    except BaseException:
        cluster.close()
        raise
    return client, cluster


def connect_to_scheduler(address: str, *, connect_timeout: float, wait_for_workers: float) -> Any:
    """A client of the scheduler at `address`, once a worker is connected (waiting up to
    `wait_for_workers` s)."""
    distributed = load_distributed()
    try:
        client = distributed.Client(address, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address}: "
            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    try:
        if not client.scheduler_info(n_workers=-1)["workers"]:
            try:
                client.wait_for_workers(1, timeout=wait_for_workers)
            except (TimeoutError, asyncio.TimeoutError):
                raise ClusterError(
                    f"no Dask worker is connected to {address} (start one: dask worker {address} "
                    "--nthreads 1 --resources render=1)"
                ) from None
    except BaseException:
        client.close()
        raise
    return client
