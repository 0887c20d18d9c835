"""Running the box, once for the REST routes and the dashboard alike: schedules, webhook endpoints and
their deliveries, usage and quotas (thin over fenta.ops; no HTTP here; synchronous, on the caller's
worker thread). `Service` mixes this in."""

from __future__ import annotations

import json
from typing import Any

from ..config import Settings
from ..engine.events import iso
from ..errors import FentaError, ScheduleError, ServeError, SpecError, WebhookError
from .problems import spec_problem
from .untrusted import check_webhook_url, load_untrusted, untrusted_policy

__all__ = ["Operations", "refused"]


def refused(e: FentaError, status: int = 422) -> ServeError:
    """A refusal of fenta.ops as a problem: 404 for a schedule or endpoint that is not there."""
    missing = isinstance(e, (ScheduleError, WebhookError)) and str(e.message).startswith("no ")
    return ServeError(
        e.message,
        status=404 if missing else status,
        title="Not Found" if missing else "Cannot do that",
        extra={"field": e.field},
    )


def _when(ts: float | None) -> str | None:
    return iso(ts) if ts else None


def _schedule(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "cron", "tz", "vars", "priority", "catchup", "enabled", "last_job_id", "last_error")
    out = {k: row.get(k) for k in keep}
    for k in ("next_fire_at", "last_fire_at", "created_at"):
        out[k] = _when(row.get(k))
    return out


def _endpoint(ep: Any, **more: Any) -> dict[str, Any]:
    out = ep.public()
    out["created_at"] = _when(out.get("created_at"))
    return {**out, **more}


def _quotas(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "period_start": iso(r["period_start"]), "resets_at": iso(r["resets_at"])} for r in rows]


