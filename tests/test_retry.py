"""fenta.retry: the one retry policy. The schedules and their jitter, Retry-After, what is retryable,
a job's retry budget (the same default for every way a job starts), and that nothing else in the
package computes any of it.

The waits of provider clients over HTTP are in tests/providers/test_retry.py, job retries through the
queue in tests/test_jobs_queue.py, webhook retries against a receiver in tests/ops/test_webhooks.py.
"""

from __future__ import annotations

import ast
import asyncio
import email.utils
import random
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

import fenta
import tests.engine.conftest  # noqa: F401  (registers Test.Sleep: returns its label at once)
from fenta.config import Settings
from fenta.errors import FentaError, NodeError, PathError, ProviderError, RateLimitError, SyncError
from fenta.retry import (
    DEFAULT_MAX_RETRIES,
    MAX_RETRY_AFTER,
    NOT_PROCESSED_STATUSES,
    RETRY_STATUSES,
    WEBHOOK_SCHEDULE,
    JobRetries,
    Retry,
    RetryPolicy,
    is_retryable,
    job_retries,
    job_retry_delay,
    parse_retry_after,
    retryable_status,
    webhook_delay,
)
from tests.fakes.supabase import supabase_fake  # noqa: F401

PACKAGE = Path(fenta.__file__).resolve().parent
DRAWS = 2000


# ---------------------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("retry,low,high", [(1, 10, 20), (2, 20, 40), (3, 40, 80), (4, 80, 160)])
def test_job_retries_wait_equal_jitter_of_a_doubling_base(retry, low, high):
    rng = random.Random(23)
    waits = [job_retry_delay(retry, 10, rng=rng) for _ in range(DRAWS)]
    assert all(low <= w <= high for w in waits)
    # Spread over the whole range, not bunched: each quarter of it gets its share of the draws.
    quarters = [
        sum(low + q * (high - low) / 4 <= w < low + (q + 1) * (high - low) / 4 for w in waits)
        for q in range(4)
    ]
    assert all(q > DRAWS / 4 * 0.8 for q in quarters), quarters


def test_a_job_waits_for_a_longer_retry_after_and_its_own_backoff_when_that_is_longer():
    assert job_retry_delay(1, 10, retry_after=120) == 120
    assert all(10 <= job_retry_delay(1, 10, retry_after=1) <= 20 for _ in range(100))


def test_the_same_seed_gives_the_same_waits():
    assert [job_retry_delay(2, 10, rng=random.Random(7)) for _ in range(3)] == [
        job_retry_delay(2, 10, rng=random.Random(7))
    ] * 3
    first = [webhook_delay(n, rng=random.Random(7)) for n in range(8)]
    assert first == [webhook_delay(n, rng=random.Random(7)) for n in range(8)]


def test_a_job_budget_allows_exactly_its_retries_with_the_setting_as_the_base(tmp_path):
    settings = Settings(home=tmp_path, retry_base_seconds=10)
    budget = JobRetries(max_retries=2)
    assert [budget.wait_before(n, settings) is not None for n in (1, 2, 3)] == [True, True, False]
    assert 10 <= budget.wait_before(1, settings) <= 20
    own = JobRetries(max_retries=1, base_seconds=0.5)
    assert 0.5 <= own.wait_before(1, settings) <= 1.0 and own.wait_before(2, settings) is None
    assert JobRetries(max_retries=0).wait_before(1, settings) is None


