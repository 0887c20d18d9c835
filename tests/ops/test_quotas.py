"""Quotas: limits per UTC day or month, the check before a job, usage tracked from the event log after
each job, and quota.warning at 80 % and 100 % once per period and resource."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fenta.config import Settings
from fenta.engine.events import append_event, iso, read_events
from fenta.engine.leases import Lease
from fenta.engine.store import JobStore
from fenta.errors import QuotaError
from fenta.ops import quotas as q

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("FENTA_ORG_ID", "acme")
    return Settings.from_env()


@pytest.fixture
def store(settings):
    s = JobStore(settings.db_path)
    yield s
    s.close()


def finish(store, job_id: str, duration: float = 30.0) -> None:
    """A job.completed event, as the engine appends it."""
    with store.write() as conn:
        append_event(
            conn,
            "job.completed",
            job_id,
            {"jobId": job_id, "videoUrl": f"file:///r/{job_id}.mp4", "duration": duration, "cost": 0.0},
        )


def warnings(store) -> list[dict]:
    return [(e.job_id, e.data) for e in read_events(store, types=["quota.warning"])]


def test_periods_are_utc_days_and_months():
    assert q.period_bounds("day", NOW) == (
        dt.datetime(2026, 3, 14, tzinfo=UTC).timestamp(),
        dt.datetime(2026, 3, 15, tzinfo=UTC).timestamp(),
    )
    assert q.period_bounds("month", NOW) == (
        dt.datetime(2026, 3, 1, tzinfo=UTC).timestamp(),
        dt.datetime(2026, 4, 1, tzinfo=UTC).timestamp(),
    )
    dec = dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert q.period_bounds("month", dec)[1] == dt.datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def test_set_replace_and_remove_limits(store):
    q.set_limit(store, "jobs", 2, "day")
    q.set_limit(store, "cost_usd", 5.5, "month")
    q.set_limit(store, "jobs", 3, "month")
    assert q.limits(store) == {"cost_usd": ("month", 5.5), "jobs": ("month", 3.0)}
    assert q.remove_limit(store, "jobs") is True and q.remove_limit(store, "jobs") is False
    for args, field in [
        (("frames", 1, "day"), "RESOURCE"),
        (("jobs", 1, "week"), "--per"),
        (("jobs", -1, "day"), "LIMIT"),
    ]:
        with pytest.raises(QuotaError) as e:
            q.set_limit(store, *args)
        assert e.value.field == field and e.value.exit_code == 2


def test_usage_is_recorded_once_per_finished_job_from_the_event_log(store, settings):
    finish(store, "a", duration=90)
    finish(store, "b", duration=30)
    assert q.track(store, settings) == 2
    assert q.track(store, settings) == 0  # the cursor moved
    with store.write() as conn:  # even a replayed event is not counted twice
        conn.execute("UPDATE cursors SET event_id = 0 WHERE name = 'quotas'")
    assert q.track(store, settings) == 0
    start, _ = q.period_bounds("day", q.time.time())
    assert q.used(store, "jobs", start) == 2
    assert q.used(store, "render_minutes", start) == pytest.approx(2.0)
    rows = list(store.db.query("SELECT job_id, provider, units, quantity FROM usage_records ORDER BY id"))
    assert rows[0] == {"job_id": "a", "provider": "fenta", "units": "jobs", "quantity": 1.0}


def test_spend_and_credits_come_from_the_nodes_usage_records(store):
    store.record_usage(provider="kie", units="credits", quantity=40, cost=0.2, job_id="a")
    store.record_usage(provider="openrouter", units="tokens", quantity=1000, cost=0.01, job_id="a")
    start, _ = q.period_bounds("day", q.time.time())
    assert q.used(store, "kie_credits", start) == 40
    assert q.used(store, "cost_usd", start) == pytest.approx(0.21)


def test_check_adds_the_estimate_to_what_was_used(store, settings):
    q.set_limit(store, "jobs", 2, "day")
    q.check(store, {"jobs": 1})
    finish(store, "a")
    finish(store, "b")
    q.track(store, settings)
    with pytest.raises(QuotaError) as e:
        q.check(store, {"jobs": 1})
    msg = str(e.value)
    assert e.value.exit_code == 2 and e.value.resource == "jobs" and e.value.used == 2 and e.value.limit == 2
    assert "jobs used 2 of 2 jobs today" in msg and "nothing was run" in msg and "\n" not in msg


def _running(store, settings, job_id: str) -> None:
    """A job running under a live lease of this process."""
    store.create_job(job_id=job_id, name="w", workflow_hash="h", file=None, document={}, vars={}, out_dir=".")
    store.update_job(job_id, status="running", **Lease.new(job_id).fields(settings))


def test_jobs_holding_a_reservation_count_before_they_are_recorded(store, settings):
    q.set_limit(store, "jobs", 1, "day")
    _running(store, settings, "r1")
    store.reserve_quota("r1", {"jobs": 1})
    with pytest.raises(QuotaError, match="jobs used 1 of 1 jobs today, 1 of them held by jobs running now"):
        q.check(store, {"jobs": 1})
    q.check(store, {"jobs": 1}, job_id="r1")  # the job being admitted is not counted twice
    store.update_job("r1", lease_until=iso(0))  # its process died: what it held is free again
    q.check(store, {"jobs": 1})


def test_a_resource_without_an_estimate_is_refused_once_its_period_is_used_up(store, settings):
    q.set_limit(store, "render_minutes", 1, "day")
    finish(store, "a", duration=30)
    q.track(store, settings)
    q.check(store, {"render_minutes": 0})  # half used: allowed
    finish(store, "b", duration=30)
    q.track(store, settings)
    with pytest.raises(QuotaError) as e:
        q.check(store, {"render_minutes": 0})
    assert "render_minutes used 1 of 1 minutes" in str(e.value)


def test_cost_limit_counts_the_estimate(store):
    q.set_limit(store, "cost_usd", 1.0, "month")
    store.record_usage(provider="kie", units="credits", quantity=100, cost=0.9)
    q.check(store, {"cost_usd": 0.05})
    with pytest.raises(QuotaError) as e:
        q.check(store, {"cost_usd": 0.2})
    assert "needs about 0.20 more" in str(e.value)


def test_a_warning_at_100_percent_once_per_period(store, settings):
    q.set_limit(store, "jobs", 2, "day")
    finish(store, "a")
    q.track(store, settings)
    assert warnings(store) == []  # 50 %
    finish(store, "b")
    q.track(store, settings)
    assert warnings(store) == [
        (None, {"orgId": "acme", "resource": "jobs", "percentage": 100})
    ]  # 50 -> 100: one warning
    q.track(store, settings)
    q.warn(store, settings)
    assert len(warnings(store)) == 1
    # the next day is a new period
    tomorrow = q.time.time() + 86400
    store.db.conn.execute("UPDATE usage_records SET created_at = ?", (tomorrow,))
    assert q.warn(store, settings, now=tomorrow) == [{"orgId": "acme", "resource": "jobs", "percentage": 100}]


def test_warnings_at_80_and_100_percent_when_the_numbers_cross_them(store, settings):
    q.set_limit(store, "jobs", 5, "day")
    for job in "abc":
        finish(store, job)
    q.track(store, settings)
    assert warnings(store) == []  # 60 %
    finish(store, "d")
    q.track(store, settings)
    assert [d["percentage"] for _, d in warnings(store)] == [80]
    finish(store, "e")
    q.track(store, settings)
    assert [d["percentage"] for _, d in warnings(store)] == [80, 100]
    (event,) = read_events(store, types=["quota.warning"], limit=1)
    assert set(event.data) == {"orgId", "resource", "percentage"} and event.job_id is None


def test_cli_set_show_remove(cli, settings):
    r = cli("quota", "set", "jobs", "2", "--per", "day")
    assert r.exit_code == 0 and "jobs at most 2 jobs per day" in r.output
    assert cli("quota", "set", "cost_usd", "12.5").exit_code == 0
    rows = {r["resource"]: r for r in json.loads(cli("quota", "--json").output)}
    assert rows["jobs"]["limit"] == 2 and rows["jobs"]["period"] == "day" and rows["jobs"]["used"] == 0
    assert rows["cost_usd"]["period"] == "month" and rows["cost_usd"]["resets_at"].endswith("T00:00:00.000Z")
    out = cli("quota").output
    assert "jobs" in out and "cost_usd" in out and "UTC" in out
    r = cli("quota", "set", "frames", "3")
    assert r.exit_code == 2 and "unknown quota resource 'frames'" in r.output
    r = cli("quota", "set", "jobs", "3", "--per", "week")
    assert r.exit_code == 2 and "--per" in r.output
    assert cli("quota", "remove", "jobs").exit_code == 0
    assert [r["resource"] for r in json.loads(cli("quota", "--json").output)] == ["cost_usd"]