class Operations:
    """Schedules, webhooks, usage and quotas on one FENTA_HOME (needs `settings` and `stores`)."""

    settings: Settings
    stores: Any

    # ------------------------------------------------------------ schedules

    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule with its next fire time, oldest name first."""
        from ..ops.schedules import list_schedules

        return [_schedule(r) for r in list_schedules(self.stores.get().jobs)]

    def schedule(self, name: str) -> dict[str, Any]:
        from ..ops.schedules import get_schedule

        try:
            return _schedule(get_schedule(self.stores.get().jobs, name))
        except FentaError as e:
            raise refused(e) from None

    def add_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a schedule from a request body (`ScheduleCreate`); its workflow is validated now, as
        untrusted input, and every job it queues keeps the untrusted policy."""
        from ..ops.schedules import add_schedule, get_schedule

        try:
            load_untrusted(body["workflow"], body.get("vars"), self.settings)
        except SpecError as e:
            raise spec_problem(e) from None
        name = body["name"]
        store = self.stores.get()
        try:
            get_schedule(store.jobs, name)
            raise ServeError(f"a schedule named '{name}' exists already", status=409, title="Conflict")
        except ScheduleError:
            pass
        folder = self.settings.home / "serve" / "workflows"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json"  # the name's pattern (models.ScheduleCreate) keeps it one file name
        path.write_text(json.dumps(body["workflow"], ensure_ascii=False), encoding="utf-8")
        try:
            row = add_schedule(
                store.jobs,
                name,
                path,
                body["cron"],
                tz=body.get("tz") or "UTC",
                vars=body.get("vars") or {},
                priority=body.get("priority") or 0,
                catchup=body.get("catchup") or "latest",
                out=self.settings.home / "renders",
                policy=untrusted_policy(self.settings),
            )
        except FentaError as e:
            path.unlink(missing_ok=True)
            raise refused(e) from None
        return _schedule(row)

    def set_schedule_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Pause (False) or resume (True, from now: paused fire times are not caught up) a schedule."""
        from ..ops.schedules import set_enabled

        try:
            return _schedule(set_enabled(self.stores.get().jobs, name, enabled))
        except FentaError as e:
            raise refused(e) from None

    def run_schedule(self, name: str) -> dict[str, Any]:
        """Queue one job of the schedule now; its timing is unchanged."""
        from ..ops.schedules import run_now

        try:
            job_id = run_now(self.settings, self.stores.get().jobs, name)
        except FentaError as e:
            raise refused(e) from None
        return {"schedule": name, "job_id": job_id, "status": "queued"}

    def remove_schedule(self, name: str) -> None:
        from ..ops.schedules import remove_schedule

        try:
            remove_schedule(self.stores.get().jobs, name)
        except FentaError as e:
            raise refused(e) from None
        (self.settings.home / "serve" / "workflows" / f"{name}.json").unlink(missing_ok=True)

    # ------------------------------------------------------------ webhook endpoints and deliveries

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        """The receivers (never their secrets)."""
        from ..ops.webhooks import list_endpoints

        return [_endpoint(e) for e in list_endpoints(self.stores.get().jobs)]

    def webhook_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        from ..ops.webhooks import get_endpoint

        try:
            ep = get_endpoint(self.stores.get().jobs, endpoint_id)
        except FentaError as e:
            raise refused(e) from None
        if ep.id != endpoint_id:  # ids over HTTP are whole: no prefixes
            raise ServeError(f"no webhook endpoint '{endpoint_id}'", status=404, title="Not Found")
        return _endpoint(ep)

    def add_webhook(self, url: str, events: list[str] | None, secret: str | None) -> dict[str, Any]:
        """Add a receiver (public addresses only unless the operator allowed the range); the answer holds
        its secret, the only time it is shown."""
        from ..ops.webhooks import add_endpoint

        check_webhook_url(url, self.settings)
        try:
            ep = add_endpoint(
                self.stores.get().jobs,
                url,
                events=events,
                secret=secret,
                policy=untrusted_policy(self.settings),
            )
        except FentaError as e:
            raise refused(e) from None
        return _endpoint(ep, secret=ep.secret)

    def remove_webhook(self, endpoint_id: str) -> None:
        from ..ops.webhooks import remove_endpoint

        self.webhook_endpoint(endpoint_id)
        try:
            remove_endpoint(self.stores.get().jobs, endpoint_id)
        except FentaError as e:
            raise refused(e) from None

    def webhook_deliveries(self, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest deliveries (one per event and endpoint): state, attempts, the receiver's last HTTP
        status and error, times (never a body or a secret)."""
        from ..ops.webhooks import deliveries

        rows = deliveries(self.stores.get().jobs, status=status, limit=limit)
        for r in rows:
            for k in ("next_at", "created_at", "delivered_at"):
                r[k] = _when(r.get(k))
        return rows

    # ------------------------------------------------------------ usage and quotas

    def usage(self, days: int) -> dict[str, Any]:
        """Calls, quantity and cost by UTC day, provider and unit over the last `days` days."""
        from ..engine.usage import summarize

        rows = summarize(self.stores.get().jobs, days)
        return {"days": days, "rows": rows, "total_cost": round(sum(r["cost"] or 0 for r in rows), 6)}

    def quotas(self) -> dict[str, Any]:
        """Each limited resource: its limit, period, use so far, percentage and when it resets."""
        from ..ops import quotas as q

        store = self.stores.get().jobs
        return {"quotas": _quotas(q.status(store)), "resources": q.RESOURCES}

    def set_quota(self, resource: str, limit: float, per: str) -> dict[str, Any]:
        from ..ops import quotas as q

        store = self.stores.get().jobs
        try:
            q.set_limit(store, resource, limit, per)
        except FentaError as e:
            raise refused(e) from None
        return {"quotas": _quotas(q.status(store))}

    def remove_quota(self, resource: str) -> None:
        from ..ops import quotas as q

        try:
            removed = q.remove_limit(self.stores.get().jobs, resource)
        except FentaError as e:
            raise refused(e) from None
        if not removed:
            raise ServeError(f"'{resource}' has no limit", status=404, title="Not Found")
