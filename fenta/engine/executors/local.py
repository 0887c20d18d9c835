"""The local executor: a job's attempt runs in this process, beside its SQLite file (the default).

Its nodes write their checkpoints, events, usage and cache entries straight into the store as they
run, so its `Outcome` carries no records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import traceback
from pathlib import Path
from typing import Any

from ...errors import FentaError, PathError
from ...policy import Policy
from ..execute import Execution
from ..keys import check_keys
from ..outputs import check_writable
from ..results import apply_options
from ..spec import from_document
from ..work import Outcome, Work, classify

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Runs each attempt's nodes in this process (see `fenta.engine.executors`)."""

    name = "local"
    slots: int | None = None

    async def run(self, work: Work) -> Outcome:
        """Run the job's nodes here and publish its files; never raises for the job's failure.

        Cancelled (the attempt stops it), the running nodes are cancelled (their finished predecessors
        stay checkpointed) and the outcome says `stopped`.
        """
        job, settings = work.job, work.settings
        try:
            policy = Policy.from_stored(
                job.options.get("policy")
            )  # the one it was queued under, on every attempt
            wf = work.workflow or from_document(
                job.document, file=job.workflow_file, vars=job.vars, policy=policy
            )
            apply_options(wf, job.options)
            check_keys(wf, settings)
            out_dir = Path(job.out_dir)
            check_writable(out_dir, "output folder")
        except FentaError as e:
            return Outcome.failed(classify(e))
        ex = Execution(
            wf,
            job_id=job.id,
            out_dir=out_dir,
            settings=settings,
            store=work.store,
            refresh=set(work.refresh),
            bus=work.bus,
            checkpoints=work.store.checkpoints(job.id),
            options=job.options,
            stopping=work.stopping,
        )
        ex.notify(
            "job.plan",
            attempt=job.attempt,
            nodes=list(wf.nodes),
            types={n: s.type for n, s in wf.nodes.items()},
        )
        try:
            if not await ex.execute():  # a stopping worker: the nodes running then finished, no more
                return Outcome(False, stopped=True, **_done(ex))
            artifacts = _publish(ex)
        except asyncio.CancelledError:  # the attempt stopped the work: its running nodes are cancelled
            return Outcome(False, stopped=True, **_done(ex))
        except Exception as e:
            failure = classify(e)
            if not isinstance(e, FentaError):  # a bug: keep the traceback in the job's log
                ex.log(traceback.format_exc())
                failure = dataclasses.replace(failure, error=f"{failure.error} (details in {ex.log_path})")
            return Outcome.failed(failure, **_done(ex))
        return Outcome(True, artifacts=artifacts, duration=ex.video(), **_done(ex))

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _done(ex: Execution) -> dict[str, Any]:
    """What every outcome of the execution carries: outputs, node states, the files it created."""
    return {"outputs": dict(ex.outputs), "nodes": dict(ex.status), "created": tuple(ex.published.created)}


def _publish(ex: Execution) -> dict[str, str]:
    try:
        return ex.publish()
    except OSError as e:
        # Every node finished and is checkpointed: another attempt only publishes again, which helps
        # once the disk has room or the folder is back; a name too long fails the same way every time.
        message = f"cannot write the finished files to {e.filename or ex.out_dir}: {e.strerror or e}"
        raise PathError(message, retryable=e.errno != errno.ENAMETOOLONG) from None
