"""Outgoing webhooks: Standard Webhooks v1 signing (checked with the `standardwebhooks` package), the
outbox fed from the event log, and delivery to a real receiver on 127.0.0.1 (retries, Retry-After,
410, redirects, timeouts). Retry waits are scaled down through FENTA_WEBHOOK_RETRY_SCALE."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from fenta.config import Settings
from fenta.engine.events import append_event
from fenta.engine.store import JobStore
from fenta.errors import WebhookError
from fenta.ops import webhooks as wh
from fenta.ops.webhooks.claims import claim_due

from .receiver import Receiver

VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": '{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def emit(store, type: str, job_id: str | None, data: dict) -> int:
    with store.write() as conn:
        return append_event(conn, type, job_id, data)


def completed(store, job_id="job-1") -> int:
    return emit(
        store,
        "job.completed",
        job_id,
        {"jobId": job_id, "videoUrl": "file:///tmp/v.mp4", "duration": 12.5, "cost": 0.0},
    )


# ------------------------------------------------------------------------------ signing


def test_the_signer_matches_the_standard_webhooks_test_vector():
    assert wh.sign(VECTOR["secret"], VECTOR["id"], VECTOR["timestamp"], VECTOR["body"]) == VECTOR["signature"]
    when = dt.datetime.fromtimestamp(VECTOR["timestamp"], dt.timezone.utc)
    assert Webhook(VECTOR["secret"]).sign(VECTOR["id"], when, VECTOR["body"]) == VECTOR["signature"]


def test_signed_headers_verify_with_the_package_for_any_body():
    secret = wh.generate_secret()
    for body in ['{"a":1}', '{"text":"Ünïcødé – 🐙"}', "{}"]:
        headers = wh.signed_headers(secret, "evt_7", int(time.time()), body.encode())
        assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
    other = wh.generate_secret()
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(other).verify(b"{}", wh.signed_headers(secret, "evt_7", int(time.time()), b"{}"))


def test_generated_secrets_are_whsec_and_24_to_64_random_bytes():
    s = wh.generate_secret()
    assert s.startswith("whsec_") and len(base64.b64decode(s[6:])) == 32
    assert wh.generate_secret() != s
    assert wh.check_secret(VECTOR["secret"]) == VECTOR["secret"]
    for bad in [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_!!!",
        "whsec_" + base64.b64encode(b"x" * 8).decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ]:
        with pytest.raises(WebhookError) as e:
            wh.check_secret(bad)
        assert e.value.field == "--secret" and e.value.exit_code == 2


def test_retry_schedule_and_jitter():
    assert wh.RETRY_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    rng = random.Random(1)
    for n, base in enumerate(wh.RETRY_SCHEDULE):
        for _ in range(50):
            d = wh.next_delay(n, rng=rng)
            assert 0.8 * base <= d <= 1.2 * base
    assert wh.next_delay(8) is None
    assert wh.next_delay(1, scale=0.001, rng=random.Random(2)) == pytest.approx(0.005, rel=0.21)


def test_retry_after_reads_seconds_and_http_dates():
    now = time.time()
    assert wh.retry_after_seconds("120", now) == 120
    date = dt.datetime.fromtimestamp(now + 90, dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert wh.retry_after_seconds(date, now) == pytest.approx(90, abs=1.5)
    assert wh.retry_after_seconds("soon", now) is None and wh.retry_after_seconds(None, now) is None


# ------------------------------------------------------------------------------ outbox


def test_events_reach_subscribed_endpoints_once_with_the_event_payload_as_data(store):
    all_default = wh.add_endpoint(store, "http://127.0.0.1:9/a")
    failures = wh.add_endpoint(store, "http://127.0.0.1:9/b", events=["job.failed,job.dead"])
    done = completed(store)
    emit(store, "job.progress", "job-1", {"jobId": "job-1", "progress": 0.5, "node": "x"})  # never sent
    dead = emit(store, "job.dead", "job-1", {"jobId": "job-1", "error": "boom"})
    assert wh.sync_outbox(store) == 2
    assert wh.sync_outbox(store) == 0  # the cursor moved
    rows = {(r["event_id"], r["endpoint_id"]): r for r in wh.deliveries(store)}
    assert set(rows) == {(done, all_default.id), (dead, failures.id)}
    body = json.loads(
        store.db.conn.execute("SELECT body FROM webhook_deliveries WHERE event_id = ?", (done,)).fetchone()[0]
    )
    assert set(body) == {"type", "timestamp", "data"} and body["type"] == "job.completed"
    assert body["data"] == {"jobId": "job-1", "videoUrl": "file:///tmp/v.mp4", "duration": 12.5, "cost": 0.0}
    assert body["timestamp"].endswith("Z")


def test_an_endpoint_gets_only_events_from_after_it_was_added(store):
    completed(store, "old")
    ep = wh.add_endpoint(store, "http://127.0.0.1:9/a")
    new = completed(store, "new")
    wh.sync_outbox(store)
    assert [(r["event_id"], r["endpoint_id"]) for r in wh.deliveries(store)] == [(new, ep.id)]


def test_bad_urls_and_event_names_are_refused_naming_the_field(store):
    with pytest.raises(WebhookError) as e:
        wh.add_endpoint(store, "ftp://example.com/x")
    assert e.value.field == "URL"
    with pytest.raises(WebhookError) as e:
        wh.add_endpoint(store, "https://example.com/x", events=["job.done"])
    assert e.value.field == "--events" and "job.completed" in str(e.value)


# ------------------------------------------------------------------------------ delivery to a real receiver


def test_500_twice_then_200_sends_the_same_webhook_id_three_times_and_ends_delivered(store, settings):
    with Receiver(answers=[500, 500, 200]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        event_id = completed(store)
        wh.flush(settings, job_id="job-1", wait=5)
    assert [r.webhook_id for r in rx.requests] == [f"evt_{event_id}"] * 3
    assert all(r.verified is not None for r in rx.requests), [r.error for r in rx.requests]
    assert len({r.headers["webhook-signature"] for r in rx.requests}) >= 1
    assert rx.requests[0].verified["data"]["jobId"] == "job-1"
    (row,) = wh.deliveries(store)
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["last_status"] == 200
    # the waits followed the (scaled) schedule: ~5 ms, then ~300 ms
    gaps = [b.at - a.at for a, b in zip(rx.requests, rx.requests[1:])]
    assert gaps[1] >= 0.2


def test_410_disables_the_endpoint_and_nothing_more_is_sent_to_it(store, settings):
    with Receiver(answers=[410]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        first = completed(store, "a")
        wh.flush(settings, wait=2)
        completed(store, "b")
        wh.flush(settings, wait=0.5)
    assert [r.webhook_id for r in rx.requests] == [f"evt_{first}"]
    got = wh.get_endpoint(store, ep.id)
    assert got.enabled is False and "410" in got.disabled_reason
    (row,) = wh.deliveries(store)
    assert row["status"] == "failed" and "disabled" in row["last_error"]


def test_429_and_503_honour_retry_after(store, settings):
    with Receiver(answers=[(429, {"Retry-After": "120"})]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store)
        wh.sync_outbox(store)
        t0 = time.time()
        (a,) = wh.deliver_due(store, settings)
    assert a.status == "pending" and a.http_status == 429
    assert a.next_at - t0 == pytest.approx(120, abs=2)  # not the scaled 5 ms of the schedule

    date = dt.datetime.fromtimestamp(time.time() + 60, dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    with Receiver(answers=[(503, {"Retry-After": date})]) as rx:
        wh.remove_endpoint(store, ep.id)
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store, "job-2")
        wh.sync_outbox(store)
        t0 = time.time()
        (a,) = wh.deliver_due(store, settings)
    assert a.status == "pending" and a.next_at - t0 == pytest.approx(60, abs=2)


def test_redirects_are_not_followed(store, settings):
    with Receiver(answers=[(302, {"Location": "/elsewhere"})]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store)
        wh.sync_outbox(store)
        (a,) = wh.deliver_due(store, settings)
        time.sleep(0.1)
    assert a.status == "pending" and "redirects are not followed" in a.error
    assert [r.path for r in rx.requests] == ["/hook"]


def test_a_receiver_that_does_not_answer_in_time_is_retried_later(store, settings):
    with Receiver(answers=[("sleep", 2)]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store)
        wh.sync_outbox(store)
        t0 = time.time()
        (a,) = wh.deliver_due(store, settings, timeout=0.3)
        took = time.time() - t0
    assert took < 1.5
    assert a.status == "pending" and "no answer within 0.3 s" in a.error


def test_after_the_last_attempt_the_delivery_is_failed_and_listed(store, monkeypatch):
    monkeypatch.setenv("FENTA_WEBHOOK_RETRY_SCALE", "0")
    settings = Settings.from_env()
    with Receiver(answers=[500] * 20) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store)
        wh.flush(settings, wait=5)
    assert len(rx.requests) == len(wh.RETRY_SCHEDULE) == 8
    (row,) = wh.deliveries(store, status="failed")
    assert row["attempts"] == 8 and "gave up after 8 attempts" in row["last_error"]
    # redeliver: a fresh set of attempts, the same webhook-id
    with Receiver(answers=[200]) as rx2:
        store.db.conn.execute("UPDATE webhook_endpoints SET url = ?", (rx2.url,))
        store.db.conn.execute("UPDATE webhook_deliveries SET url = ?", (rx2.url,))
        rx2.secret = ep.secret
        ids = wh.redeliver(store, f"evt_{row['event_id']}")
        (a,) = wh.deliver_due(store, settings, ids=ids)
    assert a.status == "delivered" and rx2.requests[0].webhook_id == f"evt_{row['event_id']}"


def test_a_down_receiver_costs_at_most_the_wait(store, settings):
    ep = wh.add_endpoint(store, "http://127.0.0.1:9/nothing-listens-here")
    completed(store)
    t0 = time.time()
    attempts = wh.flush(settings, job_id="job-1", wait=0.5)
    assert time.time() - t0 < 3
    assert attempts and all(a.status == "pending" for a in attempts)
    (row,) = wh.deliveries(store)
    assert row["status"] == "pending" and row["endpoint_id"] == ep.id


def test_two_processes_never_send_the_same_attempt(store, settings):
    """A claimed row is leased: a second deliverer finds nothing due while the first holds it."""
    with Receiver(answers=[200]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store)
        wh.sync_outbox(store)
        now, lease = time.time(), settings.lease_seconds
        claimed = claim_due(store, now, lease=lease)
        assert len(claimed) == 1
        assert claim_due(store, now, lease=lease) == []
        taken_over = claim_due(store, now + lease + 1, lease=lease)  # a lapsed lease (its process died)
        assert [r.id for r in taken_over] == [claimed[0].id]
        assert taken_over[0].claim != claimed[0].claim


def test_the_secret_is_never_written_outside_the_endpoints_table(store, settings):
    with Receiver(answers=[200]) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        completed(store)
        wh.flush(settings, wait=2)
        assert rx.requests and ep.secret.encode() not in rx.requests[0].body
        assert ep.secret[6:] not in json.dumps(rx.requests[0].headers)
    assert ep.secret not in repr(ep) and "secret" not in ep.public()
    for (table,) in store.db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'webhook_endpoints'"
    ).fetchall():
        for row in store.db.conn.execute(f"SELECT * FROM {table}"):
            assert ep.secret not in json.dumps(row, default=str), table
    assert not any(ep.secret in p.read_text(errors="replace") for p in settings.home.rglob("*.log"))


# ------------------------------------------------------------------------------ CLI


def test_cli_add_list_test_deliveries_redeliver_deliver_remove(cli, settings):
    with Receiver(answers=[200] * 10) as rx:
        r = cli("webhooks", "add", rx.url, "--json")
        assert r.exit_code == 0, r.output
        ep = json.loads(r.output)
        assert ep["secret"].startswith("whsec_")
        rx.secret = ep["secret"]

        r = cli("webhooks", "list", "--json")
        (listed,) = json.loads(r.output)
        assert listed["id"] == ep["id"] and "secret" not in listed and ep["secret"] not in r.output

        r = cli("webhooks", "test", ep["id"])
        assert r.exit_code == 0, r.output
        assert rx.verified("webhook.test")[0]["data"] == {"endpointId": ep["id"]}

        store = JobStore(settings.db_path)
        try:
            event_id = completed(store)
        finally:
            store.close()
        r = cli("webhooks", "deliver", "--wait", "1")
        assert r.exit_code == 0 and "delivered" in r.output, r.output
        r = cli("webhooks", "deliveries", "--json")
        (row,) = json.loads(r.output)
        assert row["status"] == "delivered" and row["webhook_id"] == f"evt_{event_id}"
        r = cli("webhooks", "redeliver", str(event_id))
        assert r.exit_code == 0 and "delivered" in r.output, r.output
        assert [
            q.webhook_id for q in rx.requests if q.verified and q.verified["type"] == "job.completed"
        ] == [f"evt_{event_id}"] * 2

    r = cli("webhooks", "deliveries", "--status", "failed")
    assert r.exit_code == 0 and "no deliveries" in r.output
    r = cli("webhooks", "remove", ep["id"])
    assert r.exit_code == 0 and ep["id"] in r.output
    r = cli("webhooks", "remove", ep["id"])
    assert r.exit_code == 2 and "no webhook endpoint" in r.output


def test_cli_prints_a_generated_secret_once_and_refuses_bad_input(cli):
    r = cli("webhooks", "add", "https://example.com/hook")
    assert r.exit_code == 0 and "secret: whsec_" in r.output
    secret = r.output.split("secret: ")[1].split()[0]
    assert secret not in cli("webhooks", "list").output
    r = cli("webhooks", "add", "https://example.com/hook", "--secret", "nope")
    assert r.exit_code == 2 and "--secret" in r.output
    r = cli("webhooks", "add", "https://example.com/hook", "--events", "job.finished")
    assert r.exit_code == 2 and "--events" in r.output
    r = cli("webhooks", "redeliver", "12345")
    assert r.exit_code == 2 and "no event 12345" in r.output
