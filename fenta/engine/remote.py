"""The task functions a Dask worker runs for fenta (importable, so workers unpickle them by name).

    check_worker(version)  -> {"ok", "problem", "fenta", "ffmpeg"}   (client.run, at executor start)
    run_job(payload)       -> {"ok", ...records, "files": [bytes]}   (one Dask task per job attempt)

A job runs here without the client's SQLite file or FENTA_HOME: the workflow document, its vars and
the bytes of the local files it names arrive in the payload, are written to a scratch folder (a
FENTA_HOME of its own, removed afterwards, or by the next task on this machine if this worker is
killed: see `scratch`), and the job's nodes run against a scratch store there.
What the client must keep comes back in the result: the artifacts' bytes, the usage records, the
provider tasks (paid work a retry must find), the scripts written, the node timings and the node
events. Only the client writes its store. Node events are also sent live to the client (`Worker.log_event`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import traceback
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import FentaError, FFmpegUnusable, MissingKeysError
from ..media.ffmpeg import ffmpeg_choice
from ..policy import Policy
from .events import Event
from .execute import Execution
from .keys import check_keys
from .results import apply_options
from .scratch import scratch_folder
from .spec import from_document
from .store import JobStore
from .work import classify

__all__ = ["check_worker", "run_job", "stop_job", "fenta_version", "quiet_notices", "LIVE_TYPES"]

#: Event types sent to the client as they happen (the ones a live view shows).
LIVE_TYPES = (
    "node.started",
    "node.finished",
    "node.failed",
    "node.progress",
    "message",
    "job.progress",
    "job.plan",
)

#: Node events the client appends to its own log (the others are live-only, as in a local run).
LOGGED_TYPES = ("node.started", "node.finished", "node.failed", "job.progress", "video.published")


#: Keys of the tasks in this worker process that were asked to stop (`stop_job`, from the client).
_STOPS: set[str] = set()


def stop_job(key: str) -> bool:
    """Ask the task `key` running in this worker process to stop: its running nodes are cancelled and
    it returns what it recorded so far (`client.run(stop_job, key, workers=[its worker])`)."""
    _STOPS.add(key)
    return True


async def _watch_stop(key: str | None, task: asyncio.Future[Any]) -> None:
    while key:
        await asyncio.sleep(0.2)
        if key in _STOPS:
            _STOPS.discard(key)
            task.cancel()
            return


def quiet_notices() -> None:
    """In a LocalCluster's worker process, whose stderr is the client's: drop the `notice:` lines (an old
    system FFmpeg passed over) the client has printed already."""
    logging.getLogger("fenta").addFilter(lambda record: not str(record.msg).startswith("notice:"))


def fenta_version() -> str:
    """The installed fenta's version (what the client and its workers must agree on)."""
    try:
        return version("fenta")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def check_worker(version: str) -> dict[str, Any]:
    """Whether this worker can run fenta jobs: the same fenta version, and an FFmpeg fenta can use."""
    __version__ = fenta_version()

    if __version__ != version:
        return {
            "ok": False,
            "problem": f"has fenta {__version__}, the client {version}",
            "fenta": __version__,
        }
    try:
        choice = ffmpeg_choice()
    except FFmpegUnusable as e:
        return {"ok": False, "problem": f"cannot use FFmpeg: {e}", "fenta": __version__}
    except Exception as e:  # imageio-ffmpeg missing, a broken install: this worker cannot render
        return {"ok": False, "problem": f"cannot find FFmpeg: {type(e).__name__}: {e}", "fenta": __version__}
    return {"ok": True, "problem": None, "fenta": __version__, "ffmpeg": choice.path}


class _LiveBus:
    """Stands in for `events.Bus` here (a `Sink`): sends live events to the client through the scheduler."""

    def __init__(self, topic: str | None, job_id: str, attempt: int) -> None:
        self.topic = topic
        self.job_id = job_id
        self.attempt = attempt
        self._last: dict[str, float] = {}
        self.worker: Any = None
        if topic:
            try:
                from distributed import get_worker  # lazy: dask is optional, and only its workers run this

                self.worker = get_worker()
            except (ImportError, ValueError):  # not inside a Dask worker (a direct call): nothing to send
                self.worker = None

    def put(self, *events: Event) -> None:
        if self.worker is None:
            return
        for ev in events:
            if ev.type not in LIVE_TYPES:
                continue
            if ev.type == "node.progress":  # at most 2 a second per node: the scheduler relays every one
                node = str(ev.data.get("node"))
                now = time.monotonic()
                if now - self._last.get(node, 0.0) < 0.5:
                    continue
                self._last[node] = now
            msg = {
                "job": self.job_id,
                "attempt": self.attempt,
                "seq": ev.id,
                "type": ev.type,
                "data": ev.data,
                "at": ev.created_at,
            }
            try:
                self.worker.log_event(self.topic, msg)
            except Exception:  # the live view is a courtesy; the result carries every logged event
                pass


