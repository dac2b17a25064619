"""The registry report's context: every subject's determinations of record as of one date, counted
by regime and status, charted against the thresholds, with the covered and indeterminate listed.

Nothing here holds the whole log: counts are the database's GROUP BY, each chart is one query that
reduces every subject to one row (streamed; past `REPORTS_CHART_MAX_POINTS` subjects the points are
counted per cell, not kept), and each list reads at most `REPORTS_REGISTRY_LIST_LIMIT` rows with
their payloads, in batches. The registry export (CSV or JSON) holds every determination of record."""
from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings

from rules import payloads
from rules.engine import RuleVersion as EngineVersion
from rules.engine.subject import Subject
from rules.engine.vocabulary import STATUS_LABELS, Status
from rules.library_store import published_library
from rules.snapshots import expand_text

from .. import charts, selectors
from .common import STATUSES, compared, iso_datetime, number, quantity_unit

MODEL_COMPUTE = "cumulative_training_compute_ops"
CLUSTER_PEAK = "cluster_peak_ops_per_second"
SEVERITY = {Status.COVERED: 0, Status.INDETERMINATE: 1}


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


def _cluster_fallback_arguments(versions: list[tuple[str, EngineVersion, bool]]) -> Any:
    from rules.engine.subject import Arguments

    thresholds = [p.value for _, v, _ in versions for p in v.parameters.values() if p.unit == "gbit_per_second"]
    return Arguments(min(thresholds), ">", "dense_max") if thresholds else None


@dataclass
class _Charted:
    """One chart's subjects: points (or their counts per cell) and those not charted."""

    points: charts.PointCollector
    left_out: int = 0
    left_out_named: list[str] = field(default_factory=list)  # the first few in subject order

    def leave_out(self, ref: str, named: int) -> None:
        self.left_out += 1
        if len(self.left_out_named) < named:
            bisect.insort(self.left_out_named, ref)
        elif ref < self.left_out_named[-1]:
            bisect.insort(self.left_out_named, ref)
            self.left_out_named.pop()


def _points(as_of: date, kind: str, versions: list[tuple[str, EngineVersion, bool]],
            scope: selectors.RecordScope | None = None) -> _Charted:
    """Every subject of the kind streamed from the log (one query), reduced to one point each; past
    the chart limit the points are counted per cell instead of kept."""
    prefix = MODEL_COMPUTE if kind == "model" else CLUSTER_PEAK
    fallback = _cluster_fallback_arguments(versions) if kind == "cluster" else None
    charted = _Charted(charts.PointCollector(chart_limit()))
    named = left_out_limit()
    for subject in selectors.iter_subjects_of_record(
            as_of=as_of, kind=kind, quantity_prefix=prefix, same_under_every_regime=kind == "model", scope=scope,
            date_fields=("training_completed_on", "released_on") if kind == "model" else ("operational_from",)):
        if subject.when and subject.when > as_of.isoformat():
            continue  # it did not exist yet on the as-of date (its determinations are not_applicable)
        value = subject.value
        if value is None and subject.facts is not None and (kind == "model" or fallback is not None):
            # no regime in force recorded the quantity: the engine derives it from the stored snapshot
            value = Subject(expand_text(subject.facts)).quantity(prefix, None if kind == "model" else fallback).value
        if value is None or not subject.when or value <= 0:
            charted.leave_out(subject.ref, named)
            continue
        name = subject.name or subject.organisation
        label = f"{name}@{subject.version}" if subject.version else name
        charted.points.add(charts.ChartPoint(date.fromisoformat(subject.when), value, subject.status, label),
                           key=subject.ref)
    return charted


def chart_limit() -> int:
    """Subjects drawn one by one in a chart; past this they are counted per cell (REPORTS_CHART_MAX_POINTS)."""
    return settings.REPORTS_CHART_MAX_POINTS


def list_limit() -> int:
    """Determinations listed in each of the covered and indeterminate lists (REPORTS_REGISTRY_LIST_LIMIT)."""
    return settings.REPORTS_REGISTRY_LIST_LIMIT


def left_out_limit() -> int:
    """Subjects named under a chart as not charted (REPORTS_CHART_LEFT_OUT_NAMED); the rest are counted."""
    return settings.REPORTS_CHART_LEFT_OUT_NAMED


LISTED_FIELDS = ("subject_ref", "subject_kind", "regime", "rule_version_label", "deciding_test", "payload__text",
                 "payload__packed", "payload__dictionary_id", "sequence")


def _listed(subject_ref: str, subject_kind: str, regime: str, rule_version_label: str, deciding_test: str,
            text: str | None, packed: Any, dictionary: str | None, sequence: int) -> dict[str, Any]:
    data = json.loads(payloads.unpacked(text, packed, dictionary))
    test = next((t for t in data.get("tests", []) if t["id"] == deciding_test), None) or {}
    unit = quantity_unit(test.get("quantity"))
    return {
        "subject": subject_ref, "kind": subject_kind, "regime": regime,
        "version": rule_version_label or "—", "deciding_test": deciding_test or "—",
        "test_title": test.get("title", ""),
        "comparison": _comparison(test, unit),
        "missing": ", ".join(test.get("missing") or []), "sequence": sequence,
    }


