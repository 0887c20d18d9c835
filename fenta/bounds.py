"""Numbers people give (options, batch rows, quota limits, SDK arguments), checked against what they mean.

Python's ints have no bound and its floats include `nan` and `inf`, while SQLite stores signed 64-bit
integers: an unchecked `--priority 99999999999999999999` fails late with an OverflowError inside SQLite,
and `nan` compares false with everything, so `--max-cost nan` or a quota limit of `nan` silently turns
its check off. Every number that reaches a table or a comparison goes through `whole` or `finite`
first: a bad one is one line naming its option (exit 2) before anything runs.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from .errors import FentaError, InputError

__all__ = ["INT64_MIN", "INT64_MAX", "whole", "finite"]

#: What SQLite's INTEGER holds (and so every priority, id and count fenta stores).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else repr(value)
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def _whole_range(least: int, most: int) -> str:
    if least == INT64_MIN and most == INT64_MAX:
        return f"a whole number that fits 64 bits ({INT64_MIN} to {INT64_MAX})"
    if most == INT64_MAX:
        return f"a whole number of at least {least}"
    return f"a whole number from {least} to {most}"


def whole(
    value: Any,
    what: str,
    *,
    least: int = INT64_MIN,
    most: int = INT64_MAX,
    error: type[FentaError] = InputError,
) -> int:
    """`value` as an int in [least, most]: an int, a float or text that is a whole number ("5", " -3",
    "5.0", "1e3"; never a bool).

    Args:
        what: The option, argument or column, for the message (`--priority`, `priority`).
        error: The FentaError raised (its `field` is `what`); InputError by default.

    Raises:
        error: not a whole number, not finite, or outside [least, most] (exit 2).
    """
    want = _whole_range(least, most)
    number: decimal.Decimal | int
    if isinstance(value, bool):
        raise error(f"{_shown(value)} is not a number: give {want}", field=what)
    if isinstance(value, int):
        number = value
    else:
        try:
            number = decimal.Decimal(value.strip() if isinstance(value, str) else value)
        except (decimal.InvalidOperation, TypeError, ValueError):
            raise error(f"{_shown(value)} is not a number: give {want}", field=what) from None
        if not number.is_finite():
            raise error(f"{_shown(value)} is not a finite number: give {want}", field=what)
        if number != number.to_integral_value():
            raise error(f"{_shown(value)} is not a whole number: give {want}", field=what)
    if not least <= number <= most:
        raise error(f"{_shown(value)} is out of range: give {want}", field=what)
    return int(number)


def finite(
    value: Any,
    what: str,
    *,
    least: float | None = None,
    above: float | None = None,
    most: float | None = None,
    error: type[FentaError] = InputError,
) -> float:
    """`value` as a finite float: at least `least`, more than `above`, at most `most` (each when given).

    Raises:
        error: not a number, `nan`, `inf` (or too large for a float, like 1e400), or out of bounds (exit 2).
    """
    limits = [
        f"{words} {bound:g}"
        for words, bound in (("at least", least), ("more than", above), ("at most", most))
        if bound is not None
    ]
    want = "a finite number" + (f" ({' and '.join(limits)})" if limits else "")
    if isinstance(value, bool):
        raise error(f"{_shown(value)} is not a number: give {want}", field=what)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{_shown(value)} is not a number: give {want}", field=what) from None
    if not math.isfinite(number):
        raise error(f"{_shown(value)} is not a finite number: give {want}", field=what)
    if (
        (least is not None and number < least)
        or (above is not None and number <= above)
        or (most is not None and number > most)
    ):
        raise error(f"{_shown(value)} is out of range: give {want}", field=what)
    return number
