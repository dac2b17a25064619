"""The audit report's context: one subject as of one date, read from the decision log.

Everything shown comes from stored rows: the determinations of record, the revision of the facts
they were made on, and the rule versions they name (quotes and readings are taken from the rule
version's own text). Headroom is worked out on the stored facts snapshot with the recorded version.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from registry.facts import (
    CLUSTER_FIELDS,
    GROUP_FIELDS,
    HARDWARE_FIELDS,
    LINK_FIELDS,
    MODEL_FIELDS,
    ORGANISATION_FIELDS,
    PEAK_FIELDS,
)
from rules.engine import RuleVersion as EngineVersion
from rules.engine import headroom
from rules.engine.defaults import default
from rules.engine.formatting import UNKNOWN
from rules.engine.vocabulary import OUTCOME_LABELS, STATUS_LABELS, status_line
from rules.library_store import engine_version
from rules.models import Determination, RuleVersion, facts_sha256_filled, previous_filled
from rules.subjects import accelerator_figures

from .. import selectors
from .common import (
    OPERATOR_WORDS,
    SCENARIO_LABELS,
    compared,
    fact_value,
    for_outside_readers,
    iso_date,
    iso_datetime,
    margin_text,
    number,
    quantity_unit,
    username,
)
from .obligations import subject_obligations

FIELD_ORDER = {
    "model": MODEL_FIELDS, "cluster": CLUSTER_FIELDS, "organisation": ORGANISATION_FIELDS,
    "training_hardware": HARDWARE_FIELDS, "groups": GROUP_FIELDS, "links": LINK_FIELDS,
    "peak_ops_per_second": PEAK_FIELDS,
}


def _ordered(keys: Any, order: tuple[str, ...]) -> list[str]:
    """Keys in the interchange format's order (a database may hand JSON keys back in its own)."""
    keys = list(keys)
    return [k for k in order if k in keys] + sorted(k for k in keys if k not in order)


