"""The provider clients follow the one retry policy (`fenta.retry.RetryPolicy`): what is retried, how
often, how long it waits, checked through `ProviderClient` against a local fake server. The arithmetic
of the waits is checked on the policy itself in tests/test_retry.py.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from pathlib import Path
from typing import Any

import pytest

from fenta.config import Settings
from fenta.errors import AuthError, ProviderError, RateLimitError
from fenta.providers import ProviderClient
from fenta.retry import RETRY_STATUSES
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
    # A date 2 minutes ahead is over the 60 s the client sleeps through: it gives up at once and says
    # how long.
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
    fake.fail_next(
        Reply(
            503,
            {"error": "busy"},
            headers={"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)},
        )
    )
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
