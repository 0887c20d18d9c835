"""Putting jobs on the queue: `submit` writes the job row and its `job.queued` event together.

A queued job waits for a worker (`fenta worker`, `fenta.engine.worker.Worker`) or for the
process that submitted it (`fenta run`, which holds the job's lease so no worker takes it).
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..bounds import whole
from ..config import Settings
from ..retry import job_retries
from .leases import Lease
from .lifecycle import Admit, queue_new
from .results import check_options, prepare
from .store import JobStore, Tx, new_job_id
from .workflow import Workflow

__all__ = ["submit", "enqueue", "retry_policy"]


def var_overrides(workflow: Workflow) -> dict[str, Any]:
    """The variables given on top of the file's `vars:` defaults (what `--var` said)."""
    declared = workflow.document.get("vars") or {}
    return {k: v for k, v in workflow.vars.items() if k not in declared or declared[k] != v}


def retry_policy(
    workflow: Workflow, retry: dict[str, Any] | None, settings: Settings
) -> tuple[int, float | None]:
    """(max retries, first wait in seconds or None for the setting) of a job of `workflow`:
    `fenta.retry.job_retries` (`retry`, e.g. `{"max_retries": N}` from `--retries N`, wins over the
    workflow's `retry:`, which wins over `FENTA_MAX_RETRIES`, default 3)."""
    budget = job_retries(settings, declared=workflow.retry, asked=retry)
    return budget.max_retries, budget.base_seconds


def enqueue(
    store: JobStore,
    workflow: Workflow,
    *,
    settings: Settings,
    out_dir: Path,
    name: str | None = None,
    preview: bool = False,
    overwrite: bool = False,
    priority: int = 0,
    max_retries: int | None = None,
    retry_base: float | None = None,
    hold: bool = False,
    schedule_id: str | None = None,
    batch_id: str | None = None,
    encoder: str | None = None,
    owner: str | None = None,
    tx: Tx | None = None,
    admit: Admit | None = None,
) -> tuple[str, Lease | None]:
    """Write a queued job and its `job.queued` event in one transaction.

    Args:
        out_dir: The checked output folder (`prepare`).
        hold: Lease the job to this process (`fenta run`): no worker takes it while this process lives.
        encoder: The H.264 encoder for every Render node (`--encoder`), kept with the job for resumes.
        owner: The kind of process that alone runs this job (e.g. "hosted"): plain workers leave it alone.
        tx: The caller's open transaction (`with store.write() as tx`) to write the job in, so it
            commits together with the caller's own writes (a batch row's link to its job); default: its own.
        admit: With `hold`: run inside the transaction with the new job (`lifecycle.Admit`), so what it
            reserves commits with the job and its lease; a `QuotaError` it raises is raised here, and
            (in a transaction of its own) no job was written.

    Returns:
        (job id, the lease when `hold`).

    Raises:
        QuotaError: `admit` refused the job.
    """
    priority = whole(priority, "priority")  # SQLite's INTEGER is 64 bits: InputError, before the job exists
    job_id = new_job_id()
    lease = Lease.new(job_id) if hold else None
    options: dict[str, Any] = {
        "name": name,
        "preview": bool(preview),
        "overwrite": bool(overwrite),
        "vars": var_overrides(workflow),
    }
    if not workflow.policy.trusted:  # for every attempt, resume and worker (none stored: the local user's)
        options["policy"] = workflow.policy.to_stored()
    if encoder is not None:
        options["encoder"] = encoder
        check_options(workflow, options)  # a bad encoder name fails here, before the job exists
    file = os.path.abspath(workflow.file) if workflow.file and not workflow.file.startswith("<") else None
    with nullcontext(tx) if tx is not None else store.write() as writing:
        job, _ = queue_new(
            writing,
            id=job_id,
            workflow_name=workflow.name,
            workflow_hash=workflow.hash,
            workflow_file=file,
            document=workflow.document,
            vars=workflow.vars,
            out_dir=str(out_dir),
            attempt=0,
            created_at=time.time(),
            options=options,
            priority=priority,
            max_retries=max_retries,
            retry_base=retry_base,
            schedule_id=schedule_id,
            batch_id=batch_id,
            owner=owner,
            **(lease.fields(settings) if lease else {}),
        )
        if admit is not None:
            admit(writing, job)
    return job_id, lease


def submit(
    workflow: Workflow,
    *,
    out: str | os.PathLike[str] = "renders",
    name: str | None = None,
    priority: int = 0,
    preview: bool = False,
    settings: Settings | None = None,
    schedule_id: str | None = None,
    batch_id: str | None = None,
    retry: dict[str, Any] | None = None,
    overwrite: bool = False,
    encoder: str | None = None,
) -> str:
    """Queue a loaded workflow for a worker; returns the job id.

    Args:
        workflow: From `fenta.load`.
        out: Output folder, or a file name ending in `.mp4` (as for `fenta.run`).
        name: Base name of the files (default: the workflow's name).
        priority: Higher runs first; equal priorities run oldest first.
        preview: Render a quick 360p draft (`NAME.preview.mp4`).
        schedule_id: The schedule that made this job, if any.
        batch_id: The batch this job belongs to, if any.
        retry: `{max_retries, base_seconds}`, over the workflow's `retry:` and the settings.
        overwrite: Replace files of the same name another job wrote.
        encoder: H.264 encoder for every Render node: auto, x264, nvenc, qsv, vaapi or videotoolbox
            (one that fails on the worker's machine falls back to x264 with a notice).

    Raises:
        PathError: the output folder or name, or `FENTA_HOME`, cannot be used.
        InputError: `priority` is not a whole number that fits 64 bits.
    """
    settings = settings or Settings.from_env()
    out_dir, base = prepare(out=out, name=name, settings=settings)
    max_retries, base_seconds = retry_policy(workflow, retry, settings)
    store = JobStore(settings.db_path)
    try:
        job_id, _ = enqueue(
            store,
            workflow,
            settings=settings,
            out_dir=out_dir,
            name=base,
            preview=preview,
            overwrite=overwrite,
            priority=priority,
            max_retries=max_retries,
            retry_base=base_seconds,
            schedule_id=schedule_id,
            batch_id=batch_id,
            encoder=encoder,
        )
        return job_id
    finally:
        store.close()
