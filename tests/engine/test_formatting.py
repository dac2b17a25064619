"""One formatter for numbers people read: `3.8e25 ops`, and one word for an unknown value."""

from __future__ import annotations

import pytest

from rules.engine.formatting import UNKNOWN, format_exact_quantity, format_quantity, formula_number


@pytest.mark.parametrize(("value", "unit", "text"), [
    (3.8e25, "ops", "3.8e25 ops"),
    (1e26, "ops", "1e26 ops"),
    (3.79123e25, "ops", "3.791e25 ops"),
    (1.0e20, "ops_per_second", "1e20 ops/s"),
    (6.0e8, "usd", "6e8 USD"),
    (4.05e11, "parameters", "4.05e11 parameters"),
    (-2.5e7, None, "-2.5e7"),
])
def test_large_numbers_are_in_scientific_notation_with_the_unit(value, unit, text) -> None:
    assert format_quantity(value, unit) == text


@pytest.mark.parametrize(("value", "text"), [(0.0001, "1e-4"), (2.5e-7, "2.5e-7")])
def test_small_numbers_are_in_scientific_notation(value, text) -> None:
    assert format_quantity(value) == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0, "ops", "0 ops"),
    (16384, None, "16,384"),
    (400, "gbit_per_second", "400 Gbit/s"),
    (0.4, "ratio", "0.4"),
    (1300, "h", "1,300 h"),
    (0.3333333333333333, "ratio", "0.3333"),
])
def test_exact_integers_and_ordinary_numbers_are_written_as_digits(value, unit, text) -> None:
    assert format_quantity(value, unit) == text


def test_an_unknown_value_is_a_dash_whatever_the_unit() -> None:
    assert UNKNOWN == "—"
    assert format_quantity(None) == format_quantity(None, "ops") == format_exact_quantity(None, "usd") == UNKNOWN


def test_text_is_shown_as_it_is() -> None:
    assert format_quantity("a designation", "ops") == "a designation"
    assert format_quantity(True) == "True"


@pytest.mark.parametrize(("value", "unit", "text"), [
    (1.56e13, "tokens", "1.56e13 tokens"),
    (1.5625e13, "tokens", "1.5625e13 tokens"),
    (16384, None, "16384"),
    (0.4, None, "0.4"),
    (2.0e15, "ops_per_second", "2e15 ops/s"),
    (6.0e8, "usd", "6e8 USD"),
])
def test_a_submitted_number_is_written_exactly(value, unit, text) -> None:
    assert format_exact_quantity(value, unit) == text
    assert float(text.split()[0]) == value


@pytest.mark.parametrize(("value", "text"), [
    (3.7908e25, "3.79e25"), (16384, "16384"), (0.4, "0.4"), (None, "unknown"), (float("inf"), "unbounded"),
])
def test_an_engine_explanation_keeps_the_wording_it_records(value, text) -> None:
    assert formula_number(value) == text
