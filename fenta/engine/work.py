"""The attempt <-> executor protocol's values: the work an executor is handed, and what came of it.

    attempt.run_attempt --Work--> executor.run(work)     (this process, or a Dask worker)
                        <--Outcome--

An executor only runs the work, wherever it runs it, and answers with an `Outcome`; the attempt
(`fenta.engine.attempt`) alone starts it, keeps the lease and ends it in the job's lifecycle.
`classify` is the one reading of a failure (its message, whether another attempt may succeed, how
long the service asked to wait, the CLI's exit status), on this machine and on a Dask worker alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import FentaError
from .events import Bus
from .records import Job
from .store import JobStore, RemoteRecords
from .workflow import Workflow

__all__ = ["Work", "Outcome", "Failure", "classify"]


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Work:
    """One attempt's work, as the attempt hands it to an executor.

    Attributes:
        store: The job store (only this process writes it).
        job: The job as the attempt started it (running, its attempt number counted).
        bus: Where this process's reader gets the work's events.
        workflow: The workflow loaded already (`fenta run`); None: the copy stored with the job.
        refresh: Node ids to run again even when cached.
        stopping: True once a stopping worker asks that no further node start (running ones finish).
    """

    store: JobStore
    job: Job
    settings: Settings
    bus: Bus
    workflow: Workflow | None = None
    refresh: frozenset[str] = frozenset()
    stopping: Callable[[], bool] = _never


@dataclass(frozen=True)
class Failure:
    """What a failure means for a job (see `classify`)."""

    error: str
    retryable: bool
    retry_after: float | None = None
    exit_code: int = 1


def classify(exc: BaseException, *, where: str = "") -> Failure:
    """The one reading of an exception that ended a job's work.

    A `FentaError` says itself what it means (its message, `retryable`, `retry_after`, exit status:
    2 for bad input). Anything else is a bug or an unexpected library error: retryable, exit status 1,
    named "internal error" (`where`: " on the Dask worker").
    """
    if isinstance(exc, FentaError):
        return Failure(str(exc), exc.retryable, exc.retry_after, exc.exit_code)
    return Failure(f"internal error{where}: {type(exc).__name__}: {exc}", True)


@dataclass(frozen=True)
class Outcome:
    """What an attempt's work came to: an executor's answer to `run(work)`.

    Attributes:
        ok: Every node finished and the artifacts are in the output folder.
        error, retryable, retry_after, exit_code: Why not (see `Failure`).
        stopped: The attempt stopped the work (it cancelled the executor's task, or the worker is
            stopping) before it ended; what it recorded until then is in `records`.
        give_back: The work never ran (a Dask worker that cannot run jobs): the job goes back to the queue.
        artifacts: kind -> path of the files published in the output folder.
        created: The files this attempt created there (removed again if the job is cancelled).
        duration: The rendered video's length in seconds, if a node made one.
        outputs: Each finished node's outputs; nodes: each node's status.
        records: What the work recorded in a store other than this one (a Dask worker's), for this one;
            None when it recorded here as it ran.
        log: Lines for the job's log written elsewhere.
    """

    ok: bool
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    exit_code: int = 1
    stopped: bool = False
    give_back: bool = False
    artifacts: dict[str, str] = field(default_factory=dict)
    created: tuple[Path, ...] = ()
    duration: float | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    records: RemoteRecords | None = None
    log: str = ""

    @property
    def video(self) -> str | None:
        return self.artifacts.get("video")

    @classmethod
    def failed(cls, failure: Failure, **more: Any) -> Outcome:
        return cls(
            False,
            failure.error,
            failure.retryable,
            failure.retry_after,
            failure.exit_code,
            **more,
        )
