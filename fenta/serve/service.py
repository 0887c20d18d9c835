"""What the API does, once, for the REST routes and the MCP tools alike (no HTTP here).

Every method is synchronous (routes and tools run it on a worker thread) and reads fenta.db through the
calling thread's own connection (`Stores`): opening a store costs milliseconds, a status read must not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine.events import iso, read_events
from ..errors import FentaError, JobError, PathError, ServeError, SpecError
from .access import Principal
from .admin_service import Operations
from .catalog_service import Catalog
from .problems import spec_problem
from .store import ServeStore
from .untrusted import load_untrusted
from .upload_service import Uploads

__all__ = ["Stores", "Service", "IDEMPOTENCY_TTL", "MAX_PAGE"]

#: How long a stored answer to an Idempotency-Key is replayed (seconds).
IDEMPOTENCY_TTL = 24 * 3600
#: The most jobs one page lists.
MAX_PAGE = 200
_ATTEMPT_EVENTS = [
    "job.started",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "job.queued",
    "job.retrying",
    "job.dead",
]


class Stores:
    """One `ServeStore` per thread, closed together when the server stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._all: list[ServeStore] = []
        self._lock = threading.Lock()

    def get(self) -> ServeStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = ServeStore(self.settings)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._all:
                try:
                    store.close()
                except sqlite3.Error:  # shutting down: a broken connection is as good as closed
                    pass
            self._all.clear()


def not_found(what: str) -> ServeError:
    return ServeError(f"no {what}", status=404, title="Not Found")


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def idempotency_key(header: str | None) -> str | None:
    """The key of an `Idempotency-Key` header (a structured-field string: quoted, or as Stripe sends it).

    Raises:
        ServeError: 400, empty, longer than 255 characters or not printable ASCII.
    """
    if header is None:
        return None
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > 255 or not all(32 <= ord(c) < 127 for c in key):
        raise ServeError(
            "Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is best)",
            status=400,
            title="Bad Idempotency-Key",
        )
    return key


