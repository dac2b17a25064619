"""How numbers are shown to people: scientific notation with units, never a bare 1e+26."""
from __future__ import annotations

from typing import Any

UNIT_LABELS = {
    "ops": "ops",
    "ops_per_second": "ops/s",
    "gbit_per_second": "Gbit/s",
    "usd": "USD",
    "ratio": "",
    "parameters": "parameters",
}


def format_number(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if value == 0:
        text = "0"
    elif abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.3e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        text = f"{mantissa}e{int(exponent)}"
    else:
        text = f"{value:,.4g}"
    label = UNIT_LABELS.get(unit or "", unit or "")
    return f"{text} {label}".strip()
