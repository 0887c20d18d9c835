"""Running a workflow: plan, job row, concurrent nodes with cache and checkpoints, artifacts.

Nodes start as soon as their inputs are ready. Every finished node is written
to SQLite (a checkpoint) before anything downstream starts, so a killed run
can be resumed from where it stopped, and to the cache index, so an unchanged
workflow re-runs nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from ..config import Settings
from ..errors import CostLimitError, FentaError, JobError, NodeError, PathError
from ..nodes.base import NodeContext
from .cache import cache_key, files_exist
from .events import Event
from .graph import build_graph
from .keys import check_keys
from .outputs import check_home, check_writable, free_stem, resolve_output, slug
from .spec import NodeSpec, Workflow, from_document, load
from .store import JobStore, new_job_id
from .usage import UsageLog

__all__ = ["Event", "RunResult", "Plan", "plan", "prepare", "run", "run_async", "resume", "resume_async"]


@dataclass
class RunResult:
    """What a finished run produced."""

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "video": self.video,
            "artifacts": self.artifacts,
            "cost": self.cost,
            "seconds": round(self.seconds, 3),
            "nodes": self.nodes,
            "error": self.error,
            "retryable": self.retryable,
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


_LIMITS = {"cpu": max(1, (os.cpu_count() or 2)), "render": max(1, (os.cpu_count() or 2) // 2), "io": 8}


def _var_overrides(workflow: Workflow) -> dict[str, Any]:
    """The variables given on top of the file's `vars:` defaults (what `--var` said)."""
    declared = workflow.document.get("vars") or {}
    return {k: v for k, v in workflow.vars.items() if k not in declared or declared[k] != v}


def _apply_options(workflow: Workflow, options: dict[str, Any]) -> None:
    """Run options that change what nodes do (so they join cache keys) and must survive a resume."""
    if options.get("preview"):
        # Read by Render nodes through their params, so a draft is cached apart from the full render.
        for spec in workflow.nodes.values():
            if spec.type == "Render" and spec.parsed_params is not None and "preview" in type(spec.parsed_params).model_fields:
                spec.parsed_params = spec.parsed_params.model_copy(update={"preview": True})


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