class Service(Catalog, Operations, Uploads):
    """The API's operations on one FENTA_HOME: the jobs here, workflows and assets from `Catalog`,
    schedules, webhooks, usage and quotas from `Operations`, asset uploads from `Uploads`."""

    def __init__(self, settings: Settings, stores: Stores) -> None:
        super().__init__(settings, stores)
        self.renders = settings.home / "renders"

    # ------------------------------------------------------------ jobs

    def create_job(
        self, principal: Principal, body: dict[str, Any], key: str | None, base: str
    ) -> tuple[int, dict[str, Any], bool]:
        """Queue a job from a request body (`JobCreate`); (status, job, whether this is a replay).

        With an Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the first request is
        processed and its answer stored for 24 h; a repeat gets that answer again (errors too), a repeat
        while the first is still being processed gets 409, the same key with another body gets 422.

        Raises:
            ServeError: a problem to answer with (422 invalid workflow, 409, ...).
        """
        store = self.stores.get()
        fingerprint = _fingerprint(body)
        if key is not None:
            state, row = store.claim_key(principal.token_id, key, fingerprint, time.time(), IDEMPOTENCY_TTL)
            if state == "mismatch":
                raise ServeError(
                    "this Idempotency-Key was used with a different request body: use a new key for a new "
                    "request",
                    status=422,
                    title="Idempotency-Key reused",
                    extra={"type": "idempotency-key-reused"},
                )
            if state == "in_flight":
                raise ServeError(
                    "a request with this Idempotency-Key is still being processed: retry later",
                    status=409,
                    title="Request in flight",
                    extra={"type": "idempotency-key-in-flight"},
                )
            if state == "replay" and row is not None:
                answer = json.loads(row["response"])
                if row["status"] >= 400:
                    raise ServeError(
                        answer["detail"],
                        status=row["status"],
                        title=answer.get("title"),
                        headers={"Idempotent-Replayed": "true"},
                        extra=answer.get("extra"),
                    )
                return row["status"], answer, True
        try:
            job_id, missing = self._queue(body)
        except ServeError as e:
            if key is not None:
                store.finish_key(
                    principal.token_id,
                    key,
                    e.status,
                    {"detail": e.message, "title": e.title, "extra": e.extra},
                    None,
                )
            raise
        except BaseException:
            if key is not None:
                store.release_key(principal.token_id, key)
            raise
        view = self.job(job_id, base)
        view["missing_keys"] = missing
        if key is not None:
            store.finish_key(principal.token_id, key, 202, view, job_id)
        return 202, view, False

    def _queue(self, body: dict[str, Any]) -> tuple[str, list[str]]:
        from ..engine.keys import key_needs
        from ..engine.queue import submit

        try:
            wf = load_untrusted(body.get("workflow"), body.get("vars"), self.settings)
        except SpecError as e:
            raise spec_problem(e) from None
        try:
            job_id = submit(
                wf,
                out=self.renders,
                name=body.get("name"),
                priority=int(body.get("priority") or 0),
                preview=bool(body.get("preview")),
                settings=self.settings,
            )
        except PathError as e:
            raise ServeError(str(e), status=422, title="Invalid request", extra={"field": "name"}) from None
        return job_id, [k.var for k in key_needs(wf, self.settings) if not k.set]

    def _row(self, job_id: str) -> dict[str, Any]:
        job = self.stores.get().jobs.job(job_id)  # ids in URLs are whole: no prefixes over HTTP
        if job is None:
            raise not_found(f"job '{job_id}'")
        return job.to_dict()

    def job(self, job_id: str, base: str) -> dict[str, Any]:
        """The job's view: state, progress, node timings, attempts, cost, artifacts with download URLs."""
        from ..jobs import _attempts  # TODO(lead): fenta.jobs.get taking a store would make this one call

        store = self.stores.get()
        row = self._row(job_id)
        nodes = [
            {
                "node": r["node_id"],
                "type": r["node_type"],
                "status": r["status"],
                "runs": r["attempt"],
                "seconds": r["seconds"],
                "started_at": iso(r["started_at"]) if r["started_at"] else None,
                "finished_at": iso(r["finished_at"]) if r["finished_at"] else None,
                "offset": round(r["started_at"] - row["started_at"], 3)
                if r["started_at"] and row.get("started_at")
                else None,
                "error": r["error"],
            }
            for r in store.jobs.node_runs(job_id)
        ]
        evs = read_events(store.jobs, job_id=job_id, types=_ATTEMPT_EVENTS, limit=10000)
        view = self._summary(row, base)
        view.update(nodes=nodes, attempts=_attempts(evs), artifacts=self._artifacts(job_id, base))
        return view

    def _summary(self, row: dict[str, Any], base: str) -> dict[str, Any]:
        jid = row["id"]
        link = f"{base}/v1/jobs/{jid}"
        return {
            "id": jid,
            "status": row["status"],
            "workflow": row["workflow_name"],
            "progress": row["progress"] or 0.0,
            "current_node": row["current_node"],
            "priority": row["priority"] or 0,
            "attempt": row["attempt"] or 0,
            "cost": row["cost"] or 0.0,
            "error": row["error"],
            "retryable": None if row["retryable"] is None else bool(row["retryable"]),
            "created_at": iso(row["created_at"]) if row["created_at"] else None,
            "started_at": iso(row["started_at"]) if row["started_at"] else None,
            "finished_at": iso(row["finished_at"]) if row["finished_at"] else None,
            "next_attempt_at": row["next_attempt_at"],
            "schedule": row.get("schedule_id"),
            "links": {
                "self": link,
                "events": f"{link}/events",
                "cancel": f"{link}/cancel",
                "retry": f"{link}/retry",
            },
        }

    def _artifacts(self, job_id: str, base: str) -> list[dict[str, Any]]:
        out = []
        for a in self.stores.get().jobs.artifacts(job_id):
            name = Path(a["path"]).name
            out.append(
                {
                    "name": name,
                    "kind": a["kind"],
                    "size": a["bytes"],
                    "duration": a["duration"],
                    "url": f"{base}/v1/jobs/{job_id}/artifacts/{name}",
                }
            )
        return out

    def artifact_path(self, job_id: str, name: str) -> Path:
        """The file of a job's artifact called `name` (only files the job published)."""
        self._row(job_id)
        for a in self.stores.get().jobs.artifacts(job_id):
            if Path(a["path"]).name == name and Path(a["path"]).is_file():
                return Path(a["path"])
        raise not_found(f"artifact '{name}' of job '{job_id}'")

    def jobs_page(
        self, *, status: str | None, workflow: str | None, limit: int, cursor: str | None, base: str
    ) -> dict[str, Any]:
        """A page of jobs, newest first, and the opaque cursor of the next page."""
        scope = _fingerprint({"status": status, "workflow": workflow})[:12]
        after = None
        if cursor:
            try:
                pos = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
                if pos["f"] != scope:
                    raise ValueError
                after = (float(pos["t"]), str(pos["i"]))
            except Exception:
                raise ServeError(
                    "cursor is not one this list gave (a cursor belongs to the filters it was made with)",
                    status=400,
                    title="Bad cursor",
                ) from None
        store = self.stores.get().jobs
        rows = store.jobs_page(status=status, workflow=workflow, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = None
        if more:
            pos = {"t": rows[-1]["created_at"], "i": rows[-1]["id"], "f": scope}
            nxt = (
                base64.urlsafe_b64encode(json.dumps(pos, separators=(",", ":")).encode()).decode().rstrip("=")
            )
        return {"items": [self._summary(r, base) for r in rows], "next_cursor": nxt}

    def cancel(self, job_id: str, base: str) -> dict[str, Any]:
        from .. import jobs

        self._row(job_id)
        try:
            jobs.cancel(job_id, wait=0, settings=self.settings)
        except JobError as e:
            raise ServeError(str(e), status=409, title="Conflict") from None
        return self.job(job_id, base)

    def retry(self, job_id: str, base: str) -> dict[str, Any]:
        from .. import jobs

        self._row(job_id)
        try:
            jobs.retry(job_id, settings=self.settings)
        except JobError as e:
            raise ServeError(str(e), status=409, title="Conflict") from None
        return self.job(job_id, base)

    def job_state(self, job_id: str) -> str | None:
        return self.stores.get().jobs.job_status(job_id)

    def events_after(self, cursor: int, job_id: str | None, limit: int = 500) -> list[Any]:
        return read_events(self.stores.get().jobs, since_id=cursor, job_id=job_id, limit=limit)

    def last_event_id(self) -> int:
        """The newest event's id (a stream that starts after it misses nothing that happens next)."""
        return self.stores.get().jobs.last_event_id()


def problem_of(e: FentaError) -> ServeError:
    """Any fenta error as a problem to answer with (bad input: 422)."""
    if isinstance(e, ServeError):
        return e
    if isinstance(e, SpecError):
        return spec_problem(e)
    return ServeError(
        str(e), status=422 if e.exit_code == 2 else 500, title="Cannot do that" if e.exit_code == 2 else None
    )