def _subject_list(as_of: date, status: str, by_regime: dict[str, int],
                  scope: selectors.RecordScope | None = None) -> dict[str, Any]:
    """The first determinations of record with the status, in subject order, up to the list limit (their
    payloads read in batches), with what is left out counted by regime."""
    limit = list_limit()
    rows = [_listed(*row) for row in selectors.iter_of_record(as_of=as_of, status=status, fields=LISTED_FIELDS,
                                                              limit=limit, scope=scope)]
    total = sum(by_regime.values())
    shown = Counter(row["regime"] for row in rows)
    left = [{"regime": slug, "count": count - shown[slug]} for slug, count in sorted(by_regime.items())
            if count - shown[slug] > 0]
    return {"rows": rows, "total": total, "left_out": total - len(rows), "left_out_by_regime": left}


def registry_context(*, as_of: date, generated_at: datetime, scope: selectors.RecordScope | None = None) -> dict[str, Any]:
    """The whole registry's report, or (`scope`) one organisation's view of it."""
    with selectors.reading_the_log():
        return _registry_context(as_of=as_of, generated_at=generated_at, scope=scope)


def _registry_context(*, as_of: date, generated_at: datetime, scope: selectors.RecordScope | None) -> dict[str, Any]:
    counts: Counter[tuple[str, str]] = Counter()
    versions_used: dict[str, set[str]] = {}
    for regime, status, label, count in selectors.record_counts(as_of=as_of, scope=scope):
        counts[(regime, status)] += count
        versions_used.setdefault(regime, set()).add(label or "—")
    regimes = sorted(versions_used)
    table = [{"regime": slug, "versions": ", ".join(sorted(versions_used[slug])),
              "counts": [counts[(slug, status)] for status in STATUSES],
              "total": sum(counts[(slug, status)] for status in STATUSES)} for slug in regimes]
    versions = _chart_versions(as_of)
    models = _points(as_of, "model", versions, scope)
    clusters = _points(as_of, "cluster", versions, scope)
    model_lines = _threshold_lines(versions, "ops", "model")
    cluster_lines = _threshold_lines(versions, "ops_per_second", "cluster")
    head = selectors.chain_head()
    return {
        "kind": "registry",
        "title": f"Registry report as of {as_of.isoformat()}" + (
            f": the subjects of {scope.organisation}" if scope is not None else ""),
        "as_of": as_of.isoformat(),
        "scope_note": (f"The subjects of {scope.organisation} only, as its members see the registry: a subject "
                       "resting on another organisation's model not yet released is left out."
                       if scope is not None else ""),
        "generated_at": iso_datetime(generated_at),
        "statuses": [STATUS_LABELS[s] for s in STATUSES],
        "counts": table,
        "totals": [sum(counts[(slug, status)] for slug in regimes) for status in STATUSES],
        "subject_count": selectors.subject_count(as_of=as_of, scope=scope),
        "determination_count": sum(counts.values()),
        "model_chart": charts.threshold_chart(
            points=models.points.sorted_points(), binned=models.points.binned, noun="models",
            thresholds=model_lines, prefix="models",
            title="Cumulative training compute of models, by date of training (else release)",
            ylabel="operations (log scale)", as_of=as_of),
        "model_thresholds": _threshold_rows(model_lines),
        "cluster_chart": charts.threshold_chart(
            points=clusters.points.sorted_points(), binned=clusters.points.binned, noun="clusters",
            thresholds=cluster_lines, prefix="clusters",
            title="Theoretical maximum (peak dense) capacity of clusters, by date operational",
            ylabel="operations per second (log scale)", as_of=as_of),
        "cluster_thresholds": _threshold_rows(cluster_lines),
        "models_binned": models.points.binned is not None,
        "clusters_binned": clusters.points.binned is not None,
        "models_left_out": models.left_out_named,
        "models_left_out_count": models.left_out,
        "clusters_left_out": clusters.left_out_named,
        "clusters_left_out_count": clusters.left_out,
        Status.COVERED: _subject_list(as_of, Status.COVERED, {slug: counts[(slug, Status.COVERED)] for slug in regimes
                                                         if counts[(slug, Status.COVERED)]}, scope),
        Status.INDETERMINATE: _subject_list(as_of, Status.INDETERMINATE, {
            slug: counts[(slug, Status.INDETERMINATE)] for slug in regimes if counts[(slug, Status.INDETERMINATE)]},
            scope),
        "list_limit": list_limit(),
        "chain_head": {"sequence": head.sequence, "row_sha256": head.row_sha256},
        "toc": [
            {"anchor": "counts", "title": "Counts by regime and status"},
            {"anchor": "chart-models", "title": "Models: training compute against date"},
            {"anchor": "chart-clusters", "title": "Clusters: peak capacity against date"},
            {"anchor": Status.COVERED, "title": "Covered subjects"},
            {"anchor": Status.INDETERMINATE, "title": "Indeterminate subjects"},
            {"anchor": "decision-log-head", "title": "Decision log"},
        ],
    }


def _comparison(test: dict[str, Any] | None, unit: str | None) -> str:
    if not test:
        return "—"
    value, threshold = compared(test.get("value"), test.get("threshold"), unit)
    return f"{value} {test.get('operator', '')} {threshold}"
