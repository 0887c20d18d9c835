"""Quotas and usage: check quota -> run -> track usage -> update quota (the hosted service's billing flow).

Limits (`quota_limits`) are per resource and period (a UTC day or month):

    jobs            finished videos (a job that completes)
    render_minutes  minutes of finished video
    kie_credits     KIE.ai credits spent (recorded by the AI nodes)
    cost_usd        money spent on providers, in US dollars (recorded by the nodes)
    youtube_uploads videos posted to YouTube (recorded by Publish.YouTube; each such node counts one)

Before a job starts, `check` adds the job's estimate to what the period used so far (and, for
`jobs`, the other jobs running now) and refuses with `QuotaError` (exit 2) when that is over the
limit. After each job, `track` — a reader of the event log with its own cursor — records the job and
its minutes in `usage_records` (provider `fenta`) and appends `quota.warning {orgId, resource,
percentage}` when use reaches 80 % or 100 % of a limit, once per period, resource and threshold.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Callable

from ..bounds import finite
from ..config import Settings
from ..errors import QuotaError

__all__ = [
    "RESOURCES",
    "PERIODS",
    "THRESHOLDS",
    "CURSOR",
    "ensure_tables",
    "period_bounds",
    "set_limit",
    "remove_limit",
    "limits",
    "used",
    "status",
    "estimate",
    "check",
    "check_workflow",
    "admission",
    "track",
    "warn",
]

#: Resource -> its unit, as shown.
RESOURCES = {"jobs": "jobs", "render_minutes": "minutes", "kie_credits": "credits", "cost_usd": "USD",
             "youtube_uploads": "uploads"}
PERIODS = ("day", "month")
#: Percentages of a limit at which `quota.warning` is sent (once per period each).
THRESHOLDS = (80, 100)
#: The event-log cursor `track` keeps.
CURSOR = "quotas"

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS quota_warnings (
        resource TEXT NOT NULL,
        period_start REAL NOT NULL,
        threshold INTEGER NOT NULL,
        event_id INTEGER,
        created_at REAL NOT NULL,
        PRIMARY KEY (resource, period_start, threshold)
    )""",
    "CREATE INDEX IF NOT EXISTS usage_records_job ON usage_records(job_id, provider, units)",
]


def ensure_tables(store: Any) -> None:
    """Create the warnings table (what was already warned about) when missing."""
    from ._db import ensure

    ensure(store, "quotas", statements=_STATEMENTS, names=["quota_warnings", "usage_records_job"])


