"""What travels between the client and a Dask worker, and writing what comes back into the client's store.

Out: the workflow document, its vars and options, the bytes of every local file the workflow names
(any string in the document, the vars or the interpolated params that is a file, relative paths
resolved against the workflow file as nodes resolve them; for an untrusted job only those its policy
allows, and the library files its assets name), and the provider tasks the job already
paid for (so a retry continues them instead of paying again), the scripts written lately (so
Script.Gen does not repeat them) and the stock clips the workflow showed lately (so Input.Stock does
not either). API keys never travel: workers use
their own environment's.

Back (`fenta.engine.remote.run_job`): artifacts as bytes, usage records, provider tasks, node timings,
node events and the job log (the attempt writes the records here in one transaction:
`JobStore.import_records`); the artifacts are published into the job's output folder by the same
rules as a local run (`fenta.engine.outputs.publish`).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import AssetError, PathError

# The node's own resolution of library assets, so a cluster picks the same files.
from ...nodes.asset import _library_assets, _LibraryProblem
from ...nodes.base import local_path
from ...policy import TRUSTED, Policy
from .. import remote
from ..clock import now_iso
from ..outputs import Published, check_writable, publish
from ..records import Event, Job
from ..remote import LOGGED_TYPES
from ..spec import from_document
from ..store import JobStore
from ..store.clips import CLIP_HISTORY_DAYS

__all__ = ["build_payload", "live_event", "publish_files", "local_files"]

_NOT_PATHS = ("http://", "https://", "asset:", "tag:", "data:")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def local_files(
    workflow: Any, document: dict[str, Any], vars: dict[str, Any], *, also: Collection[str] = ()
) -> dict[str, Path]:
    """Every string of the workflow that names a local file -> that file. Of an untrusted workflow
    only the files its policy allows (so nothing else leaves the machine), and the library files
    `also` names (its assets by id or tag, which it may use)."""
    policy: Policy = getattr(workflow, "policy", TRUSTED)
    candidates = _strings(document) + _strings(vars)
    for spec in workflow.nodes.values():
        if spec.parsed_params is not None:
            candidates += _strings(spec.parsed_params.model_dump(mode="json"))
    found: dict[str, Path] = {}
    for s in dict.fromkeys(candidates):
        if not s or len(s) > 1024 or "\n" in s or s.startswith(_NOT_PATHS) or "${" in s:
            continue
        try:
            path = local_path(workflow.file, s)
            if s not in also and policy.file_problem(path) is not None:
                continue  # before the file is looked at
            if path.is_file():
                found[s] = path
        except (OSError, ValueError):
            continue
    return found


_LIBRARY_PARAMS = ("asset", "tag", "pick", "seed", "count")


def _resolve_library(wf: Any, document: dict[str, Any], settings: Settings) -> set[str]:
    """Rewrite each `Input.Asset` that takes library assets (`asset:` ids, a `tag:`) into the files they
    name here, appended to its `paths`, so their bytes travel like any other local file: the library
    (fenta.db and its files) stays on this machine. Returns the paths added.

    Raises:
        AssetError: an asset id or tag the library cannot resolve (any more), naming node and field.
    """
    added: set[str] = set()
    for nid, spec in wf.nodes.items():
        params = spec.parsed_params
        if spec.type != "Input.Asset" or params is None or not (params.tag or params.asset_ids()):
            continue
        try:
            assets = _library_assets(params, settings)
        except _LibraryProblem as e:
            raise AssetError(e.message, node=nid, field=e.field) from None
        raw = {
            k: v for k, v in (document["nodes"][nid].get("params") or {}).items() if k not in _LIBRARY_PARAMS
        }
        files = [str(Path(a.path).resolve()) for a in assets]
        document["nodes"][nid]["params"] = raw | {"paths": [*params.paths, *files]}
        added.update(files)
    return added


def build_payload(
    job: Job, store: JobStore, *, topic: str, attempt: int, settings: Settings | None = None
) -> dict[str, Any]:
    """The task's argument for `remote.run_job`.

    Raises:
        SpecError: the stored workflow no longer loads (a file it names was removed).
        AssetError: a library asset or tag the workflow names is gone from this machine's library.
        PathError: the output folder cannot be written, or a local file cannot be read.
    """
    document, vars, options = copy.deepcopy(job.document), dict(job.vars), dict(job.options)
    policy = Policy.from_stored(options.get("policy"))
    wf = from_document(document, file=job.workflow_file, vars=vars, policy=policy)
    library = _resolve_library(wf, document, settings or Settings.from_env())
    check_writable(Path(job.out_dir), "output folder")
    files: dict[str, bytes] = {}
    for s, path in local_files(wf, document, vars, also=library).items():
        try:
            files[s] = path.read_bytes()
        except OSError as e:
            raise PathError(f"cannot read {path} to send it to the Dask worker: {e.strerror or e}") from None
    tasks = store.provider_tasks_of_job(job.id)
    scripts = store.recent_scripts(time.time() - 30 * 86400)
    clips = store.recent_clips(job.workflow_name, time.time() - CLIP_HISTORY_DAYS * 86400, exclude_job=job.id)
    return {
        "job_id": job.id,
        "attempt": attempt,
        "topic": topic,
        "version": remote.fenta_version(),
        "workflow_file": job.workflow_file,
        "workflow_name": job.workflow_name,
        "document": document,
        "vars": vars,
        "options": options,
        "files": files,
        "provider_tasks": tasks,
        "scripts": scripts,
        "clips": [{**c, "workflow": job.workflow_name} for c in clips],
    }


def live_event(route: dict[str, Any], msg: dict[str, Any]) -> Event | None:
    """A live message from a worker as an event here: node events and progress are appended to the
    log (once: the result carries them again), the others are live-only (id 0)."""
    type_, data, seq = msg.get("type"), msg.get("data") or {}, msg.get("seq") or 0
    job_id = route["job_id"]
    if type_ in LOGGED_TYPES and seq:
        if seq in route["seen"]:
            return None
        route["seen"].add(seq)
        store: JobStore = route["store"]
        with store.write() as tx:
            return tx.append_remote_event(job_id, str(type_), data)
    return Event(0, str(type_), job_id, data, msg.get("at") or now_iso())


def publish_files(store: JobStore, job: Job, outcome: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Write the returned artifacts into the job's output folder (names as in a local run); kind -> path.

    Raises:
        PathError: (retryable) a file cannot be written there.
    """
    tmp_root = settings.cache_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"dask-{job.id}-", dir=tmp_root))
    out_dir = Path(job.out_dir)
    try:
        sets = []
        for nid, arts in outcome.get("artifact_sets") or []:
            local = []
            for art in arts:
                suffix = Path(str(art["name"]).replace("{name}", "x")).suffix
                path = tmp / f"{art['blob']}{suffix}"
                path.write_bytes(outcome["files"][art["blob"]])
                local.append({k: v for k, v in art.items() if k != "blob"} | {"path": str(path)})
            sets.append((nid, local))
        return publish(sets, out_dir, job.options, job.workflow_name, store, job.id, Published()).paths
    except OSError as e:
        # Every node finished on the worker: another attempt only publishes again.
        message = f"cannot write the finished files to {e.filename or out_dir}: {e.strerror or e}"
        raise PathError(message, retryable=True) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
