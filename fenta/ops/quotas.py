"""Quotas and usage: reserve at claim -> run -> track usage -> warn (the hosted service's billing flow).

Limits (`quota_limits`) are per resource and period (a UTC day or month):

    jobs            finished videos (a job that completes)
    render_minutes  minutes of finished video
    kie_credits     KIE.ai credits spent (recorded by the AI nodes)
    cost_usd        money spent on providers, in US dollars (recorded by the nodes)
    youtube_uploads videos posted to YouTube (recorded by Publish.YouTube; each such node counts one)
    tiktok_posts    videos posted to TikTok (Publish.TikTok), likewise
    instagram_posts Reels posted to Instagram (Publish.Instagram), likewise

`admit(settings)` is the hook every way of running a job passes to the engine (`lifecycle.Admit`): it
runs inside the transaction that claims the job (a worker's slot, a batch row, a Dask task's client)
or queues and holds it (`fenta run`, `fenta.run`, the hosted worker's local job). There it adds the
job's estimate to what the period used so far and to what the other live jobs hold, refuses with
`QuotaError` when that is over a limit (the job is dead with the reason, or `fenta run` exits 2,
nothing ran), and otherwise writes the job's reservation (1 job, its estimated spend and credits)
in that same transaction: two claims can never both see the last unit free. A reservation holds
while its job's lease is live; it is dropped when the job ends without using it (failed, dead,
cancelled, given back: `fenta.engine.lifecycle`) and turned into use when it completes: `track`,
a reader of the event log with its own cursor, records the job and its minutes in `usage_records`
(provider `fenta`) and drops the reservation in one transaction, so nothing is counted twice.
`warn` appends `quota.warning {orgId, resource, percentage}` when use reaches 80 % or 100 % of a
limit, once per period, resource and threshold. The SQL is the store's (`fenta.engine.store.quotas`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from ..bounds import finite
from ..config import Settings
from ..engine.events import parse_iso
from ..engine.leases import lease_is_live
from ..engine.lifecycle import Admit
from ..engine.records import Job, JobState
from ..engine.store import Tx
from ..errors import QuotaError

__all__ = [
    "RESOURCES",
    "PERIODS",
    "THRESHOLDS",
    "CURSOR",
    "period_bounds",
    "set_limit",
    "remove_limit",
    "limits",
    "used",
    "reserved",
    "status",
    "estimate",
    "check",
    "admit",
    "track",
    "warn",
]

#: Resource -> its unit, as shown.
RESOURCES = {
    "jobs": "jobs",
    "render_minutes": "minutes",
    "kie_credits": "credits",
    "cost_usd": "USD",
    "youtube_uploads": "uploads",
    "tiktok_posts": "posts",
    "instagram_posts": "posts",
}
PERIODS = ("day", "month")
#: Percentages of a limit at which `quota.warning` is sent (once per period each).
THRESHOLDS = (80, 100)
#: The event-log cursor `track` keeps.
CURSOR = "quotas"
#: Resources whose estimate needs the workflow's plan (its providers' prices).
_PLANNED = ("kie_credits", "cost_usd", "youtube_uploads", "tiktok_posts", "instagram_posts")
#: Resources the estimate counts exactly (not "unknown before the run", like render minutes).
_EXACT = ("youtube_uploads", "tiktok_posts", "instagram_posts")
#: Posting resources -> the publish node each post of which counts one.
_POSTS = {
    "youtube_uploads": "Publish.YouTube",
    "tiktok_posts": "Publish.TikTok",
    "instagram_posts": "Publish.Instagram",
}

# ---------------------------------------------------------------------------------------- periods


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """(start, end) of the UTC day or month holding `now`, as epoch seconds."""
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
    elif period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        end = start.replace(year=nxt[0], month=nxt[1])
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
        choices = ", ".join(RESOURCES)
        raise QuotaError(f"unknown quota resource '{resource}': choose {choices}", field="RESOURCE")
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
    store.set_quota_limit(resource, per, limit)


def remove_limit(store: Any, resource: str) -> bool:
    """Remove a resource's limit; False when it had none."""
    return bool(store.remove_quota_limit(_check_resource(resource)))


def limits(store: Any) -> dict[str, tuple[str, float]]:
    """resource -> (period, limit)."""
    return dict(store.quota_limits())


# ---------------------------------------------------------------------------------------- use


