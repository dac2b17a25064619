"""Formatting shared by the report contexts: numbers in scientific notation with units, ISO dates,
and the words the reports use for scenarios and operators (statuses and outcomes are the engine's
vocabulary, `rules.engine.vocabulary`)."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from rules.engine.formatting import UNKNOWN, format_compared, format_exact_quantity, format_quantity
from rules.engine.subject import QUANTITIES
from rules.engine.vocabulary import Status

# The columns of the registry report's counts table, in its order.
STATUSES = (Status.COVERED, Status.INDETERMINATE, Status.NOT_COVERED, Status.NOT_APPLICABLE, Status.NOT_IN_FORCE)
SCENARIO_LABELS = {
    "band_low": "low end of the estimate's uncertainty band",
    "band_high": "high end of the estimate's uncertainty band",
    "dense_16bit": "theoretical maximum read as 16-bit dense throughput",
    "sparse_max": "theoretical maximum read as sparse throughput",
    "dense_max": "theoretical maximum read as dense throughput at the fastest format",
}
OPERATOR_WORDS = {">": "greater than", ">=": "at least", "<": "less than", "<=": "at most", "==": "equal to"}
FACT_UNITS = {
    "parameter_count": "parameters",
    "active_parameter_count": "parameters",
    "training_tokens": "tokens",
    "training_compute_ops": "ops",
    "fine_tuning_compute_ops": "ops",
    "training_compute_cost_usd": "usd",
    "annual_revenue_usd": "usd",
    "network_gbps": "gbit_per_second",
    "gbps": "gbit_per_second",
    "dense_max": "ops_per_second",
    "dense_16bit": "ops_per_second",
    "sparse_max": "ops_per_second",
    "training_hours": "h",
}


# Rule files are written for the registry's maintainers and name its own files; a report's reader
# outside the project gets what each stands for instead.
OUTSIDE_NAMES = (
    (re.compile(r"\(the DESIGN\.md default\)"), "(the registry's stated default reading)"),
    (re.compile(r"\bDESIGN\.md\b"), "the registry's stated defaults"),
    (re.compile(r"\b(?:legal/)?SOURCES\.md\b"), "the registry's collection of legal sources"),
    (re.compile(r"\brules/library/[\w./-]+"), "the published rule version"),
    (re.compile(r"`?(?:python )?manage\.py [a-z_]+[^`.;)]*`?"), "the registry's own check"),
)


def for_outside_readers(value: Any) -> Any:
    """Every text in a report's context with the project's file names put in plain words (nested
    lists and dicts too); numbers, hashes and dates are left as they are."""
    if isinstance(value, str):
        for pattern, words in OUTSIDE_NAMES:
            value = pattern.sub(words, value)
        return value
    if isinstance(value, dict):
        return {key: for_outside_readers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [for_outside_readers(item) for item in value]
    return value


def quantity_unit(name: str | None) -> str:
    spec = QUANTITIES.get(name or "")
    return spec.unit if spec and spec.unit else ""


def number(value: Any, unit: str | None = None) -> str:
    """A number as the reports show it (format_quantity); text and booleans as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_quantity(value, unit)


def compared(value: Any, threshold: Any, unit: str | None, threshold_unit: str | None = None) -> tuple[str, str]:
    """(value, threshold) as a comparison shows them (`format_compared`); text and booleans as they are."""
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in (value, threshold)):
        return number(value, unit), number(threshold, threshold_unit if threshold_unit is not None else unit)
    return format_compared(value, threshold, unit, threshold_unit)


def fact_value(name: str, value: Any) -> str:
    """One submitted fact as the facts table shows it: exact numbers with the unit the field has."""
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_exact_quantity(value, FACT_UNITS.get(name))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else UNKNOWN
    return str(value)


def iso_date(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else value.isoformat()


def iso_datetime(value: datetime | None) -> str:
    """UTC, to the second: 2026-11-29T01:39:15Z."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def margin_text(margin: Any) -> str:
    """The engine's margin is value ÷ threshold."""
    if margin is None or isinstance(margin, bool):
        return UNKNOWN
    return f"{format_quantity(margin)} × the threshold"


def username(user: Any) -> str:
    return getattr(user, "username", "") or "—"
