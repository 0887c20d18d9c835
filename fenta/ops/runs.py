"""`fenta.run` and `fenta.resume` (and `fenta run` / `fenta resume`): a job run here, with what runs
around it.

The engine runs a job (`fenta.engine.runner`); it never reads its own event log. A job run here is held
to the same rules as one a worker runs: its quota reservation is made in the transaction that queues
the job and leases it to this process (`quotas.admit`), so two processes started together never both
take the last unit of a limit; a refusal raises `QuotaError` before anything runs (no job is queued).
Afterwards its usage is recorded, quota warnings are raised and its webhooks are sent (waiting at most
`webhook_wait` seconds; what is left is sent by the next fenta process).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..engine import runner
from ..engine.results import RunResult
from ..engine.spec import Workflow
from . import quotas, readers

__all__ = ["run", "run_async", "resume", "resume_async"]


async def run_async(
    workflow: Workflow,
    *,
    settings: Settings | None = None,
    webhook_wait: float = 10.0,
    ended: Callable[[RunResult], None] | None = None,
    **kwargs: Any,
) -> RunResult:
    """`fenta.engine.runner.run_async` (same arguments) with the quota reservation, then the readers.

    Args:
        webhook_wait: Seconds to wait for this job's webhooks after it ends (0: leave them pending).
        ended: Called (in a thread) once the job has ended, before the readers run: `fenta run --sync`
            pushes the job's last state there, so its webhooks carry the hosted video's URL.

    Raises:
        QuotaError: a quota limit would be exceeded (no job was queued, nothing ran).
        Everything `fenta.engine.runner.run_async` raises.
    """
    settings = settings or Settings.from_env()
    result = await runner.run_async(workflow, settings=settings, admit=quotas.admit(settings), **kwargs)
    if ended is not None:
        await asyncio.to_thread(ended, result)
    await asyncio.to_thread(readers.after_job, settings, result.job_id, wait=webhook_wait)
    return result


def run(workflow: Workflow, **kwargs: Any) -> RunResult:
    """Blocking `run_async`: load a workflow with `fenta.load`, then `fenta.run(wf, out="renders/")`."""
    return asyncio.run(run_async(workflow, **kwargs))


async def resume_async(
    job_id: str, *, settings: Settings | None = None, webhook_wait: float = 10.0, **kwargs: Any
) -> RunResult:
    """`fenta.engine.runner.resume_async` (same arguments) with the quota reservation made where the
    job is leased here, then the readers (as `run_async`).

    Raises:
        QuotaError: a quota limit would be exceeded (the job keeps its state; nothing ran).
    """
    settings = settings or Settings.from_env()
    result = await runner.resume_async(job_id, settings=settings, admit=quotas.admit(settings), **kwargs)
    await asyncio.to_thread(readers.after_job, settings, result.job_id, wait=webhook_wait)
    return result


def resume(job_id: str, **kwargs: Any) -> RunResult:
    """Blocking `resume_async`."""
    return asyncio.run(resume_async(job_id, **kwargs))
