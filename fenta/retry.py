"""One retry policy: what is worth another try, how long to wait before it, and how many tries a job gets.

Three kinds of work retry in fenta, each on its documented schedule, all computed here:

    calls to services   `RetryPolicy` (provider clients, downloads, edge-tts, hosted sync): a few quick
                        attempts inside one node; exponential backoff with equal jitter (0.25-0.5 s,
                        0.5-1 s, ... for the clients' 0.5 s), Retry-After honoured up to `max_retry_after`
    jobs                `job_retries` decides a job's budget (at most `DEFAULT_MAX_RETRIES` = 3 retries,
                        4 attempts, unless asked otherwise); `job_retry_delay` the wait: equal jitter
                        10-20 s, 20-40 s, 40-80 s for the default base of 10 s, or the Retry-After if longer
    webhook deliveries  `WEBHOOK_SCHEDULE`: 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each ±20 %
                        (`webhook_delay`); a receiver's Retry-After on 429/503 is honoured as sent

What is worth another try: `retryable_status` (HTTP statuses), `is_retryable` (an exception: a
`FentaError` says so itself in its `retryable` attribute; network trouble and timeouts are).
`parse_retry_after` reads a Retry-After header (RFC 9110 §10.2.3: delta-seconds or an HTTP date).

One attempt of a `RetryPolicy` is an async function of the attempt number (1, 2, ...). It returns the
result, raises `Retry(error, retry_after=...)` to ask for another attempt (`error` is what the caller
gets when no attempt is left), or raises anything else to stop at once. Exceptions listed in
`exceptions` are retried as they are and the last one is re-raised unchanged.

    policy = RetryPolicy(attempts=3, base=0.5)

    async def attempt(n: int) -> httpx.Response:
        resp = await client.get(url)
        if retryable_status(resp.status_code):
            raise Retry(ProviderError(...), retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        return resp

    resp = await policy.run(attempt)
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import FentaError

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from .config import Settings

__all__ = [
    "RETRY_STATUSES",
    "NOT_PROCESSED_STATUSES",
    "MAX_RETRY_AFTER",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_JOB_RETRY_BASE",
    "WEBHOOK_SCHEDULE",
    "parse_retry_after",
    "retryable_status",
    "is_retryable",
    "backoff_bounds",
    "jittered",
    "job_retry_delay",
    "webhook_delay",
    "JobRetries",
    "job_retries",
    "Retry",
    "RetryPolicy",
]

T = TypeVar("T")

#: Statuses that mean "not now, try again": request timeout, too early, rate limited, server-side trouble.
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Of those, the ones that also say the request was NOT acted on (safe to repeat a paid, non-idempotent call).
#: 500/502/504 may come after the server did the work, so a request that costs money is not repeated on them.
NOT_PROCESSED_STATUSES: frozenset[int] = frozenset({408, 425, 429, 503})

#: The longest wait a Retry-After can ask for (a longer one is cut to this): a day. Nothing fenta retries
#: is worth holding longer, and a mistaken header (a date years ahead) must not park work for good.
MAX_RETRY_AFTER = 24 * 3600.0

#: Retries of a job after a retryable failure when nothing else is said (`FENTA_MAX_RETRIES`): 3 retries,
#: 4 attempts in all. The same for `fenta run`, `fenta.run`, `fenta submit`, `fenta batch` and
#: `fenta worker --hosted`: the failures retried (network trouble, timeouts, 429, 5xx, a crash) usually
#: pass within the 70-140 s the three waits add up to, finished nodes are checkpointed (a retry re-runs
#: only what failed, and never pays twice for a finished generation), and a failure that cannot pass
#: (a bad key, no credits, bad input) is never retried. `retries=0` / `--retries 0` turns them off.
DEFAULT_MAX_RETRIES = 3

#: The first job retry waits between this and twice this (`FENTA_RETRY_BASE_SECONDS`).
DEFAULT_JOB_RETRY_BASE = 10.0

#: Seconds before webhook delivery attempt 1, 2, ... 8 (the first is immediate); ±20 % jitter on each.
WEBHOOK_SCHEDULE: tuple[float, ...] = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: The share of each webhook wait that is random, both ways (0.2: between 80 % and 120 %).
WEBHOOK_JITTER = 0.2

#: delta-seconds (RFC 9110: 1*DIGIT; a decimal fraction is read too, as some services send one).
_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_retry_after(
    value: str | None, now: float | None = None, *, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 §10.2.3), at most `cap`.

    Args:
        value: The header: delta-seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"; the
            obsolete RFC 850 and asctime forms too, read as UTC).
        now: The time to count a date from (default: the clock).
        cap: The longest wait returned.

    Returns:
        The wait (0 for a date in the past: go now), or None when the header is absent or unreadable
        (a negative number, words, a date that does not exist): the caller then waits its own backoff.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.fullmatch(value):
        return min(cap, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime has no zone; an HTTP date is always UTC
        when = when.replace(tzinfo=timezone.utc)
    try:
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (OverflowError, OSError):
        return None
    return min(cap, max(0.0, seconds))


def retryable_status(
    status: int | None, *, retry_after: float | None = None, idempotent: bool = True
) -> bool:
    """Whether an answer with HTTP `status` is worth another attempt.

    `idempotent=False` (a request that costs money) narrows the set to statuses that say the request
    was not acted on. A 402 that carries Retry-After is a budget that is exhausted for now (OpenRouter's
    in-flight limit), not an empty account, so it is retried too (but not a paid request).
    """
    if status is None:
        return False
    if not idempotent:
        return status in NOT_PROCESSED_STATUSES
    return status in RETRY_STATUSES or (status == 402 and retry_after is not None)


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt could succeed as things are.

    A `FentaError` says so itself (`retryable`: fenta sets it for network trouble, timeouts, 429 and
    5xx). Otherwise network trouble and timeouts are (httpx's transport errors, `ConnectionError`,
    `TimeoutError`); anything else is not.
    """
    if isinstance(exc, FentaError):
        return exc.retryable
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    # httpx is heavy to import (half a second) and most processes never load it: an exception of
    # httpx can only exist once something imported httpx, so look it up instead of importing it.
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TransportError)


