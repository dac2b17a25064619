"""Exact numbers for the engine: a figure given as an integer or a decimal is compared as written.

Inside the engine every number is an `int` or a `fractions.Fraction`; a float (a YAML parameter
such as 1.0e+26, a catalog figure, a default) enters as the decimal its shortest repr writes, so
1e26 is 10**26, not the double nearest to it. Outputs (JSON, reports) give an int when the value is
whole, else the nearest float (`plain`).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

Number = int | Fraction


def exact(value: Any) -> Any:
    """`value` as an int or Fraction (None and infinities pass through unchanged)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        value = Fraction(repr(value))
    elif isinstance(value, (Decimal, str)):
        value = Fraction(value)
    else:
        return value
    return value.numerator if value.denominator == 1 else value


def plain(value: Any) -> Any:
    """A JSON number for an exact value: int when whole, else the nearest float."""
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    return value


def plain_tree(value: Any) -> Any:
    """`plain` applied through dicts, lists and tuples."""
    if isinstance(value, Fraction):
        return plain(value)
    if isinstance(value, dict):
        return {key: plain_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_tree(item) for item in value]
    return value


def at_least_zero(value: Any) -> Any:
    """A band's lower end never goes below zero."""
    return None if value is None else max(value, 0)