def test_webhook_schedule_is_the_documented_one_with_twenty_percent_jitter():
    assert WEBHOOK_SCHEDULE == (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
    rng = random.Random(5)
    for n, base in enumerate(WEBHOOK_SCHEDULE):
        waits = [webhook_delay(n, rng=rng) for _ in range(DRAWS // 8)]
        assert all(0.8 * base <= w <= 1.2 * base for w in waits)
        if base:
            assert min(waits) < 0.85 * base and max(waits) > 1.15 * base  # both ways, not one
    assert webhook_delay(len(WEBHOOK_SCHEDULE)) is None  # after the last attempt: none
    assert 0.004 <= webhook_delay(1, scale=0.001, rng=rng) <= 0.006


def test_the_policy_of_calls_to_services_keeps_its_jitter_within_bounds():
    rng = random.Random(11)
    p = RetryPolicy(base=1.0, jitter=0.5, cap=5.0, rng=rng)
    for attempt, (low, high) in {
        1: (0.5, 1.0),
        2: (1.0, 2.0),
        3: (2.0, 4.0),
        4: (2.5, 5.0),
        9: (2.5, 5.0),
    }.items():
        assert p.backoff(attempt) == (low, high)
        waits = [p.delay(attempt) for _ in range(DRAWS // 4)]
        assert all(low <= w <= high for w in waits)
        assert max(waits) - min(waits) > (high - low) * 0.9  # really random, not a constant
    assert {RetryPolicy(base=1.0, jitter=0).delay(2) for _ in range(20)} == {2.0}
    assert all(0 <= RetryPolicy(base=1.0, jitter=1, rng=rng).delay(1) <= 1.0 for _ in range(50))
    scaled = RetryPolicy(base=1.0, scale=0.1, rng=rng)
    assert all(0.05 <= scaled.delay(1) <= 0.1 for _ in range(50))
    assert scaled.delay(1, retry_after=3) == pytest.approx(0.3)


def test_pause_waits_the_policys_delay_then_raises_the_error_once_the_tries_are_spent():
    policy = RetryPolicy(attempts=3, base=1.0, jitter=0, scale=0.05)
    error = ValueError("still broken")
    started = time.monotonic()
    asyncio.run(policy.pause(2, error))  # the second failure of three tries: wait 2 s x 0.05
    assert 0.09 <= time.monotonic() - started < 1.0
    with pytest.raises(ValueError, match="still broken"):
        asyncio.run(policy.pause(3, error))
    with pytest.raises(ValueError):  # a Retry-After past the policy's longest wait gives up at once
        asyncio.run(policy.pause(1, error, retry_after=10_000))


# ---------------------------------------------------------------------------------------- Retry-After


def test_retry_after_in_seconds():
    assert (
        parse_retry_after("120") == 120.0
        and parse_retry_after(" 7 ") == 7.0
        and parse_retry_after("0") == 0.0
    )
    assert parse_retry_after("1.5") == 1.5  # not RFC 9110's 1*DIGIT, but some services send it


@pytest.mark.parametrize(
    "form", ["%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"]
)
def test_retry_after_as_an_http_date_in_each_of_its_three_forms(form):
    now = 1_700_000_000.0
    when = time.strftime(form, time.gmtime(now + 90))  # IMF-fixdate, RFC 850, asctime (no zone: UTC)
    assert parse_retry_after(when, now) == pytest.approx(90)
    assert (
        28 <= parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) <= 31
    )  # from the clock


def test_a_date_in_the_past_means_go_now():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-3",
        "-0.5",
        "+5",
        "1e3",
        "inf",
        "nan",
        "0x10",
        "12 s",
        "Mon, 99 Nov 1994 08:49:37 GMT",
    ],
)
def test_a_retry_after_that_is_absent_negative_or_garbage_is_ignored(value):
    assert parse_retry_after(value) is None


def test_a_retry_after_is_capped_at_a_day_or_at_what_the_caller_says():
    assert parse_retry_after("999999999") == MAX_RETRY_AFTER == 24 * 3600
    assert parse_retry_after(email.utils.formatdate(time.time() + 10 * 86400, usegmt=True)) == MAX_RETRY_AFTER
    assert parse_retry_after("120", cap=60) == 60


# ---------------------------------------------------------------------------------------- what is retryable


def test_shared_statuses_and_the_narrower_set_for_paid_requests():
    assert RETRY_STATUSES == {408, 425, 429, 500, 502, 503, 504}
    assert all(retryable_status(s) for s in RETRY_STATUSES)
    assert not any(retryable_status(s) for s in (None, 400, 401, 402, 403, 404, 410, 422, 501, 505, 520))
    assert retryable_status(402, retry_after=1.0)  # a budget exhausted for now, not an empty account
    assert NOT_PROCESSED_STATUSES < RETRY_STATUSES
    assert [s for s in sorted(RETRY_STATUSES) if retryable_status(s, idempotent=False)] == [
        408,
        425,
        429,
        503,
    ]
    assert not retryable_status(402, retry_after=1.0, idempotent=False)


@pytest.mark.parametrize(
    "exc,expected",
    [
        (TimeoutError("slow"), True),
        (asyncio.TimeoutError(), True),
        (ConnectionResetError("reset"), True),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("cut off"), True),
        (NodeError("busy", retryable=True), True),
        (ProviderError("HTTP 401", provider="x", status=401), False),
        (RateLimitError("HTTP 429", provider="x"), True),
        (ValueError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_network_trouble_timeouts_and_errors_that_say_so_are_retryable(exc, expected):
    assert is_retryable(exc) is expected


def test_every_fenta_error_carries_retryable_and_retry_after():
    assert (FentaError("x").retryable, FentaError("x").retry_after) == (False, None)
    assert (PathError("x").retryable, SyncError("x").retry_after) == (False, None)
    assert PathError("cannot write", retryable=True).retryable is True
    limited = RateLimitError("slow down", provider="p", retry_after=30.0)
    assert (limited.retryable, limited.retry_after) == (True, 30.0)
    assert SyncError("busy", status=503, retryable=True, retry_after=2.0).retry_after == 2.0


# ---------------------------------------------------------------------------------------- calls to services


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


# ---------------------------------------------------------------------------------------- a job's budget


def test_what_was_asked_wins_over_the_workflow_which_wins_over_the_setting(tmp_path):
    settings = Settings(home=tmp_path, max_retries=5)
    assert job_retries(settings) == JobRetries(5, None)
    assert job_retries(settings, declared={"max_retries": 1, "base_seconds": 2}) == JobRetries(1, 2.0)
    assert job_retries(
        settings, declared={"max_retries": 1, "base_seconds": 2}, asked={"max_retries": 0}
    ) == JobRetries(0, 2.0)
    assert job_retries(settings, declared={"base_seconds": 2}, asked={"max_retries": None}) == JobRetries(
        5, 2.0
    )  # None: not said
    assert Settings.from_env({}, cwd=tmp_path).max_retries == DEFAULT_MAX_RETRIES == 3


QUICK = "nodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: quick}}\n"
BATCH = "vars: {label: x}\nnodes:\n  a: {type: Test.Sleep, params: {seconds: 0, label: '${vars.label}'}}\n"


def _budgets(home: Path) -> list[int]:
    """The retry budget stored with each job in FENTA_HOME's fenta.db."""
    with sqlite3.connect(home / "fenta.db") as conn:
        return [r[0] for r in conn.execute("SELECT max_retries FROM jobs")]


def _start(how: str, write, cli, supabase) -> None:
    if how == "fenta.run":
        assert fenta.run(fenta.load(write("wf.yaml", QUICK)), out="out").status == "completed"
    elif how == "fenta.submit":
        fenta.submit(fenta.load(write("wf.yaml", QUICK)), out="out")
    elif how == "fenta.batch":
        assert fenta.batch(write("wf.yaml", BATCH), [{"label": "one"}], out="out")["totals"]["passed"] == 1
    elif how == "worker --hosted":
        supabase.queue_job({"nodes": {"a": {"type": "Test.Sleep", "params": {"seconds": 0, "label": "web"}}}})
        r = cli("worker", "--hosted", "--until-empty")
        assert r.exit_code == 0 and "1 completed" in r.stderr, r.output
    else:  # a CLI command: run, submit, batch
        args = {
            "run": [write("wf.yaml", QUICK)],
            "submit": [write("wf.yaml", QUICK)],
            "batch": [write("wf.yaml", BATCH), write("rows.csv", "label\none\n")],
        }[how]
        r = cli(how, *map(str, args), "-o", "out")
        assert r.exit_code == 0, r.output


ENTRY_POINTS = ["fenta.run", "run", "fenta.submit", "submit", "fenta.batch", "batch", "worker --hosted"]


@pytest.mark.parametrize("how", ENTRY_POINTS)
def test_every_way_a_job_starts_gives_it_the_same_default_budget(
    how, write, cli, fenta_home, monkeypatch, supabase_fake
):
    monkeypatch.delenv("FENTA_MAX_RETRIES")  # the test suite's own 0: here the shipped default counts
    for k, v in {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.1",
        "FENTA_LEASE_SECONDS": "3",
    }.items():
        monkeypatch.setenv(k, v)
    _start(how, write, cli, supabase_fake)
    assert _budgets(fenta_home) == [DEFAULT_MAX_RETRIES]


@pytest.mark.parametrize("how", ["fenta.run", "run", "submit", "worker --hosted"])
def test_every_way_a_job_starts_follows_the_setting(how, write, cli, fenta_home, monkeypatch, supabase_fake):
    monkeypatch.setenv("FENTA_MAX_RETRIES", "5")
    for k, v in {
        "FENTA_POLL_SECONDS": "0.02",
        "FENTA_HEARTBEAT_SECONDS": "0.1",
        "FENTA_LEASE_SECONDS": "3",
    }.items():
        monkeypatch.setenv(k, v)
    _start(how, write, cli, supabase_fake)
    assert _budgets(fenta_home) == [5]


# ---------------------------------------------------------------------------------------- one place


def _package_sources() -> dict[str, str]:
    return {
        str(p.relative_to(PACKAGE.parent)): p.read_text(encoding="utf-8")
        for p in sorted(PACKAGE.rglob("*.py"))
        if p != PACKAGE / "retry.py"
    }


def test_no_module_but_fenta_retry_reads_retry_after_or_computes_a_backoff():
    found = []
    for path, text in _package_sources().items():
        if re.search(r"\bparsedate|\bemail\.utils\b", text):
            found.append(f"{path}: reads HTTP dates (a Retry-After parser of its own?)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and re.search(
                r"retry_after|backoff|retry_delay|next_delay", node.name
            ):
                found.append(f"{path}:{node.lineno}: def {node.name} (waits are fenta.retry's)")
            if isinstance(node, ast.ClassDef) and node.name in ("RetryPolicy", "Retry"):
                found.append(f"{path}:{node.lineno}: class {node.name}")
    assert not found, "\n".join(found)


def test_retryable_and_retry_after_are_attributes_never_read_with_getattr_or_set_past_the_type_checker():
    found = []
    for path, text in _package_sources().items():
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"""getattr\([^)]*["'](retryable|retry_after)["']""", line):
                found.append(f"{path}:{n}: {line.strip()}")
            if re.search(r"\.(retryable|retry_after)\s*=.*type:\s*ignore", line):
                found.append(f"{path}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
