"""Paid KIE.ai tasks, paid for once: the steps every AI node (image, video, edit, music) shares.

Every paid request follows the same steps:
1. its request is hashed (provider + model + request body, with local input files named by content);
2. if the job store already holds a task under that hash, it is reused: a finished one costs nothing,
   a pending one is polled again (a killed or re-run job never submits a second time);
3. otherwise the task is created and its id written to the store BEFORE polling starts (a marker row
   goes first, so a run killed while KIE was accepting it can say so);
4. polling backs off on KIE's documented schedule (2.5 s for 30 s, 7.5 s until 2 min, then 20 s) up to
   a timeout; a callback (optional mode) that lands in the same row ends the wait early;
5. the credits are recorded once (what KIE reports, else the price table), results are downloaded at
   once (links expire) into the content-addressed cache and kept in the asset library.

A request KIE refuses as such (content policy, an input it cannot fetch, lyrics that match existing
work) is one line naming what was asked, and is never retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import ProviderError
from ..hashing import file_sha256
from ..library import record_safely
from ..pricing import KieModel, credits_to_usd
from ..providers.kie import KieClient, OutcomeUnknownError, TaskStatus, is_refusal, time_scale
from .base import NodeContext

__all__ = [
    "UPLOAD_MARK",
    "Paid",
    "poll_interval",
    "task_key",
    "stage_key",
    "label_for",
    "upload_once",
    "run_paid",
    "fetch_files",
    "keep_in_library",
    "refusal",
    "bill",
    "MAX_PARALLEL",
]

UPLOAD_MARK = "upload:"
MAX_PARALLEL = 8  # generations in flight per run; KIE allows ~100 running tasks, 20 new per 10 s
_UPLOAD_TTL = 20 * 3600.0  # KIE keeps uploaded inputs about 24 hours


def poll_interval(elapsed: float, scale: float | None = None) -> float:
    """Seconds to wait before the next status query, after `elapsed` seconds (KIE's guidance), times
    `scale` (the settings' `kie_time_scale`; read from the process's settings when not given)."""
    if elapsed < 30:
        base = 2.5
    elif elapsed < 120:
        base = 7.5
    else:
        base = 20.0
    return base * (time_scale() if scale is None else scale)


def task_key(model: str, path: str, body: dict[str, Any], variant: int = 0) -> str:
    """Hash that identifies a paid request (the callback URL does not change what is made).

    `variant` tells apart deliberate repeats of the same request (count > 1, or two equal scenes).
    """
    material = {k: v for k, v in body.items() if k != "callBackUrl"}
    doc: dict[str, Any] = {"provider": "kie", "model": model, "path": path, "body": material}
    if variant:
        doc["variant"] = variant
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def stage_key(parent: str, *parts: Any) -> str:
    """The key of a follow-up of the task under `parent` (a Veo extension, 1080p, 4K)."""
    return hashlib.sha256(json.dumps([parent, *parts], sort_keys=True, default=str).encode()).hexdigest()


def label_for(prompt: str, scene: int | None = None, what: str = "prompt") -> str:
    """How messages name a request: "scene 2's prompt 'a fox in...'" (one line, at most 80 characters)."""
    text = " ".join(prompt.split())
    text = text if len(text) <= 80 else text[:77].rstrip() + "..."
    return f"scene {scene + 1}'s {what} '{text}'" if scene is not None else f"the {what} '{text}'"


@dataclass
class Paid:
    """One paid request: where it goes, what it is called in messages, what the table says it costs.

    Attributes:
        family: The status family it is polled with ("veo" for an extension too).
        uploads: Local files (by SHA-256) named `upload:<sha>` in `body`: uploaded when it is sent.
        meta: Kept in the task's row (family, model, prompt; the callback receiver reads `family`).
    """

    key: str
    model: KieModel
    family: str
    path: str
    body: dict[str, Any]
    label: str
    credits: float
    uploads: dict[str, Path] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    refusal_field: str = "params.prompt"  # the param a refusal names


def refusal(
    ctx: NodeContext, label: str, code: Any, why: str | None, field: str = "params.prompt"
) -> ProviderError:
    """The one line for a request KIE refuses as such (never retried)."""
    reason = " ".join(str(why or "refused").split())[:200]
    return ctx.error(
        f"KIE.ai refused {label} (code {code or '?'}: {reason}); change it and run again (a refused request "
        "is not retried)",
        field=field,
        cls=ProviderError,
        provider="kie",
        retryable=False,
    )


async def upload_once(ctx: NodeContext, client: KieClient, path: str | Path) -> str:
    """The public URL of a local input file: uploaded through KIE's file upload once per content (and
    again only after about 20 hours, since KIE keeps uploads for a day)."""
    sha = file_sha256(path)
    locks = ctx.services.setdefault("kie:upload-locks", {})
    async with locks.setdefault(sha, asyncio.Lock()):
        key = "kie-upload:" + sha
        hit = ctx.store.cache_get(key) if ctx.store is not None else None
        if hit and hit.get("url") and time.time() - float(hit.get("at") or 0) < _UPLOAD_TTL:
            return str(hit["url"])
        url = await client.upload(path, file_name=sha[:32] + Path(path).suffix.lower())
        if ctx.store is not None:
            ctx.store.cache_put(key, "kie-upload", {"url": url, "at": time.time()})
        return url


def _with_uploads(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(UPLOAD_MARK):
        return urls.get(value[len(UPLOAD_MARK) :], value)
    if isinstance(value, list):
        return [_with_uploads(v, urls) for v in value]
    if isinstance(value, dict):
        return {k: _with_uploads(v, urls) for k, v in value.items()}
    return value


def _from_row(row: dict[str, Any]) -> TaskStatus:
    res = row.get("result") or {}
    return TaskStatus(
        row["task_id"],
        row["status"],
        list(res.get("urls") or []),
        res.get("error"),
        res.get("error_code"),
        res.get("credits"),
        list(res.get("tracks") or []),
    )


async def run_paid(
    ctx: NodeContext,
    client: KieClient,
    paid: Paid,
    *,
    timeout: float,
    status_of: Callable[[str], Awaitable[TaskStatus]] | None = None,
) -> TaskStatus:
    """Create `paid` (unless the store holds its task) and wait for it; returns the finished status.

    `status_of(task_id)`: how to ask for its state (default: the family's status query).
    The same request from two nodes of one run: the second waits and reuses the first's task.
    """
    locks = ctx.services.setdefault("kie:key-locks", {})
    async with locks.setdefault(paid.key, asyncio.Lock()):
        status = await _run_paid(ctx, client, paid, timeout, status_of)
        bill(ctx, paid, status)
        return status


async def _run_paid(
    ctx: NodeContext,
    client: KieClient,
    paid: Paid,
    timeout: float,
    status_of: Callable[[str], Awaitable[TaskStatus]] | None,
) -> TaskStatus:
    store = ctx.job_store()
    row = store.provider_task(paid.key)
    if row and row["status"] == "succeeded" and (row.get("result") or {}).get("urls"):
        return _from_row(row)
    if row and row["status"] in ("pending", "running", "succeeded"):
        task_id = row["task_id"]
        ctx.info(f"continuing KIE task {task_id} (already paid; not submitted again)")
    else:
        task_id = await _create(ctx, client, paid, row)
    return await _poll(ctx, client, paid, task_id, timeout, status_of)


async def _create(ctx: NodeContext, client: KieClient, paid: Paid, row: dict[str, Any] | None) -> str:
    store = ctx.job_store()
    if row and row["status"] == "submitting":
        ctx.warn(
            "an earlier run was stopped while KIE.ai was accepting this generation; its task id never "
            "arrived, so it is submitted again (check the KIE.ai dashboard for a duplicate charge)"
        )
    urls = {sha: await upload_once(ctx, client, p) for sha, p in paid.uploads.items()}
    body = _with_uploads(paid.body, urls)
    meta = {"family": paid.family, "model": paid.model.id, **paid.meta}
    # A marker first: if the process dies before the task id is stored, the next run can say so.
    store.save_provider_task(
        key=paid.key,
        provider="kie",
        task_id="",
        status="submitting",
        job_id=ctx.job_id,
        node_id=ctx.node_id,
        result=meta,
    )
    try:
        task_id = await client.create_task(paid.path, body)
    except OutcomeUnknownError:
        raise  # keep the marker: the next run warns that this one may have been charged
    except ProviderError as e:
        store.delete_provider_task(paid.key)  # refused (or never sent): nothing was created
        if e.status in (400, 413, 451) or (e.status == 422 and is_refusal(None, e.message)):
            raise refusal(ctx, paid.label, e.status, e.message, paid.refusal_field) from None
        raise
    except Exception:
        store.delete_provider_task(paid.key)
        raise
    # (cancelled or interrupted mid-request: the marker stays, for the same reason)
    # Written before the first poll: from here on a killed run finds this task instead of paying again.
    store.save_provider_task(
        key=paid.key,
        provider="kie",
        task_id=task_id,
        status="pending",
        job_id=ctx.job_id,
        node_id=ctx.node_id,
        result=meta,
    )
    ctx.info(f"KIE task {task_id} created ({paid.model.id})")
    return task_id


async def _poll(
    ctx: NodeContext,
    client: KieClient,
    paid: Paid,
    task_id: str,
    timeout: float,
    status_of: Callable[[str], Awaitable[TaskStatus]] | None,
) -> TaskStatus:
    store = ctx.job_store()
    key = paid.key
    ask = status_of or (lambda tid: client.task_status(paid.family, tid))
    row = store.provider_task(key) or {}
    created = float(row.get("created_at") or time.time())
    started = time.monotonic()
    last_state = row.get("status")
    scale = ctx.settings.kie_time_scale
    while True:
        row = store.provider_task(key) or {}
        res = row.get("result") or {}
        if row.get("status") in ("succeeded", "failed") and (res.get("urls") or res.get("error")):
            status = _from_row(row)  # finished by a callback (or an earlier poll): as good as a status query
        else:
            try:
                status = await ask(task_id)
            except ProviderError as e:
                if e.status == 404:
                    store.update_provider_task(
                        key, status="failed", result={"error": "KIE no longer knows this task"}
                    )
                    raise ctx.error(
                        f"KIE.ai no longer knows task {task_id}; run again to submit a new one",
                        cls=ProviderError,
                        provider="kie",
                    ) from None
                if not e.retryable or time.monotonic() - started > timeout:
                    raise
                ctx.warn(f"status query for task {task_id} failed ({e.message}); still polling")
                await asyncio.sleep(poll_interval(time.time() - created, scale))
                continue
        if status.state != last_state:
            # succeeded = KIE finished (files join the row once downloaded); never undo a callback's verdict
            extra = {"urls": status.urls, "tracks": status.tracks} if status.state == "succeeded" else None
            store.update_provider_task(key, status=status.state, result=extra, keep_final=True)
            last_state = status.state
        if status.state == "succeeded":
            if not status.urls:
                raise ctx.error(
                    f"KIE.ai task {task_id} finished without a result URL", cls=ProviderError, provider="kie"
                )
            return status
        if status.state == "failed":
            why = status.error or "no reason given"
            store.update_provider_task(
                key, status="failed", result={"error": why, "error_code": status.error_code}
            )
            if status.refused:
                raise refusal(ctx, paid.label, status.error_code, why, paid.refusal_field)
            raise ctx.error(
                f"KIE.ai task {task_id} failed: {why} (code {status.error_code or '?'}); run again to "
                "submit a new one",
                cls=ProviderError,
                provider="kie",
            )
        if time.monotonic() - started > timeout:
            raise ctx.error(
                f"KIE.ai task {task_id} is still {status.state} after {timeout:.0f}s; `fenta resume` "
                "continues "
                "polling it without paying again",
                field="params.timeout",
                retryable=True,
            )
        await asyncio.sleep(poll_interval(time.time() - created, scale))


def bill(ctx: NodeContext, paid: Paid, status: TaskStatus, *, model: str | None = None) -> float:
    """Record the credits of a finished task once (what KIE reported, else the table's price); returns
    them."""
    credits = status.credits if status.credits is not None else paid.credits
    row = ctx.job_store().provider_task(paid.key) or {}
    if (row.get("result") or {}).get("billed"):
        return float((row.get("result") or {}).get("credits") or credits)
    ctx.job_store().update_provider_task(paid.key, result={"billed": True, "credits": credits})
    if credits:
        ctx.usage.record(
            "kie",
            model=model or paid.model.id,
            units="credits",
            quantity=credits,
            cost=credits_to_usd(credits),
        )
    return credits


async def fetch_files(
    ctx: NodeContext, client: KieClient, key: str, urls: list[str], stem: str, default_suffix: str
) -> tuple[list[str], bool]:
    """The results of the task under `key` as files in the cache, and whether they were downloaded now
    (at once: links expire) rather than by an earlier run."""
    row = ctx.job_store().provider_task(key) or {}
    kept = (row.get("result") or {}).get("files")
    if kept and len(kept) == len(urls) and all(Path(f).is_file() for f in kept):
        return list(kept), False
    files = []
    for n, url in enumerate(urls):
        suffix = Path(urlparse(url).path).suffix.lower() or default_suffix
        dest = ctx.workdir / f"{stem}-{n}{suffix}"
        try:
            await client.download(url, dest)
        except ProviderError as e:
            if e.status not in (401, 403, 404, 410):
                raise
            # Result links expire; KIE turns its own file URLs into fresh 20-minute links.
            ctx.warn(f"result link answered HTTP {e.status}; asking KIE.ai for a fresh download link")
            await client.download(await client.fresh_download_url(url), dest)
        files.append(ctx.keep(dest))
    ctx.job_store().update_provider_task(key, result={"files": files})
    return files, True


async def keep_in_library(
    ctx: NodeContext,
    files: list[str],
    urls: list[str],
    provenance: dict[str, Any],
    tags: list[str] | tuple[str, ...] = (),
) -> None:
    """Record generated files in the asset library with their provenance (a failure is a warning)."""
    for f, url in zip(files, urls):
        warning = await asyncio.to_thread(
            record_safely, f, origin="ai", source=url, provenance=provenance, settings=ctx.settings, tags=tags
        )
        if warning:
            ctx.warn(warning)
