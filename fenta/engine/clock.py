"""Times as the job store writes them: ISO 8601 UTC with milliseconds and a 'Z', which sort as text."""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["iso", "now_iso", "parse_iso"]


def iso(ts: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds and 'Z' (sorts as text in time order)."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    """Now, as `iso` writes it."""
    return iso(time.time())


def parse_iso(text: object) -> float | None:
    """The epoch time of an `iso` string (None for None, a value that is not text, or unreadable text)."""
    if not text or not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