# ---------------------------------------------------------------------------------------- waits


def backoff_bounds(
    attempt: int, longest_first: float, *, cap: float = math.inf, jitter: float = 0.5
) -> tuple[float, float]:
    """(shortest, longest) wait after failed attempt number `attempt` (1-based): the longest doubles
    with every attempt from `longest_first`, up to `cap`; `jitter` is the random share (0.5: "equal
    jitter", a wait between half and all of it)."""
    full = min(cap, longest_first * 2 ** max(0, attempt - 1))
    return full * (1 - jitter), full


def jittered(low: float, high: float, rng: random.Random | None = None) -> float:
    """A wait drawn evenly between `low` and `high`."""
    return low + (high - low) * (rng or random).random()


def job_retry_delay(
    retry: int,
    base: float = DEFAULT_JOB_RETRY_BASE,
    retry_after: float | None = None,
    *,
    rng: random.Random | None = None,
) -> float:
    """Seconds before a job's retry number `retry` (1-based): equal jitter between base*2^(n-1) and twice
    that (10-20 s, 20-40 s, 40-80 s for base 10), or longer when the service asked for it (Retry-After)."""
    low, high = backoff_bounds(retry, 2 * base)
    return max(jittered(low, high, rng), retry_after or 0.0)


def webhook_delay(
    attempts_made: int, *, scale: float = 1.0, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next webhook delivery attempt after `attempts_made` failed ones, with ±20 % jitter
    (`WEBHOOK_SCHEDULE`, times `scale`: FENTA_WEBHOOK_RETRY_SCALE); None after the last."""
    if attempts_made >= len(WEBHOOK_SCHEDULE):
        return None
    base = WEBHOOK_SCHEDULE[attempts_made]
    return jittered(base * (1 - WEBHOOK_JITTER), base * (1 + WEBHOOK_JITTER), rng) * scale


# ---------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobRetries:
    """A job's retry budget.

    Attributes:
        max_retries: Retries after a retryable failure (attempts in all: one more).
        base_seconds: The first wait's lower bound, when the job has its own; None: the setting at the
            time of the failure (`FENTA_RETRY_BASE_SECONDS`).
    """

    max_retries: int
    base_seconds: float | None = None

    def wait_before(
        self,
        retry: int,
        settings: Settings,
        retry_after: float | None = None,
        *,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds before retry number `retry` (1-based: after the first failed attempt comes retry 1),
        or None when the budget has no such retry (`job_retry_delay`; the base is the setting's when
        the job has none of its own)."""
        if retry > self.max_retries:
            return None
        return job_retry_delay(retry, self.base_seconds or settings.retry_base_seconds, retry_after, rng=rng)


def job_retries(
    settings: Settings, declared: Mapping[str, Any] | None = None, asked: Mapping[str, Any] | None = None
) -> JobRetries:
    """The one rule for how many times a job is retried, for every way a job starts (`fenta run`,
    `fenta.run`, `fenta submit`, `fenta batch`, `fenta worker --hosted`, a schedule) and for a job
    whose stored budget is empty.

    Args:
        settings: `max_retries` (`FENTA_MAX_RETRIES`, default `DEFAULT_MAX_RETRIES`) when nothing else says.
        declared: The workflow's `retry: {max_retries, base_seconds}`.
        asked: What was asked for this job (`--retries N` / `retries=N` as `{"max_retries": N}`); wins
            over `declared`, key by key.

    `fenta jobs retry` and `fenta resume` keep the job's budget and count it afresh from their attempt
    (`fenta resume --retries N` asks for another).
    """
    merged = {k: v for said in (declared, asked) for k, v in (said or {}).items() if v is not None}
    max_retries = merged.get("max_retries")
    base = merged.get("base_seconds")
    return JobRetries(
        int(max_retries) if max_retries is not None else settings.max_retries,
        float(base) if base is not None else None,
    )


# ---------------------------------------------------------------------------------------- calls to services


class Retry(Exception):
    """Raised by one attempt to ask for another.

    Args:
        error: Raised to the caller when no attempt is left, or when `retry_after` is longer than
            the policy will wait.
        retry_after: The wait the service asked for, in seconds (from `Retry-After`), if any.
    """

    def __init__(self, error: BaseException, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried.

    Attributes:
        attempts: Attempts in all, the first included (at least 1).
        base: The longest first backoff in seconds; it doubles with every retry.
        cap: The longest backoff, in seconds (before `scale`).
        jitter: The random share of each backoff (0 = none, 0.5 = "equal jitter": a wait is between
            half and all of the backoff, 1 = "full jitter").
        max_retry_after: The longest `Retry-After` the policy sleeps through; a longer one ends the
            retries at once with the attempt's error (which carries the wait).
        exceptions: Exception types an attempt may raise to be retried as they are (e.g. network errors
            of a library that are not HTTP).
        scale: Multiplies every wait, Retry-After included (`FENTA_BACKOFF_SCALE`; tests shrink it).
        rng: Where the jitter comes from (default: the `random` module; tests pass a seeded one).
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 60.0
    exceptions: tuple[type[BaseException], ...] = field(default=())
    scale: float = 1.0
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attempts", max(1, int(self.attempts)))
        object.__setattr__(self, "jitter", min(1.0, max(0.0, float(self.jitter))))
        object.__setattr__(self, "scale", max(0.0, float(self.scale)))

    def backoff(self, attempt: int) -> tuple[float, float]:
        """(shortest, longest) wait after failed attempt number `attempt` (1-based), scale included."""
        low, high = backoff_bounds(attempt, self.base, cap=self.cap, jitter=self.jitter)
        return low * self.scale, high * self.scale

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`: the service's Retry-After when it sent one, else
        the exponential backoff with jitter."""
        if retry_after is not None:
            return max(0.0, retry_after) * self.scale
        return jittered(*self.backoff(attempt), self.rng)

    def gives_up(self, attempt: int, retry_after: float | None = None) -> bool:
        """Whether no further attempt follows attempt `attempt`."""
        return attempt >= self.attempts or (retry_after is not None and retry_after > self.max_retry_after)

    async def sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await asyncio.sleep(self.delay(attempt, retry_after))

    async def pause(self, failures: int, error: BaseException, retry_after: float | None = None) -> None:
        """For a loop that keeps its own count: raise `error` when no try follows `failures` failures in
        a row, else wait before the next one."""
        if self.gives_up(failures, retry_after):
            raise error
        await self.sleep(failures, retry_after)

    async def run(self, attempt_fn: Callable[[int], Awaitable[T]]) -> T:
        """Call `attempt_fn(1)`, `attempt_fn(2)`, ... until one returns, raises a non-retryable error,
        or the attempts run out (see the module docstring)."""
        attempt = 1
        while True:
            error: BaseException | None = None
            wait_for: float | None = None
            try:
                return await attempt_fn(attempt)
            except Retry as r:
                if self.gives_up(attempt, r.retry_after):
                    error = r.error
                wait_for = r.retry_after
            except self.exceptions:
                if self.gives_up(attempt):
                    raise
            if error is not None:  # raised here, outside the handler: the caller sees the error, not Retry
                raise error
            await self.sleep(attempt, wait_for)
            attempt += 1