# ---------------------------------------------------------------------------------------- periods


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """(start, end) of the UTC day or month holding `now`, as epoch seconds."""
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
    elif period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return start.timestamp(), end.timestamp()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _num(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


# ---------------------------------------------------------------------------------------- limits


def _check_resource(resource: str) -> str:
    if resource not in RESOURCES:
        raise QuotaError(f"unknown quota resource '{resource}': choose {', '.join(RESOURCES)}", field="RESOURCE")
    return resource


def set_limit(store: Any, resource: str, limit: float, per: str = "month") -> None:
    """Set (or replace) the limit of a resource per UTC day or month.

    Raises:
        QuotaError: unknown resource or period, or a limit that is negative or not finite (exit 2).
    """
    _check_resource(resource)
    if per not in PERIODS:
        raise QuotaError(f"unknown period '{per}': choose day or month", field="--per")
    limit = finite(limit, "LIMIT", least=0, error=QuotaError)  # nan or inf would turn the limit off
    query = "INSERT OR REPLACE INTO quota_limits (resource, period, max_value) VALUES (?, ?, ?)"
    store.db.conn.execute(query, (resource, per, limit))


def remove_limit(store: Any, resource: str) -> bool:
    """Remove a resource's limit; False when it had none."""
    _check_resource(resource)
    return store.db.conn.execute("DELETE FROM quota_limits WHERE resource = ?", (resource,)).rowcount > 0


def limits(store: Any) -> dict[str, tuple[str, float]]:
    """resource -> (period, limit)."""
    return {r[0]: (r[1], r[2]) for r in store.db.conn.execute("SELECT resource, period, max_value FROM quota_limits ORDER BY resource")}


# ---------------------------------------------------------------------------------------- use


#: resource -> (provider, units, the column summed) of the usage records that count against it.
_USAGE: dict[str, tuple[str | None, str | None, str]] = {
    "jobs": ("fenta", "jobs", "quantity"),
    "render_minutes": ("fenta", "render_minutes", "quantity"),
    "kie_credits": ("kie", "credits", "quantity"),
    "cost_usd": (None, None, "cost"),
    "youtube_uploads": ("youtube", "uploads", "quantity"),  # Publish.YouTube records one per video posted
}


#: Resources the estimate counts exactly (not "unknown before the run", like render minutes).
_EXACT = ("youtube_uploads",)


def used(store: Any, resource: str, since: float, until: float | None = None) -> float:
    """What `usage_records` says a resource used from `since` (to `until`)."""
    if resource not in _USAGE:
        raise QuotaError(f"unknown quota resource '{resource}'", field="RESOURCE")
    provider, units, column = _USAGE[resource]
    return store.usage_total(since=since, until=until, provider=provider, units=units, column=column)


def _running_jobs(store: Any, exclude: str | None) -> int:
    """Jobs running now (they count against `jobs` before they are recorded)."""
    return int(store.running_jobs_unrecorded(exclude=exclude))


def status(store: Any, *, now: float | None = None) -> list[dict[str, Any]]:
    """Use against limit for the current period of every limited resource."""
    now = time.time() if now is None else now
    out = []
    for resource, (period, limit) in limits(store).items():
        start, end = period_bounds(period, now)
        use = used(store, resource, start)
        pct = (use / limit * 100) if limit > 0 else (100.0 if use > 0 else 0.0)
        out.append({
            "resource": resource, "unit": RESOURCES.get(resource, ""), "period": period, "limit": limit,
            "used": round(use, 6), "percentage": round(pct, 1), "period_start": start, "resets_at": end,
        })
    return out


# ---------------------------------------------------------------------------------------- check


def estimate(workflow: Any) -> dict[str, float]:
    """What one run of a workflow is expected to use: 1 job, its estimated spend and KIE credits, and
    one YouTube upload per Publish.YouTube node.

    Render minutes are not known before the run (0: refused only once the period's minutes are spent).
    """
    from ..engine.results import plan

    est = {"jobs": 1.0, "render_minutes": 0.0, "kie_credits": 0.0, "cost_usd": 0.0, "youtube_uploads": 0.0}
    try:
        cost = plan(workflow).cost
        est["youtube_uploads"] = float(sum(1 for n in workflow.nodes.values() if n.type == "Publish.YouTube"))
    except Exception:  # an estimate must never stop a job by itself
        return est
    est["cost_usd"] = round(sum(cost.values()), 6)
    if cost.get("kie"):
        from ..pricing import usd_per_credit

        per = usd_per_credit()
        est["kie_credits"] = round(cost["kie"] / per, 3) if per else 0.0
    return est


def check(store: Any, est: dict[str, float], *, now: float | None = None, job_id: str | None = None) -> None:
    """Refuse (QuotaError, exit 2) when use so far plus `est` is over a limit.

    A resource with no estimate (0) is refused only when its period's limit is used up.
    """
    now = time.time() if now is None else now
    for resource, (period, limit) in limits(store).items():
        start, end = period_bounds(period, now)
        use = used(store, resource, start)
        if resource == "jobs":
            use += _running_jobs(store, job_id)
        add = float(est.get(resource, 0.0) or 0.0)
        if resource in _EXACT and add <= 0:
            continue  # a job that posts nowhere is never refused by a posting limit
        over = (use + add > limit + 1e-9) if add > 0 else (use >= limit - 1e-9)
        if over:
            unit = RESOURCES[resource]
            extra = f" and this job needs about {_num(add)} more" if add > 0 and resource != "jobs" else ""
            raise QuotaError(
                f"quota exceeded: {resource} used {_num(use)} of {_num(limit)} {unit} {'today' if period == 'day' else 'this month'}{extra} "
                f"(resets {_when(end)}; `fenta quota` shows it, `fenta quota set {resource} N --per {period}` changes it); nothing was run",
                resource=resource, used=use, limit=limit,
            )


def _open(settings: Settings) -> Any:
    from ..engine.store import JobStore

    store = JobStore(settings.db_path)
    ensure_tables(store)
    return store


def check_workflow(settings: Settings, workflow: Any, *, now: float | None = None) -> None:
    """Before `fenta run`: bring usage up to date from the event log, then `check` the workflow's estimate.

    Raises:
        QuotaError: over a limit (exit 2; nothing ran).
    """
    store = _open(settings)
    try:
        if not limits(store):
            return
        track(store, settings, now=now)
        check(store, estimate(workflow), now=now)
    finally:
        store.close()


def admission(settings: Settings, *, now: Callable[[], float] = time.time) -> Callable[[dict], None]:
    """The `Worker(admission=...)` hook: checks a claimed job's estimate against the limits.

    Raising `QuotaError` there makes the worker mark the job dead with that reason, without running it.
    """

    def admit(job: dict) -> None:
        store = _open(settings)
        try:
            if not limits(store):
                return
            track(store, settings, now=now())
            check(store, estimate(_workflow_of(job)) if job.get("document") else {"jobs": 1.0}, now=now(), job_id=job.get("id"))
        finally:
            store.close()

    return admit


def _workflow_of(job: dict) -> Any:
    import json

    from ..engine.spec import from_document
    from ..policy import Policy

    columns = map(job.get, ("document", "vars", "options"))
    doc, vars, options = (json.loads(v) if isinstance(v, str) else v for v in columns)
    try:
        policy = Policy.from_stored((options or {}).get("policy"))
        return from_document(doc, file=job.get("workflow_file"), vars=vars or {}, policy=policy)
    except Exception:
        return None


# ---------------------------------------------------------------------------------------- track and warn


def track(store: Any, settings: Settings, *, now: float | None = None, batch: int = 500) -> int:
    """Record the usage of finished jobs from the event log (cursor `quotas`), then `warn`.

    Each completed job adds a `jobs` row (1) and a `render_minutes` row (its video's minutes) to
    `usage_records` under provider `fenta`, dated when the job completed. Returns the jobs recorded.
    """
    from ..engine.events import get_cursor, parse_iso, read_events, set_cursor

    ensure_tables(store)
    recorded = 0
    while True:
        with store.write() as tx:
            events = read_events(store, since_id=get_cursor(store, CURSOR), types=["job.completed"], limit=batch)
            for ev in events:
                job_id = ev.job_id or ev.data.get("jobId")
                if tx.has_usage(job_id, provider="fenta", units="jobs"):
                    continue
                at = parse_iso(ev.created_at) or time.time()
                tx.record_usage(provider="fenta", units="jobs", quantity=1, job_id=job_id, created_at=at)
                minutes = float(ev.data.get("duration") or 0) / 60.0
                if minutes > 0:
                    tx.record_usage(
                        provider="fenta",
                        units="render_minutes",
                        quantity=round(minutes, 6),
                        job_id=job_id,
                        created_at=at,
                    )
                recorded += 1
            if events:
                set_cursor(store, CURSOR, events[-1].id)
        if len(events) < batch:
            break
    warn(store, settings, now=now)
    return recorded


def warn(store: Any, settings: Settings, *, now: float | None = None) -> list[dict[str, Any]]:
    """Append `quota.warning` for every limit whose use reached 80 % or 100 % this period, once each.

    When use jumps past both thresholds at once, one warning says where it stands (e.g. 100) and
    counts for both. Returns the payloads appended.
    """
    from ..engine.events import append_event

    ensure_tables(store)
    now = time.time() if now is None else now
    sent = []
    for resource, (period, limit) in limits(store).items():
        start, _ = period_bounds(period, now)
        use = used(store, resource, start)
        if limit <= 0:
            pct = 100.0 if use > 0 else 0.0
        else:
            pct = use / limit * 100
        reached = [th for th in THRESHOLDS if pct >= th - 1e-9]
        if not reached:
            continue
        with store.write() as conn:
            done = {r[0] for r in conn.execute("SELECT threshold FROM quota_warnings WHERE resource = ? AND period_start = ?", (resource, start))}
            new = [th for th in reached if th not in done]
            if not new:
                continue
            percentage = int(pct + 1e-9)  # whole percent, never rounded up past what was used
            data = {"orgId": settings.org_id, "resource": resource, "percentage": percentage}
            event_id = append_event(conn, "quota.warning", None, data)
            for th in new:
                conn.execute(
                    "INSERT OR IGNORE INTO quota_warnings (resource, period_start, threshold, event_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    (resource, start, th, event_id, now),
                )
        sent.append(data)
    return sent
