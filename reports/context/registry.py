"""The registry report's context: every subject's determinations of record as of one date, counted
by regime and status, charted against the thresholds, with the covered and indeterminate listed."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from rules.engine import RuleVersion as EngineVersion
from rules.engine.subject import Subject
from rules.library_store import published_library
from rules.models import Determination

from .. import charts, selectors
from .common import STATUS_LABELS, STATUSES, iso_datetime, number, quantity_unit

MODEL_COMPUTE = "cumulative_training_compute_ops"
CLUSTER_PEAK = "cluster_peak_ops_per_second"
SEVERITY = {"covered": 0, "indeterminate": 1}


def _chart_versions(as_of: date) -> list[tuple[str, EngineVersion, bool]]:
    """Each regime's version in force on the date, else its latest version (drawn as not in force)."""
    library = published_library()
    chosen = []
    for slug in library.regimes():
        version = library.in_force(slug, as_of)
        if version is not None:
            chosen.append((slug, version, True))
        elif library.versions(slug):
            chosen.append((slug, library.versions(slug)[-1], False))
    return chosen


def _threshold_lines(versions: list[tuple[str, EngineVersion, bool]], unit: str, kind: str) -> list[charts.ThresholdLine]:
    grouped: dict[float, dict[bool, set[str]]] = {}
    for slug, version, in_force in versions:
        used = {name for test in version.tests_for(kind) for name in _parameters_of(test)}
        for parameter in version.parameters.values():
            if parameter.unit == unit and parameter.id in used:
                grouped.setdefault(parameter.value, {True: set(), False: set()})[in_force].add(slug)
    lines = []
    for value in sorted(grouped, reverse=True):
        in_force, not_in_force = sorted(grouped[value][True]), sorted(grouped[value][False])
        lines.append(charts.ThresholdLine(
            value=value, label=f"{number(value, unit)}" + ("" if in_force else " (not in force)"),
            in_force=bool(in_force), gid=f"threshold-{kind}-{value:.3e}", in_force_regimes=tuple(in_force),
            other_regimes=tuple(not_in_force)))
    return lines


def _threshold_rows(lines: list[charts.ThresholdLine]) -> list[dict[str, str]]:
    return [{"value": line.label.removesuffix(" (not in force)"), "in_force": ", ".join(line.in_force_regimes) or "—",
             "other": ", ".join(line.other_regimes) or "—"} for line in lines]


def _parameters_of(test: Any) -> set[str]:
    found = set(test.compiled.parameters)
    network = (test.arguments or {}).get("network_threshold")
    return found | ({network} if network else set())


def _subject_status(rows: list[Determination]) -> str:
    statuses = {row.status for row in rows}
    return next((s for s in ("covered", "indeterminate") if s in statuses), "not_covered")


def _recorded(rows: list[Determination], prefix: str) -> float | None:
    values = [data.get("value") for row in rows for name, data in (row.data().get("quantities") or {}).items()
              if name.startswith(prefix) and data.get("value") is not None]
    return max(values) if values else None


def _cluster_fallback_arguments(versions: list[tuple[str, EngineVersion, bool]]) -> Any:
    from rules.engine.subject import Arguments

    thresholds = [p.value for _, v, _ in versions for p in v.parameters.values() if p.unit == "gbit_per_second"]
    return Arguments(min(thresholds), ">", "dense_max") if thresholds else None


def _points(by_subject: dict[str, list[Determination]], kind: str,
            versions: list[tuple[str, EngineVersion, bool]]) -> tuple[list[charts.ChartPoint], list[str]]:
    points, left_out = [], []
    fallback = _cluster_fallback_arguments(versions) if kind == "cluster" else None
    for ref, rows in by_subject.items():
        if rows[0].subject_kind != kind:
            continue
        snapshot = rows[0].facts.data()
        facts = snapshot.get(kind) or {}
        when = (facts.get("training_completed_on") or facts.get("released_on")) if kind == "model" else facts.get(
            "operational_from")
        value = _recorded(rows, MODEL_COMPUTE if kind == "model" else CLUSTER_PEAK)
        if value is None and (kind == "model" or fallback is not None):
            # no regime in force recorded the quantity: the engine derives it from the stored snapshot
            value = Subject(snapshot).quantity(MODEL_COMPUTE if kind == "model" else CLUSTER_PEAK,
                                               None if kind == "model" else fallback).value
        if value is None or not when or value <= 0:
            left_out.append(ref)
            continue
        name = rows[0].subject_name or rows[0].organisation
        label = f"{name}@{rows[0].subject_version}" if rows[0].subject_version else name
        points.append(charts.ChartPoint(date.fromisoformat(when), value, _subject_status(rows), label))
    return points, left_out


