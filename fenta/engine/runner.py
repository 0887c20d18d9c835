"""Running a workflow: plan, concurrent nodes with cache and checkpoints, artifacts.

Nodes start as soon as their inputs are ready. Every finished node is written
to SQLite (a checkpoint, with its `node.finished` event) before anything downstream
starts, so a killed run can be resumed from where it stopped, and to the cache index,
so an unchanged workflow re-runs nothing.

`run_async` is `fenta.submit` plus running the job in this process, through the same
attempts a worker makes (`fenta.engine.attempt`), retries included.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..bounds import finite
from ..config import Settings
from ..errors import CostLimitError, JobError, Problem, SpecError
from ..policy import Policy
from .events import Event
from .keys import check_keys
from .outputs import check_home, resolve_output
from .spec import Workflow
from .store import JobStore

__all__ = ["Event", "RunResult", "Plan", "plan", "prepare", "run", "run_async", "resume", "resume_async"]


@dataclass
class RunResult:
    """What a run (or one attempt of a job) produced.

    Attributes:
        status: "completed", "failed" or "cancelled".
        state: The job's state afterwards: completed, failed (a retry is due at `next_attempt_at`),
            dead (not retryable, or out of retries), cancelled, or queued (its worker stopped).
        retryable: Whether another attempt could succeed (a network error, a timeout, a crash).
        attempt: The attempt's number (1 for the first).
    """

    job_id: str
    status: str
    video: str | None
    artifacts: dict[str, str]
    cost: float
    seconds: float
    outputs: dict[str, dict[str, Any]]
    error: str | None = None
    retryable: bool | None = None
    nodes: dict[str, str] = field(default_factory=dict)
    state: str = ""
    attempt: int = 1
    next_attempt_at: str | None = None
    #: The CLI's exit status for a run that did not complete: 2 when the failure was bad input
    #: (a script with nothing to say, a file that is not media), else 1.
    exit_code: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "state": self.state or self.status,
            "attempt": self.attempt,
            "video": self.video,
            "artifacts": self.artifacts,
            "cost": self.cost,
            "seconds": round(self.seconds, 3),
            "nodes": self.nodes,
            "error": self.error,
            "retryable": self.retryable,
            "exit_code": 0 if self.status == "completed" else self.exit_code,
        }


@dataclass
class Plan:
    """Run order and estimated cost, computed without running anything."""

    order: list[list[str]]
    cost: dict[str, float]

    @property
    def total_cost(self) -> float:
        return round(sum(self.cost.values()), 4)


def plan(workflow: Workflow) -> Plan:
    """Order nodes and estimate spend per provider; makes no network call."""
    from .graph import layers

    cost: dict[str, float] = {}
    for n in workflow.nodes.values():
        for provider, amount in n.node_class().estimate_cost(n.parsed_params, workflow.template).items():
            cost[provider] = cost.get(provider, 0.0) + amount
    return Plan(order=layers(workflow), cost=cost)


#: Run options that set a param of every node of a type (so they join its cache key): option -> (type, param).
_NODE_OPTIONS = {"preview": ("Render", "preview"), "encoder": ("Render", "encoder")}


def _option_targets(workflow: Workflow, option: str) -> list[Any]:
    node_type, param = _NODE_OPTIONS[option]
    return [s for s in workflow.nodes.values() if s.type == node_type and s.parsed_params is not None and param in type(s.parsed_params).model_fields]


def check_options(workflow: Workflow, options: dict[str, Any]) -> None:
    """Raise `SpecError` (naming the option) when a run option's value does not fit the params it sets."""
    from pydantic import TypeAdapter, ValidationError

    for option, value in options.items():
        if option not in _NODE_OPTIONS or value in (None, False):
            continue
        param = _NODE_OPTIONS[option][1]
        for spec in _option_targets(workflow, option):
            try:
                TypeAdapter(type(spec.parsed_params).model_fields[param].annotation).validate_python(value)
            except ValidationError:
                choices = ""
                annotation = type(spec.parsed_params).model_fields[param].annotation
                if getattr(annotation, "__args__", None):
                    choices = f": choose {', '.join(map(str, annotation.__args__))}"
                problem = Problem(f"--{option} {value!r} is not a valid {param}{choices}", file=workflow.file, node=spec.id, field=param)
                raise SpecError([problem], file=workflow.file) from None


def apply_options(workflow: Workflow, options: dict[str, Any]) -> None:
    """Run options that change what nodes do (so they join cache keys) and must survive a resume:
    `preview` (a quick draft, cached apart from the full render) and `encoder` (`--encoder`)."""
    check_options(workflow, options)
    for option, value in options.items():
        if option in _NODE_OPTIONS and value not in (None, False):
            param = _NODE_OPTIONS[option][1]
            for spec in _option_targets(workflow, option):
                spec.parsed_params = spec.parsed_params.model_copy(update={param: value})


