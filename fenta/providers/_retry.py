"""One retry policy for every call fenta makes to a service: what is retried, how often, how long to wait.

Every retry loop in fenta (the provider clients, downloads, edge-tts) goes through `RetryPolicy.run`, so
they all retry the same HTTP statuses, bound their attempts the same way, jitter their waits the same
way and honour `Retry-After` (seconds or an HTTP date) the same way.

One attempt is an async function of the attempt number (1, 2, ...). It returns the result, raises
`Retry(error, retry_after=...)` to ask for another attempt (`error` is what the caller gets when no
attempt is left), or raises anything else to stop at once. Exceptions listed in `exceptions` are
retried as they are and the last one is re-raised unchanged.

    policy = RetryPolicy(attempts=3, base=0.5)

    async def attempt(n: int) -> httpx.Response:
        resp = await client.get(url)
        if policy.retryable_status(resp.status_code):
            raise Retry(ProviderError(...), retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        return resp

    resp = await policy.run(attempt)
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

__all__ = ["RetryPolicy", "Retry", "RETRY_STATUSES", "NOT_PROCESSED_STATUSES", "parse_retry_after"]

T = TypeVar("T")

#: Statuses that mean "not now, try again": request timeout, too early, rate limited, server-side trouble.
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

#: Of those, the ones that also say the request was NOT acted on (safe to repeat a paid, non-idempotent call).
#: 500/502/504 may come after the server did the work, so a request that costs money is not repeated on them.
NOT_PROCESSED_STATUSES: frozenset[int] = frozenset({408, 425, 429, 503})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


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
        base: The first backoff in seconds; it doubles with every retry.
        cap: The longest backoff, in seconds (before `scale`).
        jitter: The random share of each backoff (0 = none, 0.5 = "equal jitter": a wait is between
            half and all of the backoff, 1 = "full jitter").
        max_retry_after: The longest `Retry-After` the policy sleeps through; a longer one ends the
            retries at once with the attempt's error (which carries the wait).
        statuses: The retryable HTTP statuses (the shared `RETRY_STATUSES`; do not vary it per client).
        exceptions: Exception types an attempt may raise to be retried as they are (e.g. network errors
            of a library that are not HTTP).
        scale: Multiplies every wait, Retry-After included (`FENTA_BACKOFF_SCALE`; tests shrink it).
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES
    exceptions: tuple[type[BaseException], ...] = field(default=())
    scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "attempts", max(1, int(self.attempts)))
        object.__setattr__(self, "jitter", min(1.0, max(0.0, float(self.jitter))))
        object.__setattr__(self, "scale", max(0.0, float(self.scale)))

    def retryable_status(self, status: int | None, *, retry_after: float | None = None, idempotent: bool = True) -> bool:
        """Whether an answer with HTTP `status` is worth another attempt.

        `idempotent=False` (a request that costs money) narrows the set to statuses that say the request
        was not acted on. A 402 that carries Retry-After is a budget that is exhausted for now (OpenRouter's
        in-flight limit), not an empty account, so it is retried too.
        """
        if status is None:
            return False
        if not idempotent:
            return status in self.statuses and status in NOT_PROCESSED_STATUSES
        return status in self.statuses or (status == 402 and retry_after is not None)

    def backoff(self, attempt: int) -> tuple[float, float]:
        """(shortest, longest) wait after failed attempt number `attempt` (1-based), scale included."""
        full = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return full * (1 - self.jitter) * self.scale, full * self.scale

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`: the service's Retry-After when it sent one, else
        the exponential backoff with jitter."""
        if retry_after is not None:
            return max(0.0, retry_after) * self.scale
        low, high = self.backoff(attempt)
        return low + (high - low) * random.random()

    def gives_up(self, attempt: int, retry_after: float | None = None) -> bool:
        """Whether no further attempt follows attempt `attempt`."""
        return attempt >= self.attempts or (retry_after is not None and retry_after > self.max_retry_after)

    async def sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await asyncio.sleep(self.delay(attempt, retry_after))

    async def run(self, attempt_fn: Callable[[int], Awaitable[T]]) -> T:
        """Call `attempt_fn(1)`, `attempt_fn(2)`, ... until one returns, raises a non-retryable error,
        or the attempts run out (see the module docstring)."""
        attempt = 1
        while True:
            try:
                return await attempt_fn(attempt)
            except Retry as r:
                if self.gives_up(attempt, r.retry_after):
                    error = r.error
                else:
                    error, wait_for = None, r.retry_after
            except self.exceptions:
                if self.gives_up(attempt):
                    raise
                error, wait_for = None, None
            if error is not None:
                raise error
            await self.sleep(attempt, wait_for)
            attempt += 1
