"""`fenta.run` and `fenta.resume` for Python scripts: a job run here, with what runs around it.

The engine runs a job (`fenta.engine.runner`); it never reads its own event log. A job run from a
script is held to the same rules as `fenta run`: quota limits are checked before anything runs,
and afterwards its usage is recorded, quota warnings are raised and its webhooks are sent
(waiting at most `webhook_wait` seconds; what is left is sent by the next fenta process).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..config import Settings
from ..engine import runner
from ..engine.results import RunResult
from ..engine.spec import Workflow
from . import quotas, readers

__all__ = ["run", "run_async", "resume", "resume_async"]


async def run_async(workflow: Workflow, *, settings: Settings | None = None, webhook_wait: float = 10.0, **kwargs: Any) -> RunResult:
    """`fenta.engine.runner.run_async` (same arguments) between the quota check and the readers.

    Args:
        webhook_wait: Seconds to wait for this job's webhooks after it ends (0: leave them pending).

    Raises:
        QuotaError: a quota limit would be exceeded (nothing ran).
        Everything `fenta.engine.runner.run_async` raises.
    """
    settings = settings or Settings.from_env()
    await asyncio.to_thread(quotas.check_workflow, settings, workflow)
    result = await runner.run_async(workflow, settings=settings, **kwargs)
    await asyncio.to_thread(readers.after_job, settings, result.job_id, wait=webhook_wait)
    return result


def run(workflow: Workflow, **kwargs: Any) -> RunResult:
    """Blocking `run_async`: load a workflow with `fenta.load`, then `fenta.run(wf, out="renders/")`."""
    return asyncio.run(run_async(workflow, **kwargs))


async def resume_async(job_id: str, *, settings: Settings | None = None, webhook_wait: float = 10.0, **kwargs: Any) -> RunResult:
    """`fenta.engine.runner.resume_async` (same arguments), then the readers (as `run_async`)."""
    settings = settings or Settings.from_env()
    result = await runner.resume_async(job_id, settings=settings, **kwargs)
    await asyncio.to_thread(readers.after_job, settings, result.job_id, wait=webhook_wait)
    return result


def resume(job_id: str, **kwargs: Any) -> RunResult:
    """Blocking `resume_async`."""
    return asyncio.run(resume_async(job_id, **kwargs))
