"""How a determination's tests read on a page: the value against the threshold, with units."""
from __future__ import annotations

from typing import Any

from rules.engine.formatting import UNKNOWN, format_compared, format_quantity


def comparison_text(test: dict[str, Any], *, quantities: dict[str, Any]) -> str:
    """`1.069e25 ops (band 7.484e24–1.39e25) > 1e23 ops`: a test's value against its threshold, with
    units; `quantities` is the determination payload's, which knows each quantity's unit."""
    unit = (quantities.get(test.get("quantity") or "") or {}).get("unit")
    threshold = test.get("threshold")
    numeric = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if test.get("value") is None:
        value, shown_threshold = UNKNOWN, format_quantity(threshold, unit) if numeric else threshold
    else:
        # every digit of both where four figures would hide the difference decided on
        value, shown_threshold = (format_compared(test["value"], threshold, unit) if numeric
                                  else (format_quantity(test["value"], unit), threshold))
        low, high = test.get("low"), test.get("high")
        if low is not None and high is not None and low != high:
            value += f" (band {format_quantity(low)}–{format_quantity(high)})"
    if not numeric:
        return f"{value} {test.get('operator') or ''} {threshold if threshold is not None else ''}".strip()
    return f"{value} {test.get('operator') or ''} {shown_threshold}"
