"""Batches: one workflow, many rows of variables, run through the queue as fast as the machine allows.

    import fenta
    report = fenta.batch("video.yaml", "rows.csv", out="renders", junit="report.xml")
    print(report["totals"])            # rows, passed, failed, skipped, pending, cost, ...
    fenta.ops.batch.resume(report["batch_id"])   # a killed batch continues; passed rows stay done

Every row is checked before anything runs (`batch_rows.check_rows`); then one job per row is queued
with the batch's id, and a `Worker` restricted to that batch runs them (`batch_run.drive`),
`concurrency` at a time, on this machine or (`cluster`) on Dask workers. Retries follow the queue's
rules (`retry:`, `FENTA_MAX_RETRIES`). The report (`batch_report`) is read back from fenta.db, so
`status` and the files written at the end say the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine.events import Event
from ..engine.leases import check_lease_timing
from ..engine.spec import Workflow
from ..errors import BatchError, ManifestError, PathError, Problem, RowProblem
from ..policy import Policy
from . import batch_store
from .batch_report import build_report, check_report_path
from .batch_rows import Row, check_rows, read_manifest
from .batch_run import default_concurrency, drive

__all__ = ["batch", "resume", "status", "default_concurrency", "latest", "waiting"]


def _rows_of(rows: str | os.PathLike | Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """(raw rows, how to name the manifest in messages)."""
    if isinstance(rows, (str, os.PathLike)):
        return read_manifest(rows), str(rows)
    items = list(rows)
    bad: list[Problem] = [
        RowProblem(f"a row must be a mapping of variables, got {type(r).__name__}", file="<rows>", row=i)
        for i, r in enumerate(items, 1)
        if not isinstance(r, dict)
    ]
    if bad:
        raise ManifestError(bad, file="<rows>")
    if not items:
        raise ManifestError([RowProblem("no rows given", file="<rows>")], file="<rows>")
    return [{str(k): v for k, v in r.items() if v is not None} for r in items], "<rows>"


def _workflow_file(workflow: str | os.PathLike | Workflow) -> Path:
    if isinstance(workflow, Workflow):
        if not workflow.file or workflow.file.startswith("<") or not Path(workflow.file).is_file():
            raise BatchError(
                "a batch reloads its workflow for every row: give a workflow file (or one loaded "
                "with fenta.load)"
            )
        return Path(workflow.file)
    return Path(workflow)


def _out_folder(out: str | os.PathLike, settings: Settings) -> Path:
    from ..engine.results import prepare

    if Path(out).suffix.lower() == ".mp4":
        raise PathError(f"-o {out}: a batch writes one video per row, so -o must be a folder")
    folder, _ = prepare(out=out, settings=settings)
    return folder


def _enqueue(
    store: Any, batch_id: str, row: Row, *, settings: Settings, out_dir: Path, options: dict[str, Any]
) -> str:
    from ..engine.queue import enqueue, retry_policy

    assert row.workflow is not None
    retries = options.get("retries")
    max_retries, base = retry_policy(
        row.workflow, None if retries is None else {"max_retries": retries}, settings
    )
    # The job and the row's link to it commit together: a row whose job was written but not linked
    # would be queued again by `fenta batch resume`, and run twice.
    with store.write() as tx:
        job_id, _ = enqueue(
            store,
            row.workflow,
            settings=settings,
            out_dir=out_dir,
            name=row.name,
            priority=row.priority,
            preview=bool(options.get("preview")),
            overwrite=bool(options.get("overwrite")),
            max_retries=max_retries,
            retry_base=base,
            batch_id=batch_id,
            tx=tx,
        )
        batch_store.set_job(tx, batch_id, row.index, job_id)
    return job_id


def batch(
    workflow: str | os.PathLike | Workflow,
    rows: str | os.PathLike | Iterable[dict[str, Any]],
    *,
    out: str | os.PathLike = "renders",
    concurrency: int | None = None,
    fail_fast: bool = False,
    cluster: str | None = None,
    report: str | os.PathLike | None = None,
    junit: str | os.PathLike | None = None,
    overwrite: bool = False,
    preview: bool = False,
    retries: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    settings: Settings | None = None,
    trusted: bool = True,
) -> dict[str, Any]:
    """Run one workflow once per row and return the batch's report (what `--report` writes).

    Args:
        workflow: The workflow file (or a `Workflow` loaded from one).
        rows: A manifest file (CSV with a header of variable names, JSONL, or a JSON array), or the
            rows themselves as dicts. `name` sets a row's output file stem (default `row-0001`...),
            `priority` its order (higher first).
        out: The folder the videos go to (`NAME.mp4` per row).
        concurrency: Jobs at once (default `default_concurrency()`).
        fail_fast: Stop at the first failed row; rows not finished are cancelled (`skipped`).
        cluster: None (this process), `local` / `local:N` (a Dask LocalCluster) or `tcp://host:port`.
        report: Also write the report as JSON here. junit: And as JUnit XML here.
        overwrite: Replace files of the same name (default: a taken name becomes NAME-2).
        preview: Render quick 360p drafts.
        retries: Retries of a row after a retryable failure (default: the workflow's, else the setting).
        on_event: Called with every event of the batch's jobs (the CLI's live view).
        on_start: Called once the jobs are queued, with `{batch_id, rows: [{index, name, job_id, status}],
            concurrency, executor}` (executor: where the rows run, e.g. "local").
        on_warning: Called with one line per Dask worker that cannot run jobs and is left out.
        trusted: False when the workflow or the rows are someone else's (`--untrusted`): every row is
            loaded and run under the untrusted policy (docs/security.md), and `resume` keeps it. A
            `Workflow` loaded untrusted (`fenta.load(..., trusted=False)`) brings its own policy.

    Raises:
        ManifestError: a row is invalid (every problem, each naming its row and field); nothing ran.
        SpecError: the workflow is invalid. MissingKeysError: keys it needs are not set.
        PathError: `out`, `FENTA_HOME`, `report` or `junit` cannot be written (found before anything
            is queued). ClusterError: the cluster cannot be used.
    """
    from ..engine.keys import check_keys
    from ..engine.store import JobStore

    settings = settings or Settings.from_env()
    check_lease_timing(settings)  # before any row is queued
    policy = _policy(workflow, trusted, settings)
    wf_file = _workflow_file(workflow)
    raw, shown = _rows_of(rows)
    checked = check_rows(wf_file, raw, manifest=shown, policy=policy)
    out_dir = _out_folder(out, settings)
    _check_reports(report, junit)
    check_keys(checked[0].workflow, settings)  # type: ignore[arg-type]
    options: dict[str, Any] = {
        "concurrency": concurrency,
        "fail_fast": fail_fast,
        "cluster": cluster,
        "report": _abs(report),
        "junit": _abs(junit),
        "overwrite": overwrite,
        "preview": preview,
        "retries": retries,
    }
    if not policy.trusted:  # rows queued later (`resume`) are loaded under it too
        options["policy"] = policy.to_stored()
    batch_id = batch_store.new_batch_id()
    # A cluster that cannot be used fails here, before anything is queued.
    with _executor(cluster, settings, on_warning) as executor:
        store = JobStore(settings.db_path)
        try:
            batch_store.create_batch(
                store,
                batch_id=batch_id,
                workflow_file=os.path.abspath(wf_file),
                manifest=os.path.abspath(shown) if shown != "<rows>" else shown,
                out_dir=str(out_dir),
                options=options,
                rows=[
                    {"index": r.index, "name": r.name, "priority": r.priority, "vars": r.vars}
                    for r in checked
                ],
            )
            for row in checked:
                _enqueue(store, batch_id, row, settings=settings, out_dir=out_dir, options=options)
        finally:
            store.close()
        return drive(
            batch_id,
            executor,
            settings=settings,
            on_event=on_event,
            on_start=on_start,
            concurrency=concurrency,
        )


def _policy(workflow: str | os.PathLike | Workflow, trusted: bool, settings: Settings) -> Policy:
    """The batch's policy: an untrusted `Workflow`'s own, else untrusted when not `trusted`."""
    if isinstance(workflow, Workflow) and not workflow.policy.trusted:
        return workflow.policy
    return Policy.for_trust(trusted, settings)


def _executor(cluster: str | None, settings: Settings, on_warning: Callable[[str], None] | None) -> Any:
    from ..engine.executors import make_executor

    return make_executor(cluster, settings, **({"on_warning": on_warning} if on_warning else {}))


def _check_reports(report: str | os.PathLike | None, junit: str | os.PathLike | None) -> None:
    """The report files can be written: found before a row runs, not after the whole batch did."""
    for path, option in ((report, "--report"), (junit, "--junit")):
        if path is not None:
            check_report_path(path, option)


def _abs(path: str | os.PathLike | None) -> str | None:
    return os.path.abspath(path) if path is not None else None


def resume(
    batch_id: str,
    *,
    concurrency: int | None = None,
    cluster: str | None = None,
    report: str | os.PathLike | None = None,
    junit: str | os.PathLike | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Continue a batch that was killed, stopped or has failed rows: rows that passed are kept; every
    other row runs again from its job's last finished node. Options not given are the batch's own.

    Raises:
        BatchError: no such batch, or another live process runs it.
        PathError: the report files (these, or the batch's own) cannot be written; nothing ran.
    """
    from ..engine.store import JobStore

    settings = settings or Settings.from_env()
    check_lease_timing(settings)
    store = JobStore(settings.db_path)
    try:
        b = batch_store.get_batch(store, batch_id)
    finally:
        store.close()
    _check_reports(report or b["options"].get("report"), junit or b["options"].get("junit"))
    with _executor(
        cluster if cluster is not None else b["options"].get("cluster"), settings, on_warning
    ) as executor:
        store = JobStore(settings.db_path)
        try:
            b = batch_store.claim(store, b["id"])
            updates = {
                k: v
                for k, v in (
                    ("concurrency", concurrency),
                    ("cluster", cluster),
                    ("report", _abs(report)),
                    ("junit", _abs(junit)),
                )
                if v is not None
            }
            options = {**b["options"], **updates}
            store.set_batch_options(b["id"], options)
            _requeue(store, b, settings=settings, options=options)
        finally:
            store.close()
        return drive(
            b["id"],
            executor,
            settings=settings,
            on_event=on_event,
            on_start=on_start,
            concurrency=concurrency,
        )