def _listed(row: Determination) -> dict[str, Any]:
    payload = row.data()
    test = next((t for t in payload.get("tests", []) if t["id"] == row.deciding_test), None) or {}
    unit = quantity_unit(test.get("quantity"))
    return {
        "subject": row.subject_ref, "kind": row.subject_kind, "regime": row.regime,
        "version": row.rule_version_label or "—", "deciding_test": row.deciding_test or "—",
        "test_title": test.get("title", ""),
        "comparison": (f"{number(test.get('value'), unit)} {test.get('operator', '')} "
                       f"{number(test.get('threshold'), unit)}") if test else "—",
        "missing": ", ".join(test.get("missing") or []), "sequence": row.sequence,
    }


def registry_context(*, as_of: date, generated_at: datetime) -> dict[str, Any]:
    determinations = selectors.determinations_of_record(as_of=as_of)
    by_subject: dict[str, list[Determination]] = {}
    for row in determinations:
        by_subject.setdefault(row.subject_ref, []).append(row)
    counts = Counter((row.regime, row.status) for row in determinations)
    regimes = sorted({row.regime for row in determinations})
    versions_used: dict[str, set[str]] = {}
    for row in determinations:
        versions_used.setdefault(row.regime, set()).add(row.rule_version_label or "—")
    table = [{"regime": slug, "versions": ", ".join(sorted(versions_used[slug])),
              "counts": [counts[(slug, status)] for status in STATUSES],
              "total": sum(counts[(slug, status)] for status in STATUSES)} for slug in regimes]
    versions = _chart_versions(as_of)
    model_points, models_left_out = _points(by_subject, "model", versions)
    cluster_points, clusters_left_out = _points(by_subject, "cluster", versions)
    model_lines = _threshold_lines(versions, "ops", "model")
    cluster_lines = _threshold_lines(versions, "ops_per_second", "cluster")
    head = selectors.chain_head()
    return {
        "kind": "registry",
        "title": f"Registry report as of {as_of.isoformat()}",
        "as_of": as_of.isoformat(),
        "generated_at": iso_datetime(generated_at),
        "statuses": [STATUS_LABELS[s] for s in STATUSES],
        "counts": table,
        "totals": [sum(counts[(slug, status)] for slug in regimes) for status in STATUSES],
        "subject_count": len(by_subject),
        "determination_count": len(determinations),
        "model_chart": charts.threshold_chart(
            points=model_points, thresholds=model_lines, prefix="models",
            title="Cumulative training compute of models, by date of training (else release)",
            ylabel="operations (log scale)", as_of=as_of),
        "model_thresholds": _threshold_rows(model_lines),
        "cluster_chart": charts.threshold_chart(
            points=cluster_points, thresholds=cluster_lines, prefix="clusters",
            title="Theoretical maximum (peak dense) capacity of clusters, by date operational",
            ylabel="operations per second (log scale)", as_of=as_of),
        "cluster_thresholds": _threshold_rows(cluster_lines),
        "models_left_out": models_left_out,
        "clusters_left_out": clusters_left_out,
        "covered": [_listed(row) for row in determinations if row.status == "covered"],
        "indeterminate": [_listed(row) for row in determinations if row.status == "indeterminate"],
        "chain_head": {"sequence": head.sequence, "row_sha256": head.row_sha256},
        "toc": [
            {"anchor": "counts", "title": "Counts by regime and status"},
            {"anchor": "chart-models", "title": "Models: training compute against date"},
            {"anchor": "chart-clusters", "title": "Clusters: peak capacity against date"},
            {"anchor": "covered", "title": "Covered subjects"},
            {"anchor": "indeterminate", "title": "Indeterminate subjects"},
            {"anchor": "decision-log-head", "title": "Decision log"},
        ],
    }