def prepare(*, out: str | Path = "renders", name: str | None = None, settings: Settings | None = None) -> tuple[Path, str | None]:
    """Check, before anything runs, that the output folder and `FENTA_HOME` can be written.

    Returns:
        (output folder, base name or None) as `run` will use them.

    Raises:
        PathError: the folder, the name or `FENTA_HOME` cannot be used (exit 2 in the CLI).
    """
    settings = settings or Settings.from_env()
    folder, base = resolve_output(out, name)
    check_home(settings.home)
    return folder, base


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

    Raises:
        MissingKeysError: API keys the workflow needs are not set (all listed; nothing was run).
        CostLimitError: the estimate exceeds `max_cost` (nothing was spent).
        InputError: `max_cost` is negative or not finite, or `priority` does not fit 64 bits.
        PathError: the output folder or name, or `FENTA_HOME`, cannot be used (nothing was run).
        JobError: `refresh` names a node the workflow does not have.
    """
    from .attempt import drive
    from .queue import enqueue, retry_policy

    settings = settings or Settings.from_env()
    check_keys(workflow, settings)  # every missing key in one message, before anything runs
    unknown = set(refresh or []) - set(workflow.nodes)
    if unknown:
        raise JobError(f"--refresh names unknown node(s): {', '.join(sorted(unknown))}")
    if max_cost is not None:
        max_cost = finite(max_cost, "max_cost", least=0)  # nan would let every estimate through
        estimate = plan(workflow).total_cost
        if estimate > max_cost:
            raise CostLimitError(f"estimated cost {estimate:.4f} exceeds --max-cost {max_cost:.4f}; nothing was run")
    out_dir, base = prepare(out=out, name=name, settings=settings)
    max_retries, base_seconds = retry_policy(workflow, {"max_retries": retries}, settings)
    store = JobStore(settings.db_path)
    try:
        job_id, lease = enqueue(
            store, workflow, settings=settings, out_dir=out_dir, name=base, preview=preview,
            overwrite=overwrite, priority=priority, encoder=encoder, hold=True,
            max_retries=max_retries, retry_base=base_seconds,
        )
        assert lease is not None
        return await drive(store, job_id, lease, settings=settings, workflow=workflow, refresh=set(refresh or []), on_event=on_event)
    finally:
        store.close()


def run(workflow: Workflow, **kwargs: Any) -> RunResult:
    """Blocking `run_async`."""
    return asyncio.run(run_async(workflow, **kwargs))


async def resume_async(job_id: str, *, reload: bool = False, settings: Settings | None = None, on_event: Callable[[Event], None] | None = None, retries: int | None = None) -> RunResult:
    """Continue a failed, dead, cancelled or killed job in this process, from its last finished node.

    The job keeps its output folder, file name and `--preview`. Finished nodes are reused
    when their cache key still matches and their files are still there.

    Args:
        reload: Read the workflow file again (after fixing it), with the job's `--var` values,
            instead of the copy stored with the job; finished nodes whose cache keys still
            match are kept, the others run again.
        retries: Retries here after a retryable failure, counted afresh (default: the job's own).

    Raises:
        JobError: the job is unknown, completed, running in a live process, or (with
            `reload`) was not run from a file.
        SpecError: (with `reload`) the workflow file is missing or still invalid.
        PathError: the output folder or `FENTA_HOME` cannot be written.
    """
    from .attempt import drive
    from .lifecycle import release, reserve_job
    from .outputs import check_writable
    from .spec import load

    settings = settings or Settings.from_env()
    check_home(settings.home)
    store = JobStore(settings.db_path)
    try:
        job = store.get_job(job_id)
        if job is None:
            raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
        job, lease = reserve_job(store, job["id"], settings)
        try:
            wf = None
            if reload:
                if not job["workflow_file"]:
                    raise JobError(f"job '{job['id']}' was not run from a workflow file, so there is nothing to reload")
                options = store.get_job(job["id"])["options"] or {}
                given = options["vars"] if "vars" in options else store.get_job(job["id"])["vars"]
                wf = load(job["workflow_file"], vars=given, policy=Policy.from_stored(options.get("policy")))
                store.replace_workflow(job["id"], name=wf.name, workflow_hash=wf.hash, document=wf.document, vars=wf.vars)
            check_writable(Path(job["out_dir"]), "output folder")
        except BaseException:
            release(store, lease)
            raise
        return await drive(store, job["id"], lease, settings=settings, workflow=wf, fresh_budget=True, max_retries=retries, on_event=on_event)
    finally:
        store.close()


def resume(job_id: str, **kwargs: Any) -> RunResult:
    """Blocking `resume_async`."""
    return asyncio.run(resume_async(job_id, **kwargs))