class _Run:
    def __init__(self, workflow: Workflow, *, job_id: str, out_dir: Path, settings: Settings, store: JobStore, refresh: set[str], on_event: Callable[[Event], None] | None, checkpoints: dict[str, dict], options: dict[str, Any] | None = None):
        self.wf = workflow
        self.job_id = job_id
        self.out_dir = out_dir
        self.options = options or {}
        self.settings = settings
        self.store = store
        self.refresh = refresh
        self.on_event = on_event
        self.checkpoints = checkpoints
        self.outputs: dict[str, dict[str, Any]] = {}
        self.status: dict[str, str] = {}
        self.sems: dict[str, asyncio.Semaphore] = {}
        self.services: dict[str, Any] = {}
        self.log_path = settings.home / "logs" / f"{job_id}.log"

    def emit(self, kind: str, node: str | None = None, **data: Any) -> None:
        if self.on_event:
            self.on_event(Event(0, kind, self.job_id, {"jobId": self.job_id, **({"node": node} if node else {}), **data}))

    def log(self, text: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(self.settings.redact(text).rstrip() + "\n")

    def sem(self, resource: str) -> asyncio.Semaphore:
        if resource not in self.sems:
            self.sems[resource] = asyncio.Semaphore(_LIMITS.get(resource, 4))
        return self.sems[resource]

    def gather_inputs(self, spec: NodeSpec) -> dict[str, Any]:
        cls = spec.node_class
        ports = cls.input_ports()
        values: dict[str, Any] = {}
        for port, refs in spec.inputs.items():
            got = [self.outputs[src][src_port] for src, src_port in refs]
            is_list = ports[port].endswith("[]") or ports[port] in ("clips", "words", "scenes", "artifacts")
            if is_list:
                merged: list = []
                for g in got:
                    merged += g if isinstance(g, list) else [g]
                values[port] = merged
            else:
                values[port] = got[0]
        return values

    async def run_node(self, nid: str) -> None:
        spec = self.wf.nodes[nid]
        cls = spec.node_class
        node = cls()
        inputs_raw = self.gather_inputs(spec)
        params = spec.parsed_params
        assert params is not None
        try:
            inputs = cls.Inputs.model_validate(inputs_raw)
        except ValidationError as e:
            err = NodeError(f"inputs do not fit {cls.type}: {e.errors()[0]['msg']}", node=nid, file=self.wf.file)
            self.fail(nid, None, err, 0.0)
            raise err from None
        params_json = params.model_dump(mode="json")
        extra = {"fingerprint": node.fingerprint(params, inputs, workflow_file=self.wf.file)}
        if cls.uses_template:
            extra["template"] = self.wf.template
        key = cache_key(cls.type, cls.version, params_json, _dump(inputs_raw), extra)

        ck = self.checkpoints.get(nid)
        cache_dir = self.settings.cache_dir
        if ck and ck["key"] == key and files_exist(ck["output"], cache_dir) and nid not in self.refresh:
            self.finish(nid, ck["output"], "cached", key, 0.0, resumed=True)
            return
        if cls.cacheable and nid not in self.refresh:
            hit = self.store.cache_get(key)
            if hit is not None and files_exist(hit, cache_dir):
                self.finish(nid, hit, "cached", key, 0.0)
                return

        async with self.sem(getattr(cls, "resource", "io")):
            self.store.node_started(self.job_id, nid, cls.type, key)
            self.store.update_job(self.job_id, current_node=nid)
            self.emit("node.started", nid, type=cls.type)
            ctx = NodeContext(
                node_id=nid,
                job_id=self.job_id,
                settings=self.settings,
                template=self.wf.template,
                out_dir=self.out_dir,
                workflow_file=self.wf.file,
                workflow_name=self.wf.name,
                on_progress=lambda f, _n=nid: self.emit("node.progress", _n, fraction=f),
                on_message=lambda level, msg, _n=nid: (self.log(f"[{level}] {_n}: {msg}"), self.emit("message", _n, level=level, text=msg)),
                services=self.services,
                store=self.store,
                usage=UsageLog(self.store, self.job_id, nid),
            )
            t0 = time.perf_counter()
            try:
                result = await node.run(ctx, params, inputs)
            except FentaError as e:
                if getattr(e, "stderr_tail", ""):
                    self.log(f"[ffmpeg] {nid}:\n{e.stderr_tail}")
                if e.node is None:
                    e.node = nid
                if e.file is None and not isinstance(e, (NodeError,)):
                    e.file = self.wf.file
                self.fail(nid, key, e, time.perf_counter() - t0)
                raise
            except asyncio.CancelledError:
                self.store.node_finished(self.job_id, nid, cls.type, status="failed", cache_key=key, error="cancelled", seconds=time.perf_counter() - t0)
                raise
            except Exception as e:  # a bug or an unexpected library error: keep the traceback in the log
                self.log(traceback.format_exc())
                err = NodeError(f"unexpected error: {type(e).__name__}: {e} (details in {self.log_path})", node=nid)
                self.fail(nid, key, err, time.perf_counter() - t0)
                raise err from e
            finally:
                ctx.cleanup()
            seconds = time.perf_counter() - t0
        if not isinstance(result, cls.Outputs):
            err = NodeError(f"{cls.type} returned {type(result).__name__}, expected its Outputs", node=nid)
            self.fail(nid, key, err, seconds)
            raise err
        output = result.model_dump(mode="json")
        if cls.cacheable:
            self.store.cache_put(key, cls.type, output)
        self.finish(nid, output, "completed", key, seconds)

    def fail(self, nid: str, key: str | None, err: FentaError, seconds: float) -> None:
        spec = self.wf.nodes[nid]
        msg = self.settings.redact(str(err))
        self.store.node_finished(self.job_id, nid, spec.type, status="failed", cache_key=key, error=msg, seconds=seconds)
        self.log(f"[error] {nid}: {msg}")
        self.status[nid] = "failed"
        self.emit("node.failed", nid, error=msg, seconds=seconds)

    def finish(self, nid: str, output: dict, status: str, key: str, seconds: float, resumed: bool = False) -> None:
        spec = self.wf.nodes[nid]
        self.outputs[nid] = output
        self.status[nid] = status
        self.store.node_finished(self.job_id, nid, spec.type, status=status, cache_key=key, output=output, seconds=seconds)
        done = sum(1 for s in self.status.values() if s in ("completed", "cached"))
        self.store.update_job(self.job_id, progress=round(done / max(1, len(self.wf.nodes)), 3))
        self.emit("node.cached" if status == "cached" else "node.finished", nid, seconds=seconds, resumed=resumed)

    async def execute(self) -> None:
        g = build_graph(self.wf)
        tasks: dict[str, asyncio.Task] = {}

        async def after_deps(nid: str) -> None:
            deps = [tasks[p] for p in g.predecessors(nid)]
            if deps:
                await asyncio.gather(*deps)
            await self.run_node(nid)

        import networkx as nx

        for nid in nx.topological_sort(g):
            tasks[nid] = asyncio.create_task(after_deps(nid), name=nid)
        try:
            await asyncio.gather(*tasks.values())
        except BaseException:
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        finally:
            for svc in self.services.values():
                close = getattr(svc, "aclose", None)
                if close:
                    await close()

    def _artifact_sets(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(node id, artifacts) for every node that left files for the user, in workflow order."""
        sets = []
        for nid in self.wf.nodes:
            arts = [a for value in self.outputs.get(nid, {}).values() if isinstance(value, list) for a in value if isinstance(a, dict) and "kind" in a and "name" in a and "path" in a]
            if arts:
                sets.append((nid, arts))
        return sets

    def publish_artifacts(self) -> dict[str, str]:
        """Copy artifacts from the cache into the output folder (temp name, then rename).

        Names follow `fenta.engine.outputs`: base name, `.preview` for drafts, the node id when two
        nodes would write the same file, and the next free `-2`, `-3`... rather than replacing a
        file this job did not write.
        """
        sets = self._artifact_sets()
        if not sets:
            return {}
        templates = {nid: [a["name"] if "{name}" in a["name"] else "{name}." + a["name"] for a in arts] for nid, arts in sets}
        seen: dict[str, str] = {}
        clashing: set[str] = set()
        for nid, names in templates.items():
            for n in names:
                if n in seen and seen[n] != nid:
                    clashing |= {nid, seen[n]}
                seen.setdefault(n, nid)
        preview = ".preview" if self.options.get("preview") else ""

        def plan(stem: str) -> list[tuple[str, dict[str, Any], Path]]:
            out = []
            for nid, arts in sets:
                node_stem = f"{stem}-{nid}" if nid in clashing else stem
                for art, tmpl in zip(arts, templates[nid]):
                    out.append((nid, art, self.out_dir / tmpl.replace("{name}", node_stem + preview)))
            return out

        base = self.options.get("name") or slug(self.wf.name)
        if self.options.get("overwrite"):
            stem = base
        else:
            own = {a["path"] for a in self.store.artifacts(self.job_id)}
            stem = free_stem(base, lambda st: [(dest, art["path"]) for _, art, dest in plan(st)], may_replace=lambda dest: str(dest) in own)
        published: dict[str, str] = {}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for nid, art, dest in plan(stem):
            key = art["kind"] if art["kind"] not in published else f"{nid}.{art['kind']}"
            if not (dest.exists() and _same_file(art["path"], dest)):
                tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
                tmp.unlink(missing_ok=True)  # left by an earlier attempt that failed here
                try:
                    try:
                        os.link(art["path"], tmp)
                    except OSError:
                        shutil.copyfile(art["path"], tmp)
                    os.replace(tmp, dest)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
            published[key] = str(dest)
            self.store.add_artifact(self.job_id, key, str(dest), duration=art.get("duration"))
        return published


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


async def _execute(workflow: Workflow, *, job_id: str, out_dir: Path, settings: Settings, store: JobStore, refresh: set[str], on_event, checkpoints: dict, options: dict[str, Any]) -> RunResult:
    started = time.perf_counter()
    store.claim_job(job_id)
    r = _Run(workflow, job_id=job_id, out_dir=out_dir, settings=settings, store=store, refresh=refresh, on_event=on_event, checkpoints=checkpoints, options=options)
    r.emit("job.started", workflowId=workflow.name, nodes=list(workflow.nodes), types={n: s.type for n, s in workflow.nodes.items()})

    def failed(msg: str, retryable: bool) -> RunResult:
        msg = settings.redact(msg)
        store.update_job(job_id, status="failed", error=msg, retryable=int(retryable), finished_at=time.time(), lease_pid=None, current_node=None)
        r.emit("job.failed", error=msg, retryable=retryable)
        return RunResult(job_id, "failed", None, {}, 0.0, time.perf_counter() - started, r.outputs, error=msg, retryable=retryable, nodes=dict(r.status))

    try:
        await r.execute()
        try:
            artifacts = r.publish_artifacts()
        except OSError as e:
            # Every node finished and is checkpointed: `fenta resume` only publishes again.
            where = e.filename or out_dir
            raise PathError(f"cannot write the finished files to {where}: {e.strerror or e}") from None
    except FentaError as e:
        return failed(str(e), bool(getattr(e, "retryable", False)) or isinstance(e, PathError))
    except Exception as e:  # a bug: fail the job (resumable), keep the traceback in its log
        r.log(traceback.format_exc())
        return failed(f"internal error: {type(e).__name__}: {e} (details in {r.log_path})", True)
    except BaseException:
        # Interrupted (Ctrl-C, kill): leave a resumable failed job behind.
        store.update_job(job_id, status="failed", error="interrupted", retryable=1, finished_at=time.time(), lease_pid=None, current_node=None)
        raise
    cost = sum(row["cost"] or 0 for row in store.db.query("SELECT cost FROM usage_records WHERE job_id = ?", [job_id]))
    video = artifacts.get("video")
    duration = next((a.get("duration") for o in r.outputs.values() for v in o.values() if isinstance(v, list) for a in v if isinstance(a, dict) and a.get("kind") == "video"), None)
    store.update_job(job_id, status="completed", progress=1.0, current_node=None, finished_at=time.time(), cost=cost, lease_pid=None)
    r.emit("job.completed", videoUrl=video, duration=duration, cost=cost)
    return RunResult(job_id, "completed", video, artifacts, cost, time.perf_counter() - started, r.outputs, nodes=dict(r.status))


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
) -> RunResult:
    """Run a loaded workflow and return its result (never raises for a failed node).

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
        on_event: Called with every `Event` (progress displays, webhooks).
        max_cost: Refuse to start when the estimate is higher.

    Raises:
        MissingKeysError: API keys the workflow needs are not set (all listed; nothing was run).
        CostLimitError: the estimate exceeds `max_cost` (nothing was spent).
        PathError: the output folder or name, or `FENTA_HOME`, cannot be used (nothing was run).
        JobError: `refresh` names a node the workflow does not have.
    """
    settings = settings or Settings.from_env()
    check_keys(workflow, settings)  # every missing key in one message, before anything runs
    unknown = set(refresh or []) - set(workflow.nodes)
    if unknown:
        raise JobError(f"--refresh names unknown node(s): {', '.join(sorted(unknown))}")
    if max_cost is not None:
        estimate = plan(workflow).total_cost
        if estimate > max_cost:
            raise CostLimitError(f"estimated cost {estimate:.4f} exceeds --max-cost {max_cost:.4f}; nothing was run")
    out_dir, base = prepare(out=out, name=name, settings=settings)
    options = {"name": base, "preview": bool(preview), "overwrite": bool(overwrite), "vars": _var_overrides(workflow)}
    _apply_options(workflow, options)
    store = JobStore(settings.db_path)
    try:
        job_id = new_job_id()
        file = os.path.abspath(workflow.file) if workflow.file else None
        store.create_job(job_id=job_id, name=workflow.name, workflow_hash=workflow.hash, file=file, document=workflow.document, vars=workflow.vars, out_dir=str(out_dir), options=options)
        return await _execute(workflow, job_id=job_id, out_dir=out_dir, settings=settings, store=store, refresh=set(refresh or []), on_event=on_event, checkpoints={}, options=options)
    finally:
        store.close()


def run(workflow: Workflow, **kwargs: Any) -> RunResult:
    """Blocking `run_async`."""
    return asyncio.run(run_async(workflow, **kwargs))


async def resume_async(job_id: str, *, reload: bool = False, settings: Settings | None = None, on_event: Callable[[Event], None] | None = None) -> RunResult:
    """Continue a failed or killed job from its last finished node.

    The job keeps its output folder, file name and `--preview`. Finished nodes are reused
    when their cache key still matches and their files are still there.

    Args:
        reload: Read the workflow file again (after fixing it), with the job's `--var` values,
            instead of the copy stored with the job; finished nodes whose cache keys still
            match are kept, the others run again.

    Raises:
        JobError: the job is unknown, completed, running in a live process, or (with
            `reload`) was not run from a file.
        SpecError: (with `reload`) the workflow file is missing or still invalid.
        PathError: the output folder or `FENTA_HOME` cannot be written.
    """
    settings = settings or Settings.from_env()
    check_home(settings.home)
    store = JobStore(settings.db_path)
    try:
        job = store.get_job(job_id)
        if job is None:
            raise JobError(f"no job with id '{job_id}' (see `fenta jobs`)")
        if job["status"] == "completed":
            raise JobError(f"job '{job['id']}' already completed")
        options = job.get("options") or {}
        overrides = options["vars"] if "vars" in options else job["vars"]
        if reload:
            if not job["workflow_file"]:
                raise JobError(f"job '{job['id']}' was not run from a workflow file, so there is nothing to reload")
            wf = load(job["workflow_file"], vars=overrides)
            store.replace_workflow(job["id"], name=wf.name, workflow_hash=wf.hash, document=wf.document, vars=wf.vars)
        else:
            wf = from_document(job["document"], file=job["workflow_file"], vars=job["vars"])
        out_dir = Path(job["out_dir"])
        check_writable(out_dir, "output folder")
        _apply_options(wf, options)
        return await _execute(wf, job_id=job["id"], out_dir=out_dir, settings=settings, store=store, refresh=set(), on_event=on_event, checkpoints=store.checkpoints(job["id"]), options=options)
    finally:
        store.close()


def resume(job_id: str, **kwargs: Any) -> RunResult:
    """Blocking `resume_async`."""
    return asyncio.run(resume_async(job_id, **kwargs))