def _requeue(store: Any, b: dict[str, Any], *, settings: Settings, options: dict[str, Any]) -> None:
    """Queue the rows never queued (the process died while queueing), and put back every job that
    neither passed nor is queued: a killed process's running jobs, dead, cancelled and waiting ones."""
    from ..engine.lifecycle import reap, revive
    from ..engine.spec import load

    for r in batch_store.batch_rows(store, b["id"]):
        job = r["job"]
        if job is None:
            policy = Policy.from_stored(b["options"].get("policy"))  # the batch's, as its first rows had
            wf = load(b["workflow_file"], vars=r["vars"], policy=policy)
            _enqueue(
                store,
                b["id"],
                Row(r["row_index"], r["vars"], r["name"], r["priority"], wf),
                settings=settings,
                out_dir=Path(b["out_dir"]),
                options=options,
            )
            continue
        status = job["status"]
        if status == "running":
            with store.write() as tx:
                reap(tx, settings, only=job["id"])  # its process died: the lease lapsed
            now = store.get_job(job["id"])
            status = now.status if now is not None else status
        if status in ("dead", "cancelled", "failed"):
            revive(store, job["id"])


def status(batch_id: str | None = None, *, settings: Settings | None = None) -> dict[str, Any]:
    """A batch's report as it stands now (the newest batch when `batch_id` is None).

    Raises:
        BatchError: no such batch (or no batch yet).
    """
    from ..engine.store import JobStore

    settings = settings or Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        return build_report(store, batch_id or latest(store))
    finally:
        store.close()


def latest(store: Any) -> str:
    """The newest batch's id.

    Raises:
        BatchError: there is no batch in this FENTA_HOME.
    """
    found = store.latest_batch_id()
    if found is None:
        raise BatchError(
            "no batch has run with this FENTA_HOME yet (start one with `fenta batch WORKFLOW ROWS`)"
        )
    return str(found)


def waiting(settings: Settings | None = None) -> dict[str, int]:
    """Batches whose rows wait in the queue with no live batch process running them: batch id -> rows
    queued or due for a retry. A plain `fenta worker` leaves these to `fenta batch resume`."""
    from ..engine.store import JobStore

    settings = settings or Settings.from_env()
    store = JobStore(settings.db_path)
    try:
        counts = store.waiting_by_batch()
        unheld = batch_store.unheld_batches(store)
    finally:
        store.close()
    return {b: n for b, n in counts.items() if b in unheld}