#: resource -> (provider, units, the column summed) of the usage records that count against it.
_USAGE: dict[str, tuple[str | None, str | None, str]] = {
    "jobs": ("fenta", "jobs", "quantity"),
    "render_minutes": ("fenta", "render_minutes", "quantity"),
    "kie_credits": ("kie", "credits", "quantity"),
    "cost_usd": (None, None, "cost"),
    "youtube_uploads": ("youtube", "uploads", "quantity"),  # Publish.YouTube records one per video posted
    "tiktok_posts": ("tiktok", "posts", "quantity"),
    "instagram_posts": ("instagram", "posts", "quantity"),
}


def used(
    store: Any, resource: str, since: float, until: float | None = None, *, job_id: str | None = None
) -> float:
    """What `usage_records` says a resource used from `since` (to `until`; of one job, when given)."""
    if resource not in _USAGE:
        raise QuotaError(f"unknown quota resource '{resource}'", field="RESOURCE")
    provider, units, column = _USAGE[resource]
    total = store.usage_total(
        since=since, until=until, provider=provider, units=units, column=column, job_id=job_id
    )
    return float(total)


def _holds(job: Job) -> bool:
    """Whether a job's reservation still counts: its process holds it, or it completed and its use is
    not recorded yet (`track` then drops the reservation)."""
    return job.status == JobState.COMPLETED or lease_is_live(job)


def reserved(store: Any, resource: str, *, exclude: str | None = None) -> float:
    """What the live reservations (but `exclude`'s) hold of a resource and have not used yet: a job
    that already spent part of its estimate holds only the rest."""
    total = 0.0
    for job, amount in store.quota_holds(resource, exclude=exclude):
        if _holds(job):
            total += max(0.0, amount - used(store, resource, 0.0, job_id=job.id))
    return total


def status(store: Any, *, now: float | None = None) -> list[dict[str, Any]]:
    """Use against limit for the current period of every limited resource; `reserved`: what jobs
    running now hold on top of it."""
    now = time.time() if now is None else now
    out = []
    for resource, (period, limit) in limits(store).items():
        start, end = period_bounds(period, now)
        use = used(store, resource, start)
        pct = (use / limit * 100) if limit > 0 else (100.0 if use > 0 else 0.0)
        out.append(
            {
                "resource": resource,
                "unit": RESOURCES.get(resource, ""),
                "period": period,
                "limit": limit,
                "used": round(use, 6),
                "reserved": round(reserved(store, resource), 6),
                "percentage": round(pct, 1),
                "period_start": start,
                "resets_at": end,
            }
        )
    return out


# ---------------------------------------------------------------------------------------- check


def estimate(workflow: Any) -> dict[str, float]:
    """What one run of a workflow is expected to use: 1 job, its estimated spend and KIE credits, and
    one post per publish node of each platform (`youtube_uploads`, `tiktok_posts`, `instagram_posts`).

    Render minutes are not known before the run (0: refused only once the period's minutes are spent).
    """
    from ..engine.results import plan

    est = {
        "jobs": 1.0,
        "render_minutes": 0.0,
        "kie_credits": 0.0,
        "cost_usd": 0.0,
        **dict.fromkeys(_POSTS, 0.0),
    }
    try:
        cost = plan(workflow).cost
        for resource, node_type in _POSTS.items():
            est[resource] = float(sum(1 for n in workflow.nodes.values() if n.type == node_type))
    except Exception:  # an estimate must never stop a job by itself
        return est
    est["cost_usd"] = round(sum(cost.values()), 6)
    if cost.get("kie"):
        from ..pricing import usd_per_credit

        per = usd_per_credit()
        est["kie_credits"] = round(cost["kie"] / per, 3) if per else 0.0
    return est


def check(store: Any, est: dict[str, float], *, now: float | None = None, job_id: str | None = None) -> None:
    """Refuse (QuotaError, exit 2) when use so far, plus what other live jobs hold, plus `est` is over
    a limit. `job_id`: the job being admitted (its own reservation is not counted).

    A resource with no estimate (0) is refused only when its period's limit is used up.
    """
    now = time.time() if now is None else now
    for resource, (period, limit) in limits(store).items():
        start, end = period_bounds(period, now)
        held = reserved(store, resource, exclude=job_id)
        use = used(store, resource, start) + held
        add = float(est.get(resource, 0.0) or 0.0)
        if resource in _EXACT and add <= 0:
            continue  # a job that posts nowhere is never refused by a posting limit
        over = (use + add > limit + 1e-9) if add > 0 else (use >= limit - 1e-9)
        if not over:
            continue
        unit = RESOURCES[resource]
        when = "today" if period == "day" else "this month"
        holding = f", {_num(held)} of them held by jobs running now" if held > 0 else ""
        extra = f" and this job needs about {_num(add)} more" if add > 0 and resource != "jobs" else ""
        raise QuotaError(
            f"quota exceeded: {resource} used {_num(use)} of {_num(limit)} {unit} {when}{holding}{extra} "
            f"(resets {_when(end)}; `fenta quota` shows it, `fenta quota set {resource} N --per {period}` "
            "changes it); nothing was run",
            resource=resource,
            used=use,
            limit=limit,
        )


