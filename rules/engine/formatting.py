"""How numbers are written for people: one formatter, `format_quantity`, for the workspace, the
reports, the command line and the API, and one word for a value that is not known (`UNKNOWN`).

`3.8e25 ops`, never a bare `3.8e+25`; plain digits between 0.001 and 100,000. Pure Python: the
engine's own explanations are written with the same helpers.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

UNKNOWN = "—"  # what every page, report and command prints for a value that is not known

UNIT_LABELS = {
    "ops": "ops",
    "ops_per_second": "ops/s",
    "gbit_per_second": "Gbit/s",
    "usd": "USD",
    "ratio": "",
    "parameters": "parameters",
}


def unit_label(unit: str | None) -> str:
    """`ops/s` for `ops_per_second`; a unit with no label of its own (`tokens`, `h`) as it is."""
    return UNIT_LABELS.get(unit or "", unit or "")


def _scientific(mantissa_and_exponent: str) -> str:
    """`3.8e25` from `3.8e+25`: no plus sign, no leading zeros in the exponent."""
    mantissa, exponent = mantissa_and_exponent.split("e")
    return f"{mantissa}e{int(exponent)}"


def _with_unit(text: str, unit: str | None) -> str:
    return f"{text} {unit_label(unit)}".strip()


def format_quantity(value: Any, unit: str | None = None) -> str:
    """A number with its unit, to four significant figures (whole below 100,000): `3.8e25 ops`,
    `0.4`, `16,384`.

    None is `UNKNOWN`; text is shown as it is (a threshold may be a label rather than a number).
    """
    if value is None:
        return UNKNOWN
    if isinstance(value, Fraction):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if value == 0:
        text = "0"
    elif abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.3e}".split("e")
        text = _scientific(f"{mantissa.rstrip('0').rstrip('.')}e{exponent}")
    elif abs(value) >= 1e4:
        text = f"{value:,.0f}"  # five digits: .4g would write 1.638e+04
    else:
        text = f"{value:,.4g}"
    return _with_unit(text, unit)


def format_compared(value: Any, threshold: Any, unit: str | None = None,
                    threshold_unit: str | None = None) -> tuple[str, str]:
    """(value, threshold) as a comparison shows them: four significant figures (`format_quantity`),
    or every digit of both (`format_exact_quantity`) where four would hide the difference the
    engine decided on: `1.00000000000000000000000001e26 ops` against `1e26 ops`, not `1e26` twice."""
    threshold_unit = unit if threshold_unit is None else threshold_unit
    shown = format_quantity(value, unit), format_quantity(threshold, threshold_unit)
    figures = all(isinstance(x, (int, float, Fraction)) and not isinstance(x, bool) for x in (value, threshold))
    if figures and value != threshold and shown[0].split(" ")[0] == shown[1].split(" ")[0]:
        return format_exact_quantity(value, unit), format_exact_quantity(threshold, threshold_unit)
    return shown


def format_exact_quantity(value: Any, unit: str | None = None) -> str:
    """A submitted or compared number written exactly, with its unit: a whole number in every
    significant digit (`1.07e24 ops`, `1.00000000000000000000000001e26 ops` for 10**26 + 1, which
    four significant figures would show as 1e26), any other number in the shortest scientific
    form that reads back as the same float (`1.5625e13 tokens`), whole numbers below ten million
    as digits.

    None is `UNKNOWN`; text is shown as it is.
    """
    if value is None:
        return UNKNOWN
    if isinstance(value, Fraction):
        value = value.numerator if value.denominator == 1 else float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return _with_unit(_exact(value), unit)


def _whole(value: int) -> str:
    """Every significant digit of a whole number, in scientific form from ten million."""
    if abs(value) < 10**7:
        return str(value)
    digits = str(abs(value))
    significant = digits.rstrip("0")
    mantissa = significant[0] + (f".{significant[1:]}" if len(significant) > 1 else "")
    return f"{'-' if value < 0 else ''}{mantissa}e{len(digits) - 1}"


def _exact(value: float) -> str:
    if isinstance(value, int):
        return _whole(value)
    if float(value).is_integer() and abs(value) < 1e7:
        return str(int(value))
    if 1e-3 <= abs(value) < 1e5:
        return repr(value)
    for digits in range(17):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            return _scientific(text)
    return repr(value)


def formula_number(number: float | None) -> str:
    """A number inside an engine explanation (`6 × 4.05e11 parameters × 1.56e13 tokens = 3.79e25 ops`):
    three significant figures, whole numbers below a million as digits.

    Explanations are part of each determination's recorded payload, whose hash the decision log
    chains, so their wording is kept as recorded: a missing input reads `unknown` inside the
    sentence, an unbounded one `unbounded`.
    """
    if number is None:
        return "unknown"
    if math.isinf(number):
        return "unbounded"
    if number == int(number) and abs(number) < 1e6:
        return str(int(number))
    text = f"{float(number):.3g}"  # an exact Fraction has no `g` format
    return _scientific(text) if "e" in text else text