def _facts_rows(facts: dict[str, Any], kind: str) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Scalar facts as (field, value) rows; lists of records (groups, links) as their own tables."""
    rows, tables = [], []
    for name in _ordered(facts, FIELD_ORDER.get(kind, ())):
        value = facts[name]
        if isinstance(value, dict):
            for sub in _ordered(value, FIELD_ORDER.get(name, ())):
                rows.append({"field": f"{name}.{sub}", "value": fact_value(sub, value[sub])})
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            columns = _ordered({key for item in value for key in item}, FIELD_ORDER.get(name, ()))
            table_rows = []
            for item in value:
                cells = []
                for column in columns:
                    cell = item.get(column)
                    if isinstance(cell, dict):
                        cells.append("; ".join(f"{k} {fact_value(k, cell[k])}" for k in _ordered(cell, PEAK_FIELDS)
                                               if cell[k] is not None) or "—")
                    else:
                        cells.append(fact_value(column, cell))
                table_rows.append(cells)
            tables.append({"name": name, "columns": columns, "rows": table_rows})
        else:
            rows.append({"field": name, "value": fact_value(name, value)})
    return rows, tables


def _revision_context(determination: Determination) -> dict[str, Any] | None:
    revision = selectors.revision_of(determination)
    if revision is None:
        return None
    rows, tables = _facts_rows(revision.facts or {}, determination.subject_kind)
    return {
        "number": revision.number,
        "submitted_at": iso_datetime(revision.submitted_at),
        "submitted_by": username(revision.submitted_by),
        "via": revision.get_submitted_via_display(),
        "facts_sha256": revision.facts_sha256,
        "rows": rows,
        "tables": tables,
    }


def _quantity_context(key: str, data: dict[str, Any]) -> dict[str, Any]:
    unit = data.get("unit") or quantity_unit(data.get("name"))
    banded = data.get("low") is not None and data.get("low") != data.get("high")
    runs = []
    inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
    for run in inputs.get("runs", []) or []:
        runs.append({"model": run.get("model", ""), "method": run.get("method", ""), "formula": run.get("formula", ""),
                     "value": number(run.get("value"), unit)})
    return {
        "key": key,
        "name": data.get("name", key),
        "method": data.get("method") or "—",
        "formula": data.get("formula") or "—",
        "value": number(data.get("value"), unit),
        "band": f"{number(data.get('low'), unit)} to {number(data.get('high'), unit)}" if banded else "",
        "missing": list(data.get("missing") or []),
        "notes": list(data.get("notes") or []),
        "applicable": data.get("applicable", True),
        "runs": runs,
    }


def _comparison_context(row: dict[str, Any], version: EngineVersion) -> dict[str, Any]:
    unit = quantity_unit(row.get("quantity"))
    parameter = version.parameters.get(row.get("parameter") or "")
    numeric = "value" in row
    if numeric:
        value, threshold = compared(row.get("value"), row.get("threshold"), unit,
                                    parameter.unit if parameter else unit)
        text = f"{row.get('quantity')} = {value} {row.get('operator')} {threshold}"
    else:
        threshold, value = row.get("threshold_label", ""), ""
        text = f"{row.get('quantity')} {row.get('operator')} {row.get('threshold_label', '')}"
    return {
        "quantity": row.get("quantity", ""),
        "operator": row.get("operator", ""),
        "threshold": threshold,
        "value": value,
        "text": text,
        "outcome": row.get("outcome", ""),
        "outcome_label": OUTCOME_LABELS.get(row.get("outcome", ""), row.get("outcome", "")),
        "margin": margin_text(row.get("margin")) if numeric else "",
        "missing": list(row.get("missing") or []),
        "reason": row.get("reason", ""),
    }


def _parameter_context(parameter: Any) -> dict[str, Any]:
    return {
        "id": parameter.id,
        "value": number(parameter.value, parameter.unit),
        "operator": parameter.operator,
        "text_operator": parameter.text_operator or OPERATOR_WORDS.get(parameter.operator, parameter.operator),
        "citation": parameter.citation or "—",
        "provenance": parameter.provenance or "—",
        "reading": parameter.reading or "",
    }


def _test_context(test: dict[str, Any], version: EngineVersion) -> dict[str, Any]:
    rule_test = next((t for t in version.tests if t.id == test["id"]), None)
    quote = (rule_test.quote if rule_test else None) or {}
    unit = quantity_unit(test.get("quantity"))
    parameter = version.parameters.get(test.get("parameter") or "")
    parameters = [version.parameters[p] for p in dict.fromkeys(
        row.get("parameter") for row in test.get("comparisons", []) if row.get("parameter")) if p in version.parameters]
    banded = test.get("low") is not None and test.get("low") != test.get("high")
    return {
        "id": test["id"],
        "title": test.get("title", ""),
        "outcome": test.get("outcome", ""),
        "outcome_label": OUTCOME_LABELS.get(test.get("outcome", ""), test.get("outcome", "")),
        "quantity": test.get("quantity", ""),
        "value": compared(test.get("value"), test.get("threshold"), unit, parameter.unit if parameter else unit)[0],
        "band": f"{number(test.get('low'), unit)} to {number(test.get('high'), unit)}" if banded else "",
        "operator": test.get("operator", ""),
        "operator_words": (parameter.text_operator if parameter and parameter.text_operator
                           else OPERATOR_WORDS.get(test.get("operator", ""), "")),
        "threshold": compared(test.get("value"), test.get("threshold"), unit,
                              parameter.unit if parameter else unit)[1],
        "margin": margin_text(test.get("margin")),
        "method": test.get("method") or "—",
        "formula": test.get("formula") or "—",
        "missing": list(test.get("missing") or []),
        "comparisons": [_comparison_context(row, version) for row in test.get("comparisons", [])],
        "citation": (rule_test.citation if rule_test else None) or test.get("citation") or "—",
        "quote_text": (quote.get("text") or "").strip(),
        "quote_source": quote.get("source") or "—",
        "quote_provenance": quote.get("provenance") or "—",
        "paraphrase": dict((rule_test.paraphrase if rule_test else None) or test.get("paraphrase") or {}),
        "caveat": (rule_test.caveat if rule_test else None) or test.get("caveat") or "",
        "instrument_url": version.instrument.get("url", ""),
        "reading": (rule_test.reading if rule_test else None) or test.get("reading") or "",
        "throughput_reading": test.get("throughput_reading") or "",
        "parameters": [_parameter_context(p) for p in parameters],
        "sensitivity": [
            {"scenario": SCENARIO_LABELS.get(key, key), "outcome": OUTCOME_LABELS.get(value, value),
             "differs": value != test.get("outcome")}
            for key, value in (test.get("sensitivity") or {}).items() if key != "actual"
        ],
    }


DESIGNATION_CALL = re.compile(r'designated\(\s*"([^"]+)"\s*\)')


def _designations_read(test_context: dict[str, Any], version: EngineVersion, snapshot: dict[str, Any], *,
                       regime: str, as_of: date) -> list[dict[str, Any]]:
    """The designations a test reads (`designated("kind")` in its condition), as the stored snapshot
    holds them for this regime: kind, date decided, reference, and whether in effect on the as-of date."""
    rule_test = next((t for t in version.tests if t.id == test_context["id"]), None)
    kinds = DESIGNATION_CALL.findall(rule_test.condition) if rule_test else []
    if not kinds:
        return []
    return [
        {"kind": entry.get("kind", ""), "decided_on": entry.get("decided_on", ""), "reference": entry.get("reference", ""),
         "in_effect": str(entry.get("decided_on") or "9999-12-31") <= as_of.isoformat()}
        for entry in snapshot.get("designations") or ()
        if entry.get("regime") == regime and entry.get("kind") in kinds
    ]


def _headroom_rows(snapshot: dict[str, Any], *, regime: str, version: EngineVersion, as_of: date) -> list[dict[str, Any]]:
    if snapshot.get("kind") not in ("model", "cluster"):
        return []
    reference = default("reference_accelerator")
    if snapshot.get("kind") == "model" and reference not in snapshot.get("accelerators", {}):
        # the reference accelerator's catalog figures express the headroom in accelerator-hours
        snapshot = {**snapshot, "accelerators": {**snapshot.get("accelerators", {}),
                                                 reference: accelerator_figures().get(reference) or {}}}
    rows = []
    for item in headroom(snapshot, versions={regime: version}, as_of=as_of):
        data = item.to_dict()
        if data["value"] is None and data["threshold"] is None:
            continue  # a test the subject is outside of (e.g. a modification test for a base model)
        if snapshot["kind"] == "model":
            hours = [f"{number(v)} {data['reference_accelerator']}-hours at {k}" for k, v in data["accelerator_hours"].items()
                     if v is not None]
            usd = [f"{number(low, 'usd')} to {number(data['usd_high'][k], 'usd')} ({k})"
                   for k, low in data["usd_low"].items() if low is not None]
            to_go = "already above" if data["already_above"] else (
                f"{number(data['remaining_ops'], 'ops')} to go" if data["remaining_ops"] is not None else UNKNOWN)
            detail = "; ".join([*hours, *usd])
            max_params = number(data["max_dense_parameters"], "parameters") if data["max_dense_parameters"] else ""
            unit = "ops"
        else:
            to_go = "already above" if data["already_above"] else (
                f"{data['more_accelerators']:,} more {data['accelerator']}" if data["more_accelerators"] is not None
                else UNKNOWN)
            detail, max_params, unit = f"reading {data['reading']}", "", "ops_per_second"
        rows.append({
            "test": data["test"], "value": number(data["value"], unit), "operator": data["operator"],
            "threshold": number(data["threshold"], unit), "to_go": to_go, "detail": detail,
            "max_dense_parameters": max_params, "note": "" if data["already_above"] else data["note"],
        })
    return rows


def _regime_title(regime: str) -> str:
    latest = RuleVersion.objects.filter(regime=regime, state="published").order_by("-pk").first()
    return latest.regime_title if latest else regime


def _versions_on_record(regime: str) -> list[dict[str, str]]:
    rows = sorted(RuleVersion.objects.filter(regime=regime, state="published"),
                  key=lambda row: (row.effective_from or date.min, row.version_id))
    return [{"label": row.version_id, "legal_status": row.legal_status, "effective_from": iso_date(row.effective_from),
             "effective_to": iso_date(row.effective_to)} for row in rows]


def _regime_context(determination: Determination, versions: dict[int, EngineVersion]) -> dict[str, Any]:
    payload = determination.data()
    row: RuleVersion | None = determination.rule_version
    version = None
    if row is not None:
        if row.pk not in versions:
            versions[row.pk] = engine_version(row)
        version = versions[row.pk]
    sensitivity = payload.get("sensitivity") or {}
    context: dict[str, Any] = {
        "regime": determination.regime,
        "anchor": f"regime-{determination.regime}",
        "title": row.regime_title if row else _regime_title(determination.regime),
        "other_versions": [] if row else _versions_on_record(determination.regime),
        "status": determination.status,
        "status_label": status_line(determination.status, payload.get("tier_title")),
        "tier": determination.tier,
        "tier_title": payload.get("tier_title") or "",
        "reason": payload.get("reason") or "",
        "deciding_test": determination.deciding_test,
        "notes": list(payload.get("notes") or []),
        "caveats": list(payload.get("caveats") or []),
        "version": None,
        "tests": [],
        "readings": [],
        "sensitivity": [
            {"scenario": SCENARIO_LABELS.get(key, key), "status": STATUS_LABELS.get(value, value),
             "differs": value != determination.status}
            for key, value in sensitivity.items() if key != "status_would_differ"
        ],
        "status_would_differ": bool(sensitivity.get("status_would_differ")),
        "headroom": [],
        "determination": {
            "sequence": determination.sequence,
            "row_sha256": determination.row_sha256,
            "previous_sha256": determination.previous_sha256,
            "created_at": iso_datetime(determination.created_at),
            "trigger": determination.trigger,
            "run": determination.run_id,
            "facts_sha256": determination.facts_sha256,
            "facts_revision": determination.facts_revision,
            "requested_by": username(determination.requested_by),
        },
    }
    if row is not None and version is not None:
        context["version"] = {
            "label": determination.rule_version_label, "pk": row.pk, "sha256": determination.rule_hash,
            "title": row.title, "legal_status": row.legal_status, "provenance": row.provenance or "—",
            "effective_from": iso_date(row.effective_from), "effective_to": iso_date(row.effective_to),
            "last_verified_on": iso_date(row.last_verified_on),
            "instrument_citation": version.instrument.get("citation", ""),
            "instrument_url": version.instrument.get("url", ""),
        }
        context["tests"] = [_test_context(test, version) for test in payload.get("tests", [])]
        snapshot = determination.facts.data()
        for test in context["tests"]:
            # a test that reads a regulator's designation shows the designations it read, with their dates
            test["reads_designations"] = bool(DESIGNATION_CALL.search(
                next((t.condition for t in version.tests if t.id == test["id"]), "")))
            test["designations"] = _designations_read(test, version, snapshot, regime=determination.regime,
                                                      as_of=determination.as_of)
        # the version's readings say how its tests are read: shown where one of them applied to the subject
        context["readings"] = [{"id": r.get("id", ""), "text": r.get("text", "")} for r in version.readings
                               if context["tests"]]
        context["headroom"] = _headroom_rows(snapshot, regime=determination.regime,
                                             version=version, as_of=determination.as_of)
    return context


def audit_context(*, subject_ref: str, as_of: date, generated_at: datetime) -> dict[str, Any]:
    """Everything the audit report shows, as plain values (numbers already formatted)."""
    key = selectors.subject_key(subject_ref)
    determinations = selectors.determinations_of_record(as_of=as_of, subject_refs=[key.ref])
    if not determinations:
        raise selectors.ReportInputError(
            f"subject: {key.ref} has no determination as of {as_of.isoformat()}; record one first")
    previous_filled(determinations)
    facts_sha256_filled(determinations)
    revisions: dict[int | None, dict[str, Any] | None] = {}
    for determination in determinations:
        if determination.facts_revision not in revisions:
            revisions[determination.facts_revision] = _revision_context(determination)
    quantities: dict[tuple[str, str], dict[str, Any]] = {}
    for determination in determinations:
        for name, data in (determination.data().get("quantities") or {}).items():
            entry = quantities.setdefault((name, data.get("formula") or ""), _quantity_context(name, data))
            entry.setdefault("regimes", []).append(determination.regime)
    ordered = sorted(quantities.values(), key=lambda q: (q["name"], q["key"], q["formula"]))
    anchors = {}
    for index, entry in enumerate(ordered, start=1):
        entry["anchor"] = f"quantity-{index}"
        anchors[(entry["key"], entry["formula"])] = entry["anchor"]
    versions: dict[int, EngineVersion] = {}
    regimes = [_regime_context(d, versions) for d in determinations]
    for regime in regimes:
        for test in regime["tests"]:
            # the arithmetic is printed once, under Quantities; a test whose quantity and formula are
            # shown there points to it
            test["quantity_anchor"] = anchors.get((test["quantity"], test["formula"]), "") if test["formula"] != "—" else ""
    head = selectors.chain_head()
    return for_outside_readers({
        "kind": "audit",
        "title": f"Audit report: {key.ref}",
        "subject": {"ref": key.ref, "kind": key.kind, "organisation": key.organisation,
                    "name": key.name or "", "version": key.version or ""},
        "as_of": as_of.isoformat(),
        "generated_at": iso_datetime(generated_at),
        "revisions": [r for r in revisions.values() if r is not None],
        "facts_unrecorded": [n for n, r in revisions.items() if r is None],
        "quantities": ordered,
        "regimes": regimes,
        "summary": [{"regime": r["regime"], "anchor": r["anchor"], "status": r["status"],
                     "status_label": r["status_label"], "reason": r["reason"], "deciding_test": r["deciding_test"],
                     "version": r["version"]["label"] if r["version"] else "—",
                     "sequence": r["determination"]["sequence"]} for r in regimes],
        "chain_head": {"sequence": head.sequence, "row_sha256": head.row_sha256},
        "sign_off_roles": ["Prepared by", "Reviewed and approved by"],
        "obligations": subject_obligations(subject_ref=key.ref, as_of=as_of),
        "toc": [
            {"anchor": "summary", "title": "Summary"},
            {"anchor": "sign-off", "title": "Sign-off"},
            {"anchor": "facts", "title": "Facts as submitted"},
            {"anchor": "quantities", "title": "Quantities"},
            *({"anchor": r["anchor"], "title": f"{r['regime']}: {r['status_label']}"} for r in regimes),
            {"anchor": "obligations", "title": "Obligations"},
            {"anchor": "decision-log-head", "title": "Decision log and how to verify it"},
        ],
    })
