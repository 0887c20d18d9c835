"""The top of the job core: run a workflow, or resume a job, in this process.

`run_async` is `fenta.submit` plus running the job here, through the same attempts a worker makes
(`fenta.engine.attempt`), retries included; `resume_async` continues a job from its last finished
node. What they share with the rest of the core (`RunResult`, `Plan`, `prepare`, run options) is
in `fenta.engine.results`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bounds import finite
from ..config import Settings
from ..errors import CostLimitError, JobError
from ..policy import Policy
from .attempt import drive
from .events import Event
from .keys import check_keys
from .leases import check_lease_timing
from .lifecycle import Admit, release, reserve_job
from .outputs import check_home, check_writable
from .queue import enqueue, retry_policy
from .results import RunResult, plan, prepare
from .spec import load
from .store import JobStore
from .workflow import Workflow

__all__ = ["run", "run_async", "resume", "resume_async"]


async def run_async(
    workflow: Workflow,
    *,
    out: str | Path = "renders",
    name: str | None = None,
    preview: bool = False,
    overwrite: bool = False,
    refresh: list[str] | None = None,
    settings: Settings | None = None,
    on_event: Callable[[Event], None] | None = None,
    max_cost: float | None = None,
    retries: int | None = None,
    priority: int = 0,
    encoder: str | None = None,
    admit: Admit | None = None,
) -> RunResult:
    """Run a loaded workflow in this process and return its result (never raises for a failed node).

    The job goes through the queue like any other (`fenta jobs` lists it, `fenta jobs cancel`
    stops it from another process) but no worker takes it while this process lives.

    Args:
        workflow: From `fenta.load`.
        out: Folder for the finished artifacts, or a file name ending in `.mp4`
            (`renders/clip.mp4`: folder `renders`, base name `clip`).
        name: Base name of the files (default: the workflow's name).
        preview: Render a quick 360p draft, published as `NAME.preview.mp4`.
        overwrite: Replace files of the same name that another job wrote (by default the
            run takes the next free name, `NAME-2.mp4`, and reports it).
        refresh: Node ids to run again even when cached.
        settings: Defaults to `Settings.from_env()`.
        on_event: Called with every `Event` of the job, from a task of its own (never from
            inside the runner): the log's events plus live-only `node.progress`, `message`,
            `job.plan` and `job.waiting` (id 0).
        max_cost: Refuse to start when the estimate is higher.
        retries: Retries after a retryable failure, waiting here in between (10-20 s, 20-40 s,
            40-80 s; `Settings.retry_base_seconds`). Default: the workflow's `retry: {max_retries}`,
            else `Settings.max_retries` (FENTA_MAX_RETRIES, default 3), as for every job
            (`fenta.retry.job_retries`); 0 turns them off.
        priority: Queue priority (matters only if a worker takes the job over).
        encoder: H.264 encoder for every Render node: auto, x264, nvenc, qsv, vaapi or videotoolbox
            (one that fails here falls back to x264 with a notice); kept with the job for resumes.
        admit: Run in the transaction that queues the job and leases it to this process
            (`lifecycle.Admit`: the quota reservation of `fenta.ops.runs`).

    Raises:
        MissingKeysError: API keys the workflow needs are not set (all listed; nothing was run).
        QuotaError: `admit` refused the job (no job was queued, nothing ran).
        CostLimitError: the estimate exceeds `max_cost` (nothing was spent).
        InputError: `max_cost` is negative or not finite, or `priority` does not fit 64 bits.
        PathError: the output folder or name, or `FENTA_HOME`, cannot be used (nothing was run).
        JobError: `refresh` names a node the workflow does not have, or FENTA_HEARTBEAT_SECONDS is not
            below FENTA_LEASE_SECONDS (`leases.check_lease_timing`).
    """
    settings = settings or Settings.from_env()
    check_lease_timing(settings)
    check_keys(workflow, settings)  # every missing key in one message, before anything runs
    unknown = set(refresh or []) - set(workflow.nodes)
    if unknown:
        raise JobError(f"--refresh names unknown node(s): {', '.join(sorted(unknown))}")
    if max_cost is not None:
        max_cost = finite(max_cost, "max_cost", least=0)  # nan would let every estimate through
        estimate = plan(workflow).total_cost
        if estimate > max_cost:
            raise CostLimitError(
                f"estimated cost {estimate:.4f} exceeds --max-cost {max_cost:.4f}; nothing was run"
            )
    out_dir, base = prepare(out=out, name=name, settings=settings)
    max_retries, base_seconds = retry_policy(workflow, {"max_retries": retries}, settings)
    store = JobStore(settings.db_path)
    try:
        job_id, lease = enqueue(
            store,
            workflow,
            settings=settings,
            out_dir=out_dir,
            name=base,
            preview=preview,
            overwrite=overwrite,
            priority=priority,
            encoder=encoder,
            hold=True,
            max_retries=max_retries,
            retry_base=base_seconds,
            admit=admit,
        )
        assert lease is not None
        return await drive(
            store,
            job_id,
            lease,
            settings=settings,
            workflow=workflow,
            refresh=set(refresh or []),
            on_event=on_event,
        )
    finally:
        store.close()


def run(workflow: Workflow, **kwargs: Any) -> RunResult:
    """Blocking `run_async`."""
    return asyncio.run(run_async(workflow, **kwargs))


async def resume_async(
    job_id: str,
    *,
    reload: bool = False,
    settings: Settings | None = None,
    on_event: Callable[[Event], None] | None = None,
    retries: int | None = None,
    admit: Admit | None = None,
) -> RunResult:
    """Continue a failed, dead, cancelled or killed job in this process, from its last finished node.

    The job keeps its output folder, file name and `--preview`. Finished nodes are reused
    when their cache key still matches and their files are still there.

    Args:
        reload: Read the workflow file again (after fixing it), with the job's `--var` values,
            instead of the copy stored with the job; finished nodes whose cache keys still
            match are kept, the others run again.
        retries: Retries here after a retryable failure, counted afresh (default: the job's own).
        admit: Run in the transaction that leases the job to this process (`lifecycle.Admit`).

    Raises:
        QuotaError: `admit` refused the job (it keeps its state; nothing ran).
        JobError: the job is unknown, completed, running in a live process, or (with
            `reload`) was not run from a file.
        SpecError: (with `reload`) the workflow file is missing or still invalid.
        PathError: the output folder or `FENTA_HOME` cannot be written.
    """
    settings = settings or Settings.from_env()
    check_lease_timing(settings)
    check_home(settings.home)
    store = JobStore(settings.db_path)
    try:
        job = store.get_job(job_id)
        if job is None:
            raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
        job, lease = reserve_job(store, job.id, settings, admit=admit)
        try:
            wf = None
            if reload:
                if not job.workflow_file:
                    raise JobError(
                        f"job '{job.id}' was not run from a workflow file, so there is nothing to reload"
                    )
                given = job.options["vars"] if "vars" in job.options else job.vars
                wf = load(job.workflow_file, vars=given, policy=Policy.from_stored(job.options.get("policy")))
                store.replace_workflow(
                    job.id, name=wf.name, workflow_hash=wf.hash, document=wf.document, vars=wf.vars
                )
            check_writable(Path(job.out_dir), "output folder")
        except BaseException:
            release(store, lease)
            raise
        return await drive(
            store,
            job.id,
            lease,
            settings=settings,
            workflow=wf,
            fresh_budget=True,
            max_retries=retries,
            on_event=on_event,
        )
    finally:
        store.close()


def resume(job_id: str, **kwargs: Any) -> RunResult:
    """Blocking `resume_async`."""
    return asyncio.run(resume_async(job_id, **kwargs))
