"""Numbers people give, checked: whole numbers that fit SQLite's 64 bits, finite floats within bounds."""

from __future__ import annotations

import math

import pytest

from fenta.bounds import INT64_MAX, INT64_MIN, finite, whole
from fenta.errors import InputError, QuotaError


@pytest.mark.parametrize(
    ("given", "got"),
    [
        (5, 5),
        ("5", 5),
        (" -3 ", -3),
        ("5.0", 5),
        ("1e3", 1000),
        (2.0, 2),
        (str(INT64_MAX), INT64_MAX),
        (str(INT64_MIN), INT64_MIN),
    ],
)
def test_a_whole_number_is_read_from_an_int_a_float_or_its_text(given, got):
    assert whole(given, "priority") == got and isinstance(whole(given, "priority"), int)


@pytest.mark.parametrize(
    ("given", "why"),
    [
        (INT64_MAX + 1, "out of range"),
        ("99999999999999999999", "out of range"),
        ("1e30", "out of range"),
        (1e30, "out of range"),
        ("1e400", "out of range"),
        ("inf", "not a finite number"),
        (math.inf, "not a finite number"),
        ("nan", "not a finite number"),
        ("5.5", "not a whole number"),
        ("high", "not a number"),
        (True, "not a number"),
        (None, "not a number"),
        ("", "not a number"),
    ],
)
def test_anything_else_is_one_input_error_naming_the_field(given, why):
    with pytest.raises(InputError) as e:
        whole(given, "--priority")
    assert (
        why in str(e.value)
        and e.value.field == "--priority"
        and e.value.exit_code == 2
        and "\n" not in str(e.value)
    )
    assert isinstance(e.value, ValueError)  # what Python code expects of a bad argument


def test_the_bounds_of_a_whole_number_are_said_in_the_message():
    with pytest.raises(InputError) as e:
        whole("100", "--workers", least=1, most=64)
    assert str(e.value) == "field '--workers': '100' is out of range: give a whole number from 1 to 64"


@pytest.mark.parametrize(("given", "got"), [(0, 0.0), ("2.5", 2.5), (" 7 ", 7.0), (86400, 86400.0)])
def test_a_finite_number_within_its_bounds_is_read(given, got):
    assert finite(given, "--wait", least=0, most=86400) == got


@pytest.mark.parametrize("given", ["nan", "inf", "-inf", "1e400", math.nan, -0.5, 86401, "soon", False])
def test_nan_infinity_and_numbers_out_of_bounds_are_refused(given):
    with pytest.raises(InputError):
        finite(given, "--wait", least=0, most=86400)


def test_the_error_raised_can_be_the_callers_own():
    with pytest.raises(QuotaError) as e:
        finite("nan", "LIMIT", least=0, error=QuotaError)
    assert e.value.field == "LIMIT" and e.value.exit_code == 2
