"""The one mapping between interchange facts and database rows, declared as a table of fields per
record kind: the interchange name, the row's attribute, and how a value crosses between them.

The tables are the one declaration of which fields each record kind has and in what order. The write
path (`registry.services`), the current facts of a row (`registry.selectors`), the canonical facts that
revisions store and export writes (`registry.facts`), the admin's saves, the benchmark's synthetic
records and bulk writer (`bench.synthetic`, `bench.writer`) read them; the interchange validators
(`registry.interchange`) are checked against them when defined, and the API's responses
(`api.serializers.registry`) are built from them. A new field of a record is one more row here plus
its validator in `registry.interchange`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

# How a value crosses between a fact and a row's attribute.
VALUE = "value"  # as it is (numbers, booleans, lists)
TEXT = "text"  # a fact's null is the row's ""
CHOICE = "choice"  # the row's "" is the fact's null
DATE = "date"  # ISO text in facts, a date on the row
ACCELERATOR = "accelerator"  # a catalog slug in facts, a foreign key on the row
BASE_MODEL = "base_model"  # "organisation/name@version" in facts, a foreign key on the row
IDENTITY = "identity"  # the record's organisation: a slug in facts, set by the writer


@dataclass(frozen=True)
class Field:
    fact: str  # the interchange name (DESIGN.md's contract)
    column: str | None  # the row's attribute; None: not a column of the row (a nested record, a list)
    how: str = VALUE


ORGANISATION = (
    Field("slug", "slug"),
    Field("name", "name"),
    Field("country", "country", TEXT),
    Field("annual_revenue_usd", "annual_revenue_usd"),
    Field("revenue_year", "revenue_year"),
    Field("source", "source", TEXT),
)

MODEL = (
    Field("organisation", "organisation", IDENTITY),
    Field("name", "name"),
    Field("version", "version"),
    Field("parameter_count", "parameter_count"),
    Field("active_parameter_count", "active_parameter_count"),
    Field("training_tokens", "training_tokens"),
    Field("training_compute_ops", "training_compute_ops"),
    Field("training_compute_uncertainty", "training_compute_uncertainty"),
    Field("general_purpose", "general_purpose"),
    Field("primarily_biological_sequence_data", "primarily_biological_sequence_data"),
    Field("modalities", "modalities"),
    Field("weights_published", "weights_published"),
    Field("base_model", "base_model", BASE_MODEL),
    Field("derivation", "derivation", CHOICE),
    Field("fine_tuning_compute_ops", "fine_tuning_compute_ops"),
    Field("training_hardware", None),  # HARDWARE, on the model's row
    Field("training_compute_cost_usd", "training_compute_cost_usd"),
    Field("training_completed_on", "training_completed_on", DATE),
    Field("released_on", "released_on", DATE),
    Field("source", "source", TEXT),
    Field("notes", "notes", TEXT),
)

HARDWARE = (
    Field("accelerator", "training_accelerator", ACCELERATOR),
    Field("accelerator_count", "training_accelerator_count"),
    Field("training_hours", "training_hours"),
    Field("utilization", "training_utilization"),
)

CLUSTER = (
    Field("organisation", "organisation", IDENTITY),
    Field("name", "name"),
    Field("used_for_ai_training", "used_for_ai_training"),
    Field("groups", None),  # GROUP, one row each
    Field("links", None),  # LINK, one row each
    Field("operational_from", "operational_from", DATE),
    Field("source", "source", TEXT),
    Field("notes", "notes", TEXT),
)

GROUP = (
    Field("name", "name"),
    Field("datacenter", "datacenter"),
    Field("accelerator", "accelerator", ACCELERATOR),
    Field("accelerator_count", "accelerator_count"),
    Field("accelerators_per_node", "accelerators_per_node"),
    Field("network_gbps", "network_gbps"),
    Field("peak_ops_per_second", None),  # PEAK, on the group's row
)

PEAK = (
    Field("dense_max", "peak_dense_max_ops_per_second"),
    Field("dense_16bit", "peak_dense_16bit_ops_per_second"),
    Field("sparse_max", "peak_sparse_max_ops_per_second"),
)

LINK = (
    Field("from", "from_group", IDENTITY),  # a group's name in facts, the group's row on the link
    Field("to", "to_group", IDENTITY),
    Field("gbps", "gbps"),
)

# The nested record a fact holds, and the table of its fields.
NESTED = {("model", "training_hardware"): HARDWARE, ("group", "peak_ops_per_second"): PEAK}
# A nested record is stored when any of its fields is set, or, where named here, when that one is.
NESTED_PRESENT_BY = {("group", "peak_ops_per_second"): "dense_max"}
TABLES = {"organisation": ORGANISATION, "model": MODEL, "cluster": CLUSTER, "group": GROUP, "link": LINK,
          "hardware": HARDWARE, "peak": PEAK}


def fact_names(table: tuple[Field, ...]) -> tuple[str, ...]:
    return tuple(field.fact for field in table)


# Resolves a reference of the facts (an accelerator's slug, a base model's reference) to what the row
# holds: a row object, or its id (then the column's `_id` attribute is set).
Resolve = Callable[[str, str], Any]


def row_values(kind: str, facts: dict[str, Any], *, resolve: Resolve) -> dict[str, Any]:
    """The row's attributes for a record's (or a group's) canonical facts; identity and nested lists
    (the organisation, a cluster's groups and links) are the writer's."""
    values: dict[str, Any] = {}
    for field in TABLES[kind]:
        nested = NESTED.get((kind, field.fact))
        if nested is not None:
            inner = facts.get(field.fact) or {}
            for sub in nested:
                _put(values, sub, inner.get(sub.fact), resolve)
        elif field.column is not None and field.how != IDENTITY and not (kind == "organisation" and field.fact == "slug"):
            _put(values, field, facts.get(field.fact), resolve)
    return values


def _put(values: dict[str, Any], field: Field, value: Any, resolve: Resolve) -> None:
    assert field.column is not None
    if field.how in (TEXT, CHOICE):
        values[field.column] = value or ""
    elif field.how == DATE:
        values[field.column] = date.fromisoformat(value) if isinstance(value, str) else value
    elif field.how in (ACCELERATOR, BASE_MODEL):
        target = resolve(field.how, value) if value else None
        if isinstance(target, int):
            values[f"{field.column}_id"] = target
        else:
            values[field.column] = target
    else:
        values[field.column] = value


def row_facts(kind: str, row: Any) -> dict[str, Any]:
    """A row's attributes as a record in the interchange format (not yet canonical: dates are dates).
    A nested record (training hardware, a group's own peak figures) is null when none of it is set."""
    record: dict[str, Any] = {}
    for field in TABLES[kind]:
        nested = NESTED.get((kind, field.fact))
        if nested is not None:
            inner = {sub.fact: _get(row, sub) for sub in nested}
            by = NESTED_PRESENT_BY.get((kind, field.fact))
            present = any(getattr(row, _attname(sub)) for sub in nested if by is None or sub.fact == by)
            record[field.fact] = inner if present else None
        elif field.column is not None:
            record[field.fact] = _get(row, field)
    return record


def _attname(field: Field) -> str:
    assert field.column is not None
    return f"{field.column}_id" if field.how in (ACCELERATOR, BASE_MODEL, IDENTITY) else field.column


def _get(row: Any, field: Field) -> Any:
    assert field.column is not None
    if field.how in (ACCELERATOR, BASE_MODEL, IDENTITY):
        if getattr(row, _attname(field)) is None:
            return None
        related = getattr(row, field.column)
        if field.how == ACCELERATOR or field.fact == "organisation":
            return related.slug
        if field.how == BASE_MODEL:
            return related.ref
        return related.name  # a link's end: its group's name
    value = getattr(row, field.column)
    if field.how == CHOICE:
        return value or None
    return value


def keep_exact_figures(kind: str, row: Any, facts: dict[str, Any] | None) -> Any:
    """Sets each number column of `row` to the exact figure its facts hold (a revision's), where the
    column holds that figure's float: a row's float columns round 100000000000000000000000000001 to
    1e26, and a record rebuilt from the row (an admin save) must not. Returns `row`."""
    if not facts:
        return row
    for field in TABLES[kind]:
        nested = NESTED.get((kind, field.fact))
        if nested is not None:
            inner = facts.get(field.fact) or {}
            for sub in nested:
                _keep_exact(row, sub, inner.get(sub.fact))
        elif field.column is not None and field.how == VALUE:
            _keep_exact(row, field, facts.get(field.fact))
    return row


def _keep_exact(row: Any, field: Field, figure: Any) -> None:
    assert field.column is not None
    stored = getattr(row, field.column, None)
    if (isinstance(figure, int) and not isinstance(figure, bool) and isinstance(stored, float)
            and float(figure) == stored):
        setattr(row, field.column, figure)