def _walk(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, fn) for k, v in value.items()}
    return value


def _materialize(
    payload: dict[str, Any], root: Path, back: list[tuple[str, str]] | None = None
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """Write the shipped files under `root`: a relative path where it resolves from the workflow's
    folder here as it did there; an absolute one (or one leaving the folder) elsewhere, with the
    document and vars pointed at it. Returns (document, vars, workflow file here); `back` gets
    (path here, path on the client) pairs, so messages name the client's files (`_to_client`)."""
    workflow_file = payload.get("workflow_file")
    folder = root / "workflow"
    folder.mkdir(parents=True, exist_ok=True)
    where: dict[str, str] = {}
    for i, (name, data) in enumerate(sorted(payload.get("files", {}).items())):
        rel = Path(name)
        if not rel.is_absolute() and ".." not in rel.parts and workflow_file:
            dest = folder / rel
        else:
            dest = root / "media" / str(i) / (rel.name or "file")
            where[name] = str(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if back is not None:

        def there(name: str) -> str:
            if Path(name).is_absolute() or not workflow_file:
                return name
            return os.path.normpath(Path(workflow_file).parent / name)

        back += [(dest, there(name)) for name, dest in where.items()]
        if workflow_file:
            back.append((str(folder), str(Path(workflow_file).parent)))

    def swap(s: str) -> str:
        return where.get(s, s)

    local_file = str(folder / Path(workflow_file).name) if workflow_file else None
    return _walk(payload["document"], swap), _walk(payload.get("vars") or {}, swap), local_file


def _policy_here(options: dict[str, Any], root: Path) -> Policy:
    """The job's policy on this worker: the client's, except that an untrusted job may name only the
    files the client shipped (`_materialize` writes them all there), never one of this machine's."""
    policy = Policy.from_stored(options.get("policy"))
    if policy.trusted:
        return policy
    shipped = tuple(Path(os.path.realpath(root / d)) for d in ("workflow", "media"))
    return dataclasses.replace(policy, allowed_dirs=shipped)


def _to_client(outcome: dict[str, Any], back: list[tuple[str, str]]) -> dict[str, Any]:
    """The outcome with this worker's scratch paths of shipped files written as the client's paths
    (errors, node errors, events, outputs), so a message names the file the user has."""

    def swap(s: str) -> str:
        for here, there in back:
            if here in s:
                s = s.replace(here, there)
        return s

    if not back:
        return outcome
    return {k: (v if k == "files" else _walk(v, swap)) for k, v in outcome.items()}


def _harvest(store: JobStore, job_id: str) -> dict[str, Any]:
    """What the client's store must get from the scratch store."""
    return dict(store.export_records(job_id, LOGGED_TYPES))


def _seed(store: JobStore, payload: dict[str, Any]) -> None:
    """The job row (node checkpoints refer to it), the provider tasks the client knows for it, and the
    scripts written and stock clips shown lately (Script.Gen and Input.Stock do not repeat them; kept
    without a job, so none goes back)."""
    with store.write() as tx:
        tx.create_job(
            job_id=payload["job_id"],
            name=payload.get("workflow_name") or "video",
            workflow_hash="remote",
            file=None,
            document={},
            vars={},
            out_dir="",
            options=payload.get("options") or {},
        )
        for row in payload.get("provider_tasks") or []:
            tx.put_provider_task(row)
        for row in payload.get("scripts") or []:
            tx.remember_script(
                topic=row["topic"],
                title=row.get("title"),
                hook=row.get("hook"),
                job_id=None,
                created_at=row["created_at"],
            )
        for row in payload.get("clips") or []:
            tx.remember_clips(
                workflow=row["workflow"],
                provider=row["provider"],
                clip_ids=[row["clip_id"]],
                job_id=None,
                node_id=None,
                created_at=row["created_at"],
            )


async def _run(payload: dict[str, Any], root: Path) -> dict[str, Any]:
    back: list[tuple[str, str]] = []
    return _to_client(await _attempt(payload, root, back), back)


async def _attempt(payload: dict[str, Any], root: Path, back: list[tuple[str, str]]) -> dict[str, Any]:
    settings = dataclasses.replace(Settings.from_env(), home=root / "home")
    job_id = payload["job_id"]
    store = JobStore(settings.db_path)
    bus = _LiveBus(payload.get("topic"), job_id, payload.get("attempt", 1))
    ex = None
    try:
        _seed(store, payload)
        try:
            document, vars, workflow_file = _materialize(payload, root, back)
            options = payload.get("options") or {}
            wf = from_document(document, file=workflow_file, vars=vars, policy=_policy_here(options, root))
            apply_options(wf, options)
            check_keys(wf, settings)  # the keys are the worker's own: they never travel
            ex = Execution(
                wf,
                job_id=job_id,
                out_dir=root / "out",
                settings=settings,
                store=store,
                refresh=set(),
                bus=bus,
                checkpoints={},
                options=options,
            )
            types = {n: s.type for n, s in wf.nodes.items()}
            ex.notify("job.plan", attempt=payload.get("attempt", 1), nodes=list(wf.nodes), types=types)
            running = asyncio.ensure_future(ex.execute())
            watcher = asyncio.ensure_future(_watch_stop(payload.get("key"), running))
            try:
                await running
            finally:
                watcher.cancel()
        except asyncio.CancelledError:  # the client asked this attempt to stop (a cancel, a stop-now)
            stopped = {"ok": False, "stopped": True, "error": "stopped", "retryable": True}
            return {**stopped, **_harvest(store, job_id), **_nodes(ex)}
        except Exception as e:
            failure = classify(e, where=" on the Dask worker")
            error = failure.error
            address = getattr(bus.worker, "address", None)
            if isinstance(e, MissingKeysError):  # say where: the client may well have the key
                where = address or "this Dask worker"
                own = "each worker reads API keys from its own environment"
                error = f"{error} (on the Dask worker {where}: {own})"
            elif getattr(e, "log_path", None) is not None:  # an FFmpeg log kept on the worker's disk
                error = (
                    f"{error} (the log is on the Dask worker {address})"
                    if address
                    else f"{error} (the log is on the Dask worker's disk)"
                )
            failed = {
                "ok": False,
                "error": settings.redact(error),
                "retryable": failure.retryable,
                "retry_after": failure.retry_after,
                "exit_code": failure.exit_code,
            }
            if not isinstance(e, FentaError):  # a bug: the traceback goes to the client's job log
                failed["log"] = settings.redact(traceback.format_exc())
            return {**failed, **_harvest(store, job_id), **_nodes(ex)}
        sets, blobs = [], []
        for nid, arts in ex.artifact_sets():
            shipped = []
            for art in arts:
                blobs.append(Path(art["path"]).read_bytes())
                shipped.append({**art, "path": None, "blob": len(blobs) - 1})
            sets.append((nid, shipped))
        done = {"ok": True, "artifact_sets": sets, "files": blobs, "duration": ex.video()}
        return {**done, **_harvest(store, job_id), **_nodes(ex)}
    finally:
        store.close()


def _nodes(ex: Any) -> dict[str, Any]:
    """The nodes' outputs and states, and the job log this attempt wrote (FFmpeg's last lines on a
    failure)."""
    log = (
        ex.log_path.read_text(encoding="utf-8", errors="replace")
        if ex is not None and ex.log_path.exists()
        else ""
    )
    return {
        "outputs": dict(ex.outputs) if ex else {},
        "status": dict(ex.status) if ex else {},
        "log_text": log,
    }


def run_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt of a job on this worker (see the module docstring); never raises for a job's failure.

    Returns:
        {"ok": True, "artifact_sets", "files", "duration", ...} or {"ok": False, "error", "retryable",
        "retry_after", "exit_code", ...}, both with "usage", "provider_tasks", "node_runs", "events",
        "outputs", "status"; {"ok": False, "unusable": why} when this worker cannot run jobs at all.
    """
    check = check_worker(payload.get("version", ""))
    if not check["ok"]:
        worker = _LiveBus(payload.get("topic"), payload["job_id"], 0).worker
        return {"ok": False, "unusable": check["problem"], "worker": getattr(worker, "address", None)}
    with scratch_folder(payload["job_id"]) as root:  # also removes what killed workers left here
        return asyncio.run(_run(payload, root))
