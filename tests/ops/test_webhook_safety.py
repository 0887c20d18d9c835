"""Webhooks that cannot be misused or stalled: URLs checked when added and when sent, one bad endpoint
never blocks the others, bounded numbers, and two delivery processes never send a row twice nor undo
each other's outcome. Receivers verify every request with the `standardwebhooks` package."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time

import pytest

from fenta.config import Settings
from fenta.errors import WebhookError
from fenta.ops import webhooks as wh
from fenta.policy import Policy

from .receiver import Receiver
from .test_webhooks import completed

GOOD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _stored_endpoint(store, ep_id: str, url: str, *, secret: str = GOOD_SECRET, trusted: int = 1) -> None:
    """An endpoint as an older version (or a bug) may have left it: written to the table directly."""
    store.db.conn.execute(
        "INSERT INTO webhook_endpoints"
        " (id, url, secret, events, enabled, after_event_id, created_at, trusted)"
        " VALUES (?, ?, ?, ?, 1, 0, ?, ?)",
        (ep_id, url, secret, json.dumps(list(wh.DEFAULT_EVENTS)), time.time() - 60, trusted),
    )


# ------------------------------------------------------------------------------ URLs when added


@pytest.mark.parametrize(
    "url,said",
    [
        ("http://hooks..example.com/x", "empty label"),
        ("https://exa mple.com/x", "space"),
        ("https://example.com:99999/x", "port 99999"),
        ("http://[::1/x", "brackets"),
    ],
)
def test_webhooks_add_refuses_a_bad_url_in_one_line(cli, url, said):
    r = cli("webhooks", "add", url)
    assert r.exit_code == 2, r.output
    (line,) = r.output.strip().splitlines()
    assert said in line and "URL" in line, line
    assert json.loads(cli("webhooks", "list", "--json").output) == []


def test_the_local_user_may_add_a_loopback_receiver_and_an_untrusted_entry_point_may_not(store, monkeypatch):
    assert wh.add_endpoint(store, "http://127.0.0.1:9/hook").trusted is True
    for url in (
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/hook",
    ):
        with pytest.raises(WebhookError) as e:
            wh.add_endpoint(store, url, policy=Policy.untrusted(Settings.from_env()))
        assert e.value.field == "URL" and "FENTA_ALLOW_PRIVATE_URLS" in str(e.value)
    with pytest.raises(WebhookError, match="is a private address"):
        wh.check_url(
            "https://hooks.example/x", Policy.untrusted(Settings.from_env()), lambda host, port: ["10.0.0.5"]
        )
    monkeypatch.setenv("FENTA_ALLOW_PRIVATE_URLS", "127.0.0.0/8")
    ep = wh.add_endpoint(store, "http://127.0.0.1:9/hook", policy=Policy.untrusted(Settings.from_env()))
    assert ep.trusted is False and wh.get_endpoint(store, ep.id).trusted is False


# ------------------------------------------------------------ one bad endpoint never blocks the others


def test_an_endpoint_with_an_invalid_stored_url_never_blocks_a_good_one(store, settings, cli):
    _stored_endpoint(store, "ep_broken", "http://hooks..example.com/x")  # added before URLs were checked
    with Receiver() as rx:
        good = wh.add_endpoint(store, rx.url)
        rx.secret = good.secret
        events = [completed(store, f"job-{n}") for n in range(3)]
        wh.flush(settings, wait=2)
    assert sorted(r.webhook_id for r in rx.requests) == sorted(f"evt_{e}" for e in events)
    assert all(r.verified is not None for r in rx.requests), [r.error for r in rx.requests]
    broken = [d for d in wh.deliveries(store) if d["endpoint_id"] == "ep_broken"]
    assert len(broken) == 3 and {d["status"] for d in broken} == {"failed"}
    assert all("is not a valid URL" in d["last_error"] and "empty label" in d["last_error"] for d in broken)
    shown = cli("webhooks", "deliveries", "--status", "failed", "--json")
    assert all("empty label" in d["last_error"] for d in json.loads(shown.output))


def test_a_corrupt_secret_fails_only_its_own_deliveries_with_the_reason(store, settings):
    _stored_endpoint(store, "ep_corrupt", "http://127.0.0.1:9/hook", secret="whsec_!!!not-base64")
    with Receiver() as rx:
        good = wh.add_endpoint(store, rx.url)
        rx.secret = good.secret
        events = [completed(store, f"job-{n}") for n in range(3)]
        attempts = wh.flush(settings, wait=0)  # one whole pass, however slow the machine
    assert sorted(r.webhook_id for r in rx.requests) == sorted(f"evt_{e}" for e in events)
    corrupt = [a for a in attempts if a.endpoint_id == "ep_corrupt"]
    assert corrupt and all(
        a.status == "pending" and a.error and "base64" in a.error.lower() for a in corrupt
    ), corrupt


def test_an_untrusted_endpoint_is_checked_again_when_sent(store, settings):
    """Added while its name pointed somewhere public; now it points at the machine itself."""
    with Receiver() as rx:
        _stored_endpoint(store, "ep_rebound", rx.url, trusted=0)
        event = completed(store)
        wh.flush(settings, wait=0.3)
        time.sleep(0.1)
    assert rx.requests == []
    (row,) = wh.deliveries(store, event_id=event)
    assert row["status"] == "pending" and "127.0.0.1 is a loopback address" in row["last_error"]


def test_webhooks_test_on_an_invalid_stored_url_says_why_in_one_line(cli, store):
    _stored_endpoint(store, "ep_broken", "http://hooks..example.com/x")
    r = cli("webhooks", "test", "ep_broken")
    assert r.exit_code == 1
    (line,) = r.output.strip().splitlines()
    assert "failed" in line and "is not a valid URL" in line, line


# ------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    "args", [("redeliver", "99999999999999999999999"), ("deliveries", "--limit", "99999999999999999999")]
)
def test_numbers_beyond_their_range_are_one_line_and_exit_2(cli, args):
    r = cli("webhooks", *args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output.lower()
    (line,) = r.output.strip().splitlines()
    assert "too large for an event id" in line or "--limit" in line, r.output


# ------------------------------------------------------------------------------ two delivery processes


def _deliverers(n: int, wait: float, env: dict[str, str]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "fenta", "webhooks", "deliver", "--wait", str(wait)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(n)
    ]


def _two_deliverers_over_slow_rows(
    store, rows: int, sleep: float, env: dict[str, str], wait: float
) -> tuple[Receiver, list[str]]:
    with Receiver(answers=[("sleep", sleep)] * (3 * rows)) as rx:
        ep = wh.add_endpoint(store, rx.url)
        rx.secret = ep.secret
        events = [completed(store, f"job-{n}") for n in range(rows)]
        wh.sync_outbox(store)
        (first,) = _deliverers(1, wait, env)
        rx.wait_for(1, timeout=30)  # the first holds a row in flight before the second starts
        (second,) = _deliverers(1, wait, env)
        outputs = [p.communicate(timeout=wait + 60)[0] for p in (first, second)]
    counts = collections.Counter(r.webhook_id for r in rx.requests)
    assert counts == {f"evt_{e}": 1 for e in events}, (counts, outputs)
    assert all(r.verified is not None for r in rx.requests)
    listed = wh.deliveries(store, limit=rows * 2)
    assert [(d["status"], d["attempts"]) for d in listed] == [("delivered", 1)] * rows
    return rx, outputs


def test_two_processes_share_slow_deliveries_and_send_each_once_even_past_the_lease(store, monkeypatch):
    """Each request outlasts the lease: the sender keeps renewing it, so the other process leaves that
    row alone and takes the next one."""
    monkeypatch.setenv("FENTA_LEASE_SECONDS", "0.6")
    monkeypatch.setenv("FENTA_HEARTBEAT_SECONDS", "0.1")
    _, outputs = _two_deliverers_over_slow_rows(store, rows=6, sleep=1.0, env=dict(os.environ), wait=30)
    assert all("delivered" in out for out in outputs), outputs  # both took part


@pytest.mark.slow
def test_two_processes_over_twenty_slow_rows_deliver_each_exactly_once_and_it_stays_delivered(store):
    """Issue 23's race with the default lease: 20 rows, each answered after 3.5 s (70 s in all, more
    than a claim of many rows would hold)."""
    _two_deliverers_over_slow_rows(store, rows=20, sleep=3.5, env=dict(os.environ), wait=150)
