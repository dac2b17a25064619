"""How a determination's tests read on a page: one sentence per test, true as written, with units
(`rules.engine.statements`, the one formatter of a test's outcome)."""
from __future__ import annotations

from typing import Any

from rules.engine.statements import outcome_statement


def quantity_units(quantities: dict[str, Any]) -> dict[str, str | None]:
    """Quantity name → unit, from a determination payload's `quantities`."""
    return {name: (quantity or {}).get("unit") for name, quantity in (quantities or {}).items()}


def comparison_text(test: dict[str, Any], *, quantities: dict[str, Any]) -> str:
    """`3.8e25 ops ≤ 1e26 ops: not met (0.38 × the threshold)`: a test's outcome as a sentence, its
    value against its threshold with units; `quantities` is the determination payload's, which
    knows each quantity's unit."""
    return outcome_statement(test, units=quantity_units(quantities))
