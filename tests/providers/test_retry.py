"""The one retry policy (`fenta.providers.RetryPolicy`): what is retried, how often, how long it waits.

HTTP behaviour is checked through `ProviderClient` against a local fake server; the arithmetic of the
waits directly on the policy.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fenta.config import Settings
from fenta.errors import AuthError, ProviderError, RateLimitError
from fenta.providers import NOT_PROCESSED_STATUSES, RETRY_STATUSES, ProviderClient, Retry, RetryPolicy, parse_retry_after
from tests.fakes._server import FakeServer, Reply


class _Client(ProviderClient):
    name = "test"
    title = "Test"


@pytest.fixture(scope="module")
def server():
    s = FakeServer()
    s.route("GET", r"/ok", lambda req, m: Reply(200, {"ok": True}))
    s.route("GET", r"/file", lambda req, m: Reply(200, b"\x00" * 1000, headers={"Content-Type": "video/mp4"}))
    with s:
        yield s


@pytest.fixture
def fake(server):
    with server.lock:
        server.requests.clear()
        server.faults.clear()
    return server


def _call(fake: FakeServer, fn, **client_kw) -> Any:
    async def main():
        settings = Settings.from_env()
        settings.urls["test"] = fake.url
        settings.keys["test"] = "test-key-123"
        client = _Client(settings, **client_kw)
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.01")


def _get(client: ProviderClient):
    return client.get_json("/ok")


# -- over HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_every_shared_retryable_status_is_retried_once_and_recovers(fake, status):
    fake.fail_next(Reply(status, {"error": "busy"}))
    assert _call(fake, _get) == {"ok": True}
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 410, 413, 422, 501, 505])
def test_non_retryable_statuses_are_not_retried(fake, status):
    fake.fail_next(Reply(status, {"error": "no"}), times=3)
    with pytest.raises(ProviderError) as e:
        _call(fake, _get)
    assert len(fake.requests) == 1 and e.value.status == status
    assert isinstance(e.value, AuthError) == (status in (401, 403))


def test_attempts_are_bounded(fake):
    fake.fail_next(Reply(503, {"error": "down"}), times=10)
    with pytest.raises(ProviderError, match="server error"):
        _call(fake, _get)
    assert len(fake.requests) == 3
    fake.requests.clear()
    fake.faults.clear()
    fake.fail_next(Reply(503, {"error": "down"}), times=10)
    with pytest.raises(ProviderError):
        _call(fake, _get, max_attempts=5)
    assert len(fake.requests) == 5


def test_retry_after_seconds_is_honoured(fake, monkeypatch):
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "0.2")  # Retry-After: 1 -> 0.2 s
    fake.fail_next(Reply(429, {"error": "slow down"}, headers={"Retry-After": "1"}))
    _call(fake, _get)
    first, second = fake.requests
    assert second.at - first.at >= 0.18


def test_retry_after_as_an_http_date_is_honoured(fake, monkeypatch):
    # A date 2 minutes ahead is over the 60 s the client sleeps through: it gives up at once and says how long.
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    fake.fail_next(Reply(429, {"error": "slow down"}, headers={"Retry-After": when}), times=3)
    with pytest.raises(RateLimitError) as e:
        _call(fake, _get)
    assert len(fake.requests) == 1
    assert 115 <= e.value.retry_after <= 121 and "retry in" in str(e.value)
    # A date a moment ahead is slept through (scale 1 here: the date's own resolution is a second).
    monkeypatch.setenv("FENTA_BACKOFF_SCALE", "1")
    fake.requests.clear()
    fake.faults.clear()
    fake.fail_next(Reply(503, {"error": "busy"}, headers={"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}))
    t0 = time.monotonic()
    assert _call(fake, _get) == {"ok": True}
    assert len(fake.requests) == 2 and time.monotonic() - t0 >= 0.5


def test_a_402_with_retry_after_is_a_budget_exhausted_for_now(fake):
    fake.fail_next(Reply(402, {"error": "in-flight limit"}, headers={"Retry-After": "1"}))
    assert _call(fake, _get) == {"ok": True}
    assert len(fake.requests) == 2


def test_downloads_follow_the_same_policy(fake, tmp_path: Path):
    fake.fail_next(Reply(503, {"error": "busy"}), path_contains="/file")
    assert _call(fake, lambda c: c.download(f"{fake.url}/file", tmp_path / "a.mp4")) == 1000
    fake.fail_next(Reply(404, {"error": "gone"}), times=3, path_contains="/file")
    with pytest.raises(ProviderError, match="HTTP 404"):
        _call(fake, lambda c: c.download(f"{fake.url}/file", tmp_path / "b.mp4"))
    assert len(fake.requests_to("/file")) == 3 and not (tmp_path / "b.mp4").exists()


# -- the policy itself ----------------------------------------------------------------------


def test_jitter_stays_within_its_bounds():
    p = RetryPolicy(base=1.0, jitter=0.5, cap=5.0)
    for attempt, (low, high) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 4: (2.5, 5.0), 9: (2.5, 5.0)}.items():
        assert p.backoff(attempt) == (low, high)
        waits = [p.delay(attempt) for _ in range(200)]
        assert all(low <= w <= high for w in waits)
        assert max(waits) - min(waits) > (high - low) / 4  # really random, not a constant
    assert {RetryPolicy(base=1.0, jitter=0).delay(2) for _ in range(20)} == {2.0}
    assert all(0 <= RetryPolicy(base=1.0, jitter=1).delay(1) <= 1.0 for _ in range(50))
    scaled = RetryPolicy(base=1.0, scale=0.1)
    assert all(0.05 <= scaled.delay(1) <= 0.1 for _ in range(50))
    assert scaled.delay(1, retry_after=3) == pytest.approx(0.3)


def test_shared_statuses_and_the_narrower_set_for_paid_requests():
    p = RetryPolicy()
    assert RETRY_STATUSES == {408, 425, 429, 500, 502, 503, 504}
    assert all(p.retryable_status(s) for s in RETRY_STATUSES)
    assert not any(p.retryable_status(s) for s in (400, 401, 402, 403, 404, 422, 501, 520))
    assert p.retryable_status(402, retry_after=1.0)
    # A request that costs money is repeated only on answers that say it was not acted on.
    assert NOT_PROCESSED_STATUSES < RETRY_STATUSES
    assert [s for s in sorted(RETRY_STATUSES) if p.retryable_status(s, idempotent=False)] == [408, 425, 429, 503]
    assert not p.retryable_status(402, retry_after=1.0, idempotent=False)


def test_parse_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0 and parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert 28 <= parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) <= 31
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go now
    assert parse_retry_after(None) is None and parse_retry_after("") is None and parse_retry_after("soon") is None


def test_run_bounds_attempts_and_raises_the_last_error():
    calls: list[int] = []

    async def attempt(n: int) -> str:
        calls.append(n)
        raise Retry(ValueError(f"failed {n}"))

    with pytest.raises(ValueError, match="failed 4"):
        asyncio.run(RetryPolicy(attempts=4, base=0).run(attempt))
    assert calls == [1, 2, 3, 4]


def test_run_stops_at_once_on_other_errors_and_on_a_too_long_retry_after():
    calls: list[int] = []

    async def refused(n: int) -> str:
        calls.append(n)
        raise KeyError("no")

    with pytest.raises(KeyError):
        asyncio.run(RetryPolicy(base=0).run(refused))

    async def later(n: int) -> str:
        calls.append(n)
        raise Retry(TimeoutError("come back in an hour"), retry_after=3600)

    with pytest.raises(TimeoutError):
        asyncio.run(RetryPolicy(base=0, max_retry_after=60).run(later))
    assert calls == [1, 1]


def test_listed_exceptions_are_retried_as_they_are():
    calls: list[int] = []

    async def flaky(n: int) -> str:
        calls.append(n)
        if n < 3:
            raise ConnectionError(f"down {n}")
        return "spoken"

    assert asyncio.run(RetryPolicy(base=0, exceptions=(ConnectionError,)).run(flaky)) == "spoken"
    calls.clear()

    async def down(n: int) -> str:
        calls.append(n)
        raise ConnectionError(f"down {n}")

    with pytest.raises(ConnectionError, match="down 2"):
        asyncio.run(RetryPolicy(attempts=2, base=0, exceptions=(ConnectionError,)).run(down))
    assert calls == [1, 2]


def test_waits_between_attempts_follow_the_backoff():
    stamps: list[float] = []

    async def attempt(n: int) -> str:
        stamps.append(time.monotonic())
        if n < 3:
            raise Retry(RuntimeError("again"))
        return "done"

    assert asyncio.run(RetryPolicy(base=0.1, jitter=0).run(attempt)) == "done"
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19