def admit(settings: Settings, *, now: Callable[[], float] = time.time) -> Admit:
    """The quota hook of every way a job runs (`lifecycle.Admit`), inside the transaction that claims
    or holds the job: brings usage up to date, `check`s the job's estimate against the limits and the
    other live reservations, and reserves it (1 job, plus its estimated spend and credits where those
    are limited). A `QuotaError` refuses the job; what the hook wrote is then undone."""

    def hook(tx: Tx, job: Job) -> None:
        lims = tx.quota_limits()
        if not lims:  # nothing to check; still held, so a limit set while it runs counts it
            tx.reserve_quota(job.id, {"jobs": 1.0})
            return
        _record_finished(tx)
        planned = bool(job.document) and any(r in lims for r in _PLANNED)
        est = estimate(_workflow_of(job.to_dict())) if planned else {"jobs": 1.0}
        check(tx, est, now=now(), job_id=job.id)
        held = {r: est[r] for r in ("jobs", *_PLANNED) if est.get(r) and (r == "jobs" or r in lims)}
        tx.reserve_quota(job.id, held)

    return hook


def _workflow_of(job: dict) -> Any:
    from ..engine.spec import from_document
    from ..policy import Policy

    columns = map(job.get, ("document", "vars", "options"))
    doc, vars, options = (json.loads(v) if isinstance(v, str) else v for v in columns)
    try:
        policy = Policy.from_stored((options or {}).get("policy"))
        # a row without a document raises here like any broken one: caught below
        return from_document(doc, file=job.get("workflow_file"), vars=vars or {}, policy=policy)  # type: ignore[arg-type]
    except Exception:
        return None


# ---------------------------------------------------------------------------------------- track and warn


def _record_finished(tx: Tx, batch: int = 500) -> tuple[int, int]:
    """Record the usage of jobs completed since the cursor, inside `tx`: per job a `jobs` row (1) and a
    `render_minutes` row (its video's minutes) under provider `fenta`, dated when it completed; its
    reservation becomes that use. At most `batch` events; returns (events read, jobs recorded)."""
    events = tx.read_events(since_id=tx.cursor(CURSOR), types=["job.completed"], limit=batch)
    recorded = 0
    for ev in events:
        job_id = ev.job_id or ev.data.get("jobId")
        tx.release_quota(job_id)  # type: ignore[arg-type]  # no job id: no reservation matches it
        if tx.has_usage(job_id, provider="fenta", units="jobs"):
            continue
        recorded += 1
        at = parse_iso(ev.created_at) or time.time()
        tx.record_usage(provider="fenta", units="jobs", quantity=1, job_id=job_id, created_at=at)
        minutes = float(ev.data.get("duration") or 0) / 60.0
        if minutes > 0:
            quantity = round(minutes, 6)
            tx.record_usage(
                provider="fenta", units="render_minutes", quantity=quantity, job_id=job_id, created_at=at
            )
    if events:
        tx.set_cursor(CURSOR, events[-1].id)
    return len(events), recorded


def track(store: Any, settings: Settings, *, now: float | None = None, batch: int = 500) -> int:
    """Record the usage of finished jobs from the event log (cursor `quotas`), then `warn`.

    Each completed job adds a `jobs` row (1) and a `render_minutes` row (its video's minutes) to
    `usage_records` under provider `fenta`, dated when the job completed, and drops its reservation in
    the same transaction. Returns the jobs recorded.
    """
    recorded = 0
    while True:
        with store.write() as tx:
            read, jobs = _record_finished(tx, batch)
        recorded += jobs
        if read < batch:
            break
    warn(store, settings, now=now)
    return recorded


def warn(store: Any, settings: Settings, *, now: float | None = None) -> list[dict[str, Any]]:
    """Append `quota.warning` for every limit whose use reached 80 % or 100 % this period, once each.

    When use jumps past both thresholds at once, one warning says where it stands (e.g. 100) and
    counts for both. Returns the payloads appended.
    """
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
        with store.write() as tx:
            new = [th for th in reached if th not in tx.quota_warned(resource, start)]
            if not new:
                continue
            percentage = int(pct + 1e-9)  # whole percent, never rounded up past what was used
            data = {"orgId": settings.org_id, "resource": resource, "percentage": percentage}
            event_id = tx.append_event("quota.warning", None, data).id
            for th in new:
                tx.record_quota_warning(resource, start, th, event_id, now)
        sent.append(data)
    return sent
