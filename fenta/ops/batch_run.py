"""Running a queued batch to its end: a `Worker` restricted to the batch's jobs (`fenta.ops.serving`:
quotas, readers and webhooks as for any worker), `--fail-fast`, then the batch settled and its report
files written, with Ctrl-C and SIGTERM held off until that is done.

`fenta.ops.batch` queues the rows (`batch`, `resume`) and calls `drive`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..engine.events import Event
from . import batch_store
from .batch_report import build_report, write_json, write_junit

__all__ = ["default_concurrency", "drive"]

log = logging.getLogger("fenta")


def default_concurrency(cores: int | None = None) -> int:
    """Jobs run at once by default: one per core, plus one whose voice, probing and provider calls
    overlap the others' encodes (at least 2)."""
    cores = cores or os.cpu_count() or 1
    return max(2, cores + 1)


def drive(
    batch_id: str,
    executor: Any,
    *,
    settings: Settings,
    on_event: Callable[[Event], None] | None,
    on_start: Callable[[dict[str, Any]], None] | None,
    concurrency: int | None,
) -> dict[str, Any]:
    """Run the batch's queued jobs on `executor` to the end, then settle the batch and write its report
    files."""
    from ..engine.lifecycle import request_cancel
    from ..engine.store import JobStore
    from .serving import Worker

    store = JobStore(settings.db_path)
    try:
        b = batch_store.get_batch(store, batch_id)
        options = b["options"]
        rows = batch_store.batch_rows(store, batch_id)
        jobs = {r["job_id"] for r in rows}
        fail_fast = bool(options.get("fail_fast"))
        failed: list[str] = []
        n = (
            concurrency
            or options.get("concurrency")
            or getattr(executor, "slots", None)
            or default_concurrency()
        )
        worker: Worker

        def handle(ev: Event) -> None:
            if ev.job_id in jobs and ev.type == "job.dead":
                failed.append(ev.job_id)  # type: ignore[arg-type]  # one of jobs: not None
                if fail_fast:
                    worker.stop(now=True)
            if on_event is not None:
                on_event(ev)

        # fenta.ops.serving: quota reservations at each row's claim, the readers beside it, the rows'
        # webhooks at the end (waiting at most 5 s).
        worker = Worker(
            settings,
            concurrency=n,
            until_empty=True,
            on_event=handle,
            executor=executor,
            batch_id=batch_id,
            webhook_wait=5.0,
            log=log.warning,
        )
        if on_start is not None:
            rows_info = [
                {
                    "index": r["row_index"],
                    "name": r["name"],
                    "job_id": r["job_id"],
                    "status": (r["job"] or {}).get("status"),
                }
                for r in rows
            ]
            on_start(
                {
                    "batch_id": batch_id,
                    "concurrency": n,
                    "executor": getattr(executor, "name", "local"),
                    "rows": rows_info,
                }
            )
        try:
            worker.run()
        finally:
            # The rows have ended: a Ctrl-C or SIGTERM now would only leave the batch unsettled and its
            # report files unwritten, so the rest finishes first (it takes seconds at most).
            with _signals_deferred():
                if fail_fast and failed:
                    for r in batch_store.batch_rows(store, batch_id):
                        if r["job"] is not None and r["job"]["status"] in ("queued", "failed"):
                            request_cancel(store, r["job_id"])
                left = [
                    r
                    for r in batch_store.batch_rows(store, batch_id)
                    if r["job"] is None or r["job"]["status"] in ("queued", "running", "failed")
                ]
                batch_store.finish(store, batch_id, "stopped" if left else "finished")
                report = build_report(store, batch_id)
                if options.get("report"):
                    write_json(report, options["report"])
                if options.get("junit"):
                    write_junit(report, options["junit"])
    finally:
        store.close()
    return report


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (in the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {sig: signal.signal(sig, lambda n, _f: got.append(n)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if got:
            log.info("the batch was settled before stopping (signal %s)", got[0])
