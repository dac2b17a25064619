"""A determination's facts snapshot as a reader takes it in: each submitted fact as a labelled field
with its unit, every digit kept (`1.00000000000000000000000001e26 ops`), declarations as Yes, No or
Not declared, a cluster's groups and links as small tables."""
from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from rules.engine.formatting import format_exact_quantity

# The unit of a fact, by its name (DESIGN.md's quantities and the interchange's fields).
UNIT_OF = {
    "parameter_count": "parameters", "active_parameter_count": "parameters", "training_tokens": "tokens",
    "training_hours": "hours", "network_gbps": "gbit_per_second", "gbps": "gbit_per_second",
}
SUFFIX_UNITS = (("_ops_per_second", "ops_per_second"), ("_ops", "ops"), ("_usd", "usd"))
PEAK_KEYS = {"dense_max", "dense_16bit", "sparse_max"}


def fact_label(name: str) -> str:
    """`Training compute ops` reads better than `training_compute_ops` (the name stays in the
    tooltip); a slug (`nvidia-h100-sxm`) is shown as it is."""
    if "-" in name and "_" not in name:
        return name
    return name.replace("_", " ").capitalize()


def _unit(name: str) -> str | None:
    if name in UNIT_OF:
        return UNIT_OF[name]
    if name in PEAK_KEYS:
        return "ops_per_second"
    return next((unit for suffix, unit in SUFFIX_UNITS if name.endswith(suffix)), None)


def fact_value(name: str, value: Any) -> SafeString | str:
    if value is None:
        return "Not declared" if name in DECLARATIONS else "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (int, float)):
        return format_exact_quantity(value, _unit(name))
    if isinstance(value, dict):
        return format_html_join("; ", "{}: {}", ((fact_label(k), fact_value(k, v)) for k, v in value.items())) or "—"
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return _table(value)
        return ", ".join(str(item) for item in value) or "none"
    return str(value) if value != "" else "—"


DECLARATIONS = {"general_purpose", "primarily_biological_sequence_data", "weights_published", "used_for_ai_training"}


def _table(rows: list[dict[str, Any]]) -> SafeString:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = format_html_join("", '<th scope="col">{}</th>', ((fact_label(c),) for c in columns))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td>{}</td>", ((fact_value(c, row.get(c)),) for c in columns)),) for row in rows))
    return format_html('<table class="facts-rows"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)


def facts_fields(facts: dict[str, Any]) -> SafeString:
    """Every fact as a row: label, then value. A record within the facts (the cluster, its
    organisation, the accelerators' figures) is a heading with its own rows under it; within each,
    single facts come first, then records, then tables (a cluster's groups and links)."""
    return format_html('<table class="facts-fields"><tbody>{}</tbody></table>', _rows(facts))


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and (len(value) > 3 or any(isinstance(v, (dict, list)) for v in value.values()))


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _rows(facts: dict[str, Any]) -> SafeString:
    order = sorted(facts, key=lambda name: (_is_record(facts[name]), _is_table(facts[name])))
    rows = []
    for name in order:
        value = facts[name]
        if _is_record(value):
            rows.append(format_html('<tr><th scope="rowgroup" colspan="2" class="facts-group">{}</th></tr>{}',
                                    fact_label(name), _rows(value)))
        else:
            rows.append(format_html('<tr data-fact="{}"><th scope="row" title="{}">{}</th><td>{}</td></tr>',
                                    name, name, fact_label(name), fact_value(name, value)))
    return format_html_join("", "{}", ((row,) for row in rows))
